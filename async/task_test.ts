import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { CancelledError, CancelScope, checkpoint } from "./cancel_scope.ts";
import { sleep } from "./sleep.ts";
import { TaskGroup } from "./task_group.ts";
import {
  createTask,
  type ExceptionContext,
  setExceptionHandler,
  type Task,
} from "./task.ts";

/** V8's `gc()`; the test run passes `--v8-flags=--expose-gc`. */
function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    throw new Error(
      "Cannot collect garbage: run the tests with --v8-flags=--expose-gc",
    );
  }
  gc();
}

/**
 * Collects garbage and yields to the event loop (where finalization
 * callbacks run) until `until()` holds, at most `rounds` times.
 */
async function gcUntil(until: () => boolean, rounds = 100): Promise<void> {
  for (let i = 0; i < rounds && !until(); i++) {
    collectGarbage();
    await checkpoint();
  }
}

/** Runs `fn` with an exception handler that records what it receives. */
async function withReports(
  fn: (reports: ExceptionContext[]) => Promise<void>,
): Promise<void> {
  const reports: ExceptionContext[] = [];
  const previous = setExceptionHandler((context) => {
    reports.push(context);
  });
  try {
    await fn(reports);
  } finally {
    setExceptionHandler(previous);
  }
}

/** Ways for a task to fail, each with a fresh error. */
const failures: Record<string, (message: string) => () => unknown> = {
  "fn throws an error it made": (message) => () => {
    throw new Error(message);
  },
  // deno-lint-ignore require-await
  "async fn rejects before its first await": (message) => async () => {
    throw new Error(message);
  },
  "async fn rejects after an await": (message) => async () => {
    await checkpoint();
    throw new Error(message);
  },
};

// Kept out of the tests' closures, so that nothing refers to the task.
function spawnFailingTask(fn: () => unknown, name: string): WeakRef<object> {
  return new WeakRef(createTask(fn, { name }));
}

Deno.test("createTask() runs fn and the task gives its result", async () => {
  const task = createTask(() => 42);
  assert.equal(task.done(), false);
  assert.equal(await task, 42);
  assert.equal(task.done(), true);
  assert.equal(task.cancelled(), false);
  assert.equal(task.result(), 42);
  assert.equal(task.exception(), undefined);
});

Deno.test("Tasks made in one tick from different AsyncLocalStorage contexts each see their creator's values", async () => {
  // asyncio copies the creator's contextvars into each task; a shared start
  // of the batch used to run them all in the first creator's context.
  const user = new AsyncLocalStorage<string>();
  const a = user.run("a", () => createTask(() => user.getStore()));
  const b = user.run("b", () => createTask(() => user.getStore()));
  const none = createTask(() => user.getStore());
  assert.deepEqual([await a, await b, await none], ["a", "b", undefined]);
  const seen = await TaskGroup.run((tg) => {
    const x = user.run("x", () =>
      tg.createTask(async () => {
        await sleep(1);
        return user.getStore();
      }));
    const y = user.run("y", () => tg.createTask(() => user.getStore()));
    return Promise.all([x, y]);
  });
  assert.deepEqual(seen, ["x", "y"]);
});

Deno.test("Task cancelled before it runs never runs fn and rejects with CancelledError", async () => {
  let ran = false;
  const task = createTask(() => {
    ran = true;
  });
  assert.equal(task.cancel(), true);
  await assert.rejects(task, CancelledError);
  assert.equal(ran, false);
  assert.equal(task.done(), true);
  assert.equal(task.cancelled(), true);
});

Deno.test("Task cancelled while it runs rejects its pending sleep, runs its finally and ends cancelled", async () => {
  const started = Promise.withResolvers<void>();
  let sleepError: unknown;
  let finallyRan = false;
  const task = createTask(async () => {
    try {
      started.resolve();
      await sleep(60_000);
    } catch (error) {
      sleepError = error;
      throw error;
    } finally {
      finallyRan = true;
    }
  });
  await started.promise;
  assert.equal(task.cancel(), true);
  await assert.rejects(task, CancelledError);
  assert.ok(sleepError instanceof CancelledError);
  assert.equal(finallyRan, true);
  assert.equal(task.cancelled(), true);
});

Deno.test("Task.cancel() after the task is done returns false and keeps the result", async () => {
  const task = createTask(() => "value");
  assert.equal(await task, "value");
  assert.equal(task.cancel(), false);
  assert.equal(task.cancelled(), false);
  assert.equal(task.result(), "value");
  assert.equal(await task, "value");
});

Deno.test("Task.result() and exception() of a pending task throw an Error saying it is not done", async () => {
  const gate = Promise.withResolvers<number>();
  const task = createTask(() => gate.promise, { name: "slowpoke" });
  assert.throws(() => task.result(), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.ok(!(error instanceof CancelledError));
    assert.match(error.message, /not done/);
    return true;
  });
  assert.throws(() => task.exception(), (error: unknown) => {
    assert.ok(error instanceof Error);
    assert.ok(!(error instanceof CancelledError));
    assert.match(error.message, /not done/);
    return true;
  });
  gate.resolve(1);
  assert.equal(await task, 1);
});

Deno.test("Task.result() and exception() of a cancelled task throw CancelledError", async () => {
  const task = createTask(() => sleep(60_000));
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.throws(() => task.result(), CancelledError);
  assert.throws(() => task.exception(), CancelledError);
});

Deno.test("Task.exception() of a failed task returns the error and result() rethrows it", async () => {
  const boom = new Error("boom");
  const task = createTask((): never => {
    throw boom;
  });
  await assert.rejects(task, (error) => error === boom);
  assert.equal(task.cancelled(), false);
  assert.equal(task.exception(), boom);
  assert.throws(() => task.result(), (error) => error === boom);
});

Deno.test("Task whose fn catches the cancellation and returns normally has that result", async () => {
  const started = Promise.withResolvers<void>();
  const task = createTask(async () => {
    try {
      started.resolve();
      await sleep(60_000);
      return "slept";
    } catch (error) {
      assert.ok(error instanceof CancelledError);
      return "caught";
    }
  });
  await started.promise;
  task.cancel();
  assert.equal(await task, "caught");
  assert.equal(task.cancelled(), false);
  assert.equal(task.result(), "caught");
  assert.equal(task.exception(), undefined);
});

Deno.test("Task.addDoneCallback() calls back with the task when it ends", async () => {
  const gate = Promise.withResolvers<string>();
  const task = createTask(() => gate.promise);
  const seen: Task<string>[] = [];
  const called = Promise.withResolvers<void>();
  task.addDoneCallback((t) => {
    seen.push(t);
    assert.equal(t.done(), true);
    called.resolve();
  });
  await checkpoint();
  assert.equal(seen.length, 0);
  gate.resolve("x");
  await called.promise;
  assert.equal(seen.length, 1);
  assert.equal(seen[0], task);
});

Deno.test("Task.addDoneCallback() added after the task is done still runs", async () => {
  const task = createTask(() => 1);
  await task;
  // A Task is a thenable: wrap it, or resolve() would adopt its result.
  const called = Promise.withResolvers<{ task: Task<number> }>();
  task.addDoneCallback((t) => called.resolve({ task: t }));
  assert.equal((await called.promise).task, task);
});

Deno.test("Task.addDoneCallback() runs when the task is cancelled", async () => {
  const task = createTask(() => sleep(60_000));
  const called = Promise.withResolvers<boolean>();
  task.addDoneCallback((t) => called.resolve(t.cancelled()));
  task.cancel();
  assert.equal(await called.promise, true);
  await assert.rejects(task, CancelledError);
});

Deno.test("Task failure nobody retrieved is reported once through the exception handler when the task is collected", async (t) => {
  const cases = {
    ...failures,
    "fn throws an error made elsewhere": (message: string) => {
      const error = new Error(message);
      return () => {
        throw error;
      };
    },
  };
  for (const [how, makeFn] of Object.entries(cases)) {
    await t.step(how, async () => {
      await withReports(async (reports) => {
        const ref = spawnFailingTask(makeFn("never retrieved"), "doomed");
        await gcUntil(() => reports.length > 0);
        assert.equal(reports.length, 1, "the failure was not reported");
        assert.equal(ref.deref(), undefined);
        assert.ok(reports[0].error instanceof Error);
        assert.equal(reports[0].error.message, "never retrieved");
        assert.equal(reports[0].taskName, "doomed");
        assert.match(reports[0].message, /never retrieved/);
        // Exactly once: more collections report nothing more.
        for (let i = 0; i < 5; i++) {
          collectGarbage();
          await checkpoint();
        }
        assert.equal(reports.length, 1);
      });
    });
  }
});

/**
 * Waits until `makeTask`'s task has been collected and its finalizers had
 * the chance to run; returns what was reported meanwhile.
 */
async function reportsAfterCollection(
  makeTask: () => Promise<WeakRef<object>>,
): Promise<ExceptionContext[]> {
  let result: ExceptionContext[] = [];
  await withReports(async (reports) => {
    let collected = false;
    const registry = new FinalizationRegistry(() => {
      collected = true;
    });
    const ref = await makeTask();
    registry.register(ref.deref()!, undefined);
    await gcUntil(() => collected);
    assert.equal(collected, true, "the task was never garbage-collected");
    // Give the library's finalizer (run alongside ours) a few more turns.
    for (let i = 0; i < 5; i++) {
      collectGarbage();
      await checkpoint();
    }
    result = reports;
  });
  return result;
}

async function awaitedFailingTask(
  fn: () => unknown,
): Promise<WeakRef<object>> {
  const task = createTask(fn);
  await assert.rejects(task, /retrieved/);
  return new WeakRef(task);
}

async function inspectedFailingTask(
  fn: () => unknown,
): Promise<WeakRef<object>> {
  const task = createTask(fn);
  while (!task.done()) await checkpoint();
  assert.ok(task.exception() instanceof Error);
  return new WeakRef(task);
}

Deno.test("Task failure retrieved by awaiting the task is never reported", async (t) => {
  for (const [how, makeFn] of Object.entries(failures)) {
    await t.step(how, async () => {
      const reports = await reportsAfterCollection(() =>
        awaitedFailingTask(makeFn("retrieved"))
      );
      assert.deepEqual(reports, []);
    });
  }
});

Deno.test("Task failure retrieved by exception() is never reported", async (t) => {
  for (const [how, makeFn] of Object.entries(failures)) {
    await t.step(how, async () => {
      const reports = await reportsAfterCollection(() =>
        inspectedFailingTask(makeFn("retrieved"))
      );
      assert.deepEqual(reports, []);
    });
  }
});

Deno.test("Task fn that declares a parameter receives a signal that aborts on cancel()", async () => {
  const received = Promise.withResolvers<AbortSignal>();
  const task = createTask((signal: AbortSignal) => {
    received.resolve(signal);
    return new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason));
    });
  });
  const signal = await received.promise;
  assert.ok(signal instanceof AbortSignal);
  assert.equal(signal.aborted, false);
  task.cancel();
  assert.equal(signal.aborted, true);
  await assert.rejects(task, CancelledError);
  assert.ok(signal.reason instanceof CancelledError);
  assert.equal(task.cancelled(), true);
});

Deno.test("Task with an already-aborted signal never runs and ends cancelled", async () => {
  let ran = false;
  const task = createTask(() => {
    ran = true;
  }, { signal: AbortSignal.abort() });
  await assert.rejects(task, CancelledError);
  assert.equal(ran, false);
  assert.equal(task.cancelled(), true);
});

Deno.test("Task whose signal is aborted with a reason of the user's own rejects with that reason", async () => {
  const controller = new AbortController();
  const started = Promise.withResolvers<void>();
  const task = createTask(async () => {
    started.resolve();
    await sleep(60_000);
  }, { signal: controller.signal });
  await started.promise;
  const mine = new Error("mine");
  controller.abort(mine);
  await assert.rejects(task, (error) => error === mine);
});

Deno.test("Task with a signal already aborted with a user reason rejects with that reason", async () => {
  const mine = new Error("mine");
  let ran = false;
  const task = createTask(() => {
    ran = true;
  }, { signal: AbortSignal.abort(mine) });
  await assert.rejects(task, (error) => error === mine);
  assert.equal(ran, false);
});

Deno.test("Awaiting a task from a cancelled scope rejects at once without cancelling the task", async () => {
  const gate = Promise.withResolvers<string>();
  const task = createTask(() => gate.promise);
  const scope = new CancelScope();
  scope.cancel();
  let awaitError: unknown;
  await scope.run(async () => {
    try {
      await task;
    } catch (error) {
      awaitError = error;
      throw error;
    }
  });
  assert.ok(awaitError instanceof CancelledError);
  assert.equal(task.done(), false);
  assert.equal(task.cancelled(), false);
  gate.resolve("still running");
  assert.equal(await task, "still running");
  assert.equal(task.cancelled(), false);
});

Deno.test("Task made inside a scope is cancelled with that scope", async () => {
  const started = Promise.withResolvers<void>();
  const scope = new CancelScope();
  let task!: Task<void>;
  await scope.run(async () => {
    task = createTask(async () => {
      started.resolve();
      await sleep(60_000);
    });
    await started.promise;
    scope.cancel();
  });
  await assert.rejects(task, CancelledError);
  assert.equal(task.cancelled(), true);
});

Deno.test("createTask() rejects bad input with TypeError", async (t) => {
  await t.step("fn not a function", () => {
    assert.throws(() => createTask(42 as never), TypeError);
    assert.throws(() => createTask(undefined as never), TypeError);
  });
  await t.step("name not a string", () => {
    assert.throws(
      () => createTask(() => {}, { name: 42 as never }),
      TypeError,
    );
  });
});

Deno.test("Task has the given name, or a default Task-N one", async () => {
  const named = createTask(() => {}, { name: "worker" });
  const unnamed = createTask(() => {});
  assert.equal(named.name, "worker");
  assert.match(unnamed.name, /^Task-\d+$/);
  await named;
  await unnamed;
});

Deno.test("the public surface has no internal hooks (setOwner, reportException) and has isCancellation", async () => {
  const mod: Record<string, unknown> = await import("./mod.ts");
  assert.equal("setOwner" in mod, false);
  assert.equal("reportException" in mod, false);
  assert.equal(typeof mod.isCancellation, "function");
});

Deno.test("a task returning a thenable whose then throws fails that task only; later tasks still start", async (t) => {
  const cases: [string, () => unknown][] = [
    ["then throws", () => ({
      then() {
        throw new Error("then broke");
      },
    })],
    ["then getter throws", () => ({
      get then() {
        throw new Error("then broke");
      },
    })],
    ["then calls back, then throws", () => ({
      then(resolve: (v: number) => void) {
        resolve(1);
        throw new Error("then broke");
      },
    })],
  ];
  for (const [what, fn] of cases) {
    await t.step(what, async () => {
      const bad = createTask(fn);
      const after = createTask(() => "after");
      if (what.startsWith("then calls back")) assert.equal(await bad, 1);
      else await assert.rejects(bad, /then broke/);
      assert.equal(await after, "after");
      assert.equal(await createTask(() => "later"), "later");
    });
  }
});

Deno.test("a task that awaits itself rejects instead of hanging", async () => {
  const self: Task<string> = createTask(async () => {
    await checkpoint();
    try {
      await self;
    } catch (e) {
      return (e as Error).message;
    }
    return "no error";
  });
  assert.match(await self, /cannot await on itself/);
});

Deno.test("a task may await its parent task: only awaiting itself is refused", async () => {
  let child!: Task<string>;
  const parent = createTask(async () => {
    child = createTask(async () => `child saw ${await parent}`);
    await checkpoint();
    return "parent";
  });
  await parent;
  assert.equal(await child, "child saw parent");
});
