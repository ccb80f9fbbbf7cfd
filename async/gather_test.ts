import assert from "node:assert/strict";
import { CancelledError, CancelScope, checkpoint } from "./cancel_scope.ts";
import { asCompleted, gather, wait, waitFor } from "./gather.ts";
import { sleep } from "./sleep.ts";
import { createTask, type Task } from "./task.ts";
import { TimeoutError } from "./timeout.ts";

/** Asserts that `fn` throws or rejects with what `expected` describes. */
async function assertFails(
  fn: () => unknown,
  expected: new (...args: never[]) => Error,
): Promise<void> {
  await assert.rejects(async () => {
    await fn();
  }, expected);
}

/** A task that is done, with the given value. */
async function doneTask<T>(value: T): Promise<{ task: Task<T> }> {
  const task = createTask(() => value);
  await task;
  // Wrapped: a Task is a thenable, so returning it would adopt its value.
  return { task };
}

// gather

Deno.test("gather() returns results in argument order for functions, tasks and promises", async () => {
  const slow = Promise.withResolvers<string>();
  const task = createTask(async () => {
    await checkpoint();
    return "task";
  });
  const resultsPromise = gather(
    () => slow.promise,
    task,
    Promise.resolve("promise"),
    () => "function",
  );
  // The first one finishes last; the order still follows the arguments.
  await task;
  slow.resolve("slow");
  const results = await resultsPromise;
  assert.deepEqual(results, ["slow", "task", "promise", "function"]);
});

Deno.test("gather() of nothing returns an empty array", async () => {
  assert.deepEqual(await gather(), []);
});

Deno.test("gather() rejects with the first failure and does not cancel the others", async () => {
  const gate = Promise.withResolvers<string>();
  const boom = new Error("boom");
  const other = createTask(() => gate.promise);
  await assert.rejects(
    gather(other, () => Promise.reject(boom)),
    (error) => error === boom,
  );
  assert.equal(other.done(), false);
  gate.resolve("finished");
  assert.equal(await other, "finished");
  assert.equal(other.cancelled(), false);
});

Deno.test("gather() does not cancel the functions it started when one fails", async () => {
  const gate = Promise.withResolvers<string>();
  const started = Promise.withResolvers<void>();
  const outcome = Promise.withResolvers<string>();
  await assert.rejects(
    gather(
      async () => {
        started.resolve();
        await gate.promise;
        try {
          await checkpoint(); // rejects if the task was cancelled
          outcome.resolve("completed");
        } catch {
          outcome.resolve("cancelled");
        }
      },
      async () => {
        await started.promise;
        throw new Error("boom");
      },
    ),
    /boom/,
  );
  gate.resolve("go on");
  assert.equal(await outcome.promise, "completed");
});

Deno.test("gather() with returnExceptions returns errors in place of results", async () => {
  const boom = new Error("boom");
  const cancelled = createTask(() => sleep(60_000));
  cancelled.cancel();
  const results = await gather(
    () => 1,
    () => Promise.reject(boom),
    cancelled,
    Promise.resolve(4),
    { returnExceptions: true },
  );
  assert.equal(results.length, 4);
  assert.equal(results[0], 1);
  assert.equal(results[1], boom);
  assert.ok(results[2] instanceof CancelledError);
  assert.equal(results[3], 4);
});

Deno.test("gather() cancels the gathered tasks when the awaiting scope is cancelled", async () => {
  const started = Promise.withResolvers<void>();
  // Made outside the scope: only gather can cancel it.
  const outside = createTask(() => sleep(60_000));
  const scope = new CancelScope();
  let gatherError: unknown;
  const body = scope.run(async () => {
    try {
      await gather(outside, async () => {
        started.resolve();
        await sleep(60_000);
      });
    } catch (error) {
      gatherError = error;
      throw error;
    }
  });
  await started.promise;
  scope.cancel();
  await body;
  assert.ok(gatherError instanceof CancelledError);
  await assert.rejects(outside, CancelledError);
  assert.equal(outside.cancelled(), true);
});

Deno.test("gather() cancels the tasks it started from functions when the awaiting scope is cancelled", async () => {
  const started = Promise.withResolvers<void>();
  const sleepErrors: unknown[] = [];
  const scope = new CancelScope();
  const body = scope.run(() =>
    gather(
      async () => {
        started.resolve();
        try {
          await sleep(60_000);
        } catch (error) {
          sleepErrors.push(error);
          throw error;
        }
      },
      async () => {
        try {
          await sleep(60_000);
        } catch (error) {
          sleepErrors.push(error);
          throw error;
        }
      },
    )
  );
  await started.promise;
  scope.cancel();
  assert.equal(await body, undefined);
  while (sleepErrors.length < 2) await checkpoint();
  assert.equal(sleepErrors.length, 2);
  for (const error of sleepErrors) assert.ok(error instanceof CancelledError);
});

Deno.test("gather() rejects bad input with TypeError", async (t) => {
  for (
    const [what, item] of [
      ["a number", 42],
      ["null", null],
      ["a string", "task"],
    ] as const
  ) {
    await t.step(what, async () => {
      await assertFails(() => gather(item as never), TypeError);
    });
  }
});

// wait

Deno.test("wait() FIRST_COMPLETED returns as soon as one task is done", async () => {
  const gates = [
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  const waiting = wait(tasks, { returnWhen: "FIRST_COMPLETED" });
  gates[1].resolve(1);
  const { done, pending } = await waiting;
  assert.deepEqual([...done], [tasks[1]]);
  assert.deepEqual(new Set(pending), new Set([tasks[0], tasks[2]]));
  for (const task of pending) {
    assert.equal(task.done(), false);
    assert.equal(task.cancelled(), false);
  }
  gates[0].resolve(0);
  gates[2].resolve(2);
  assert.deepEqual(await gather(...tasks), [0, 1, 2]);
});

Deno.test("wait() FIRST_EXCEPTION returns at the first failure, not at a success", async () => {
  const gates = [
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  let returned = false;
  const waiting = wait(tasks, { returnWhen: "FIRST_EXCEPTION" }).then(
    (result) => {
      returned = true;
      return result;
    },
  );
  gates[0].resolve(0);
  await tasks[0];
  await checkpoint();
  assert.equal(returned, false, "returned after a mere success");
  const boom = new Error("boom");
  gates[2].reject(boom);
  const { done, pending } = await waiting;
  assert.deepEqual(new Set(done), new Set([tasks[0], tasks[2]]));
  assert.deepEqual([...pending], [tasks[1]]);
  assert.equal(tasks[1].cancelled(), false);
  assert.equal(tasks[2].exception(), boom);
  gates[1].resolve(1);
  assert.equal(await tasks[1], 1);
});

Deno.test("wait() FIRST_EXCEPTION returns when all are done if none fails", async () => {
  const gates = [
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  const waiting = wait(tasks, { returnWhen: "FIRST_EXCEPTION" });
  gates[0].resolve(0);
  gates[1].resolve(1);
  const { done, pending } = await waiting;
  assert.deepEqual(new Set(done), new Set(tasks));
  assert.equal(pending.size, 0);
});

Deno.test("wait() ALL_COMPLETED (the default) returns when every task is done", async () => {
  const gates = [
    Promise.withResolvers<number>(),
    Promise.withResolvers<number>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  let returned = false;
  const waiting = wait(tasks).then((result) => {
    returned = true;
    return result;
  });
  gates[1].reject(new Error("a failure does not end ALL_COMPLETED"));
  await assert.rejects(tasks[1]);
  await checkpoint();
  assert.equal(returned, false);
  gates[0].resolve(0);
  const { done, pending } = await waiting;
  assert.deepEqual(new Set(done), new Set(tasks));
  assert.equal(pending.size, 0);
});

Deno.test("wait() with a timeout returns done and pending without throwing or cancelling", async () => {
  const gate = Promise.withResolvers<string>();
  const { task: finished } = await doneTask("finished");
  const running = createTask(() => gate.promise);
  const { done, pending } = await wait([finished, running], { timeout: 5 });
  assert.deepEqual([...done], [finished]);
  assert.deepEqual([...pending], [running]);
  assert.equal(running.done(), false);
  assert.equal(running.cancelled(), false);
  gate.resolve("later");
  assert.equal(await running, "later");
});

Deno.test("wait() of tasks that are already done returns at once", async () => {
  const tasks = [(await doneTask(1)).task, (await doneTask(2)).task];
  const { done, pending } = await wait(tasks, {
    returnWhen: "FIRST_COMPLETED",
  });
  assert.deepEqual(new Set(done), new Set(tasks));
  assert.equal(pending.size, 0);
});

Deno.test("wait() cancelled by its scope does not cancel the tasks", async () => {
  const gate = Promise.withResolvers<number>();
  const task = createTask(() => gate.promise);
  const scope = new CancelScope();
  let waitError: unknown;
  const body = scope.run(async () => {
    try {
      await wait([task]);
    } catch (error) {
      waitError = error;
      throw error;
    }
  });
  await checkpoint();
  scope.cancel();
  await body;
  assert.ok(waitError instanceof CancelledError);
  assert.equal(task.cancelled(), false);
  gate.resolve(7);
  assert.equal(await task, 7);
});

Deno.test("wait() rejects bad input", async (t) => {
  await t.step("no tasks: RangeError", async () => {
    await assertFails(() => wait([]), RangeError);
  });
  await t.step("bad returnWhen: TypeError", async () => {
    const { task } = await doneTask(1);
    await assertFails(
      () => wait([task], { returnWhen: "FIRST" as never }),
      TypeError,
    );
  });
  await t.step("negative timeout: RangeError", async () => {
    const { task } = await doneTask(1);
    await assertFails(() => wait([task], { timeout: -1 }), RangeError);
  });
  await t.step("not a task: TypeError", async () => {
    await assertFails(() => wait([Promise.resolve(1)] as never), TypeError);
  });
});

Deno.test("wait() with an already-aborted signal rejects at once with its reason", async () => {
  const gate = Promise.withResolvers<number>();
  const task = createTask(() => gate.promise);
  const mine = new Error("mine");
  await assert.rejects(
    wait([task], { signal: AbortSignal.abort(mine) }),
    (error) => error === mine,
  );
  assert.equal(task.done(), false);
  assert.equal(task.cancelled(), false);
  gate.resolve(1);
  await task;
});

// asCompleted

Deno.test("asCompleted() yields the original tasks in completion order", async () => {
  const gates = [
    Promise.withResolvers<string>(),
    Promise.withResolvers<string>(),
    Promise.withResolvers<string>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  const iterator = asCompleted(tasks);
  const order = [2, 0, 1];
  for (const i of order) {
    gates[i].resolve(`task ${i}`);
    const next = await iterator.next();
    assert.equal(next.done, false);
    assert.equal(next.value, tasks[i]);
    assert.equal(await next.value, `task ${i}`);
  }
  const end = await iterator.next();
  assert.equal(end.done, true);
});

Deno.test("asCompleted() works with for await and yields failed tasks too", async () => {
  const gates = [
    Promise.withResolvers<string>(),
    Promise.withResolvers<string>(),
  ];
  const tasks = gates.map((gate) => createTask(() => gate.promise));
  const seen: Task<string>[] = [];
  const boom = new Error("boom");
  gates[1].reject(boom);
  await assert.rejects(tasks[1]);
  for await (const task of asCompleted(tasks)) {
    // TypeScript types the loop variable as awaited; at run time it is the
    // task itself (an async iterator's values are not awaited).
    seen.push(task as unknown as Task<string>);
    if (seen.length === 1) gates[0].resolve("zero");
  }
  assert.equal(seen.length, 2);
  assert.equal(seen[0], tasks[1]);
  assert.equal(seen[1], tasks[0]);
  assert.equal(seen[0].exception(), boom);
});

Deno.test("asCompleted() with an already-aborted signal rejects at once with its reason", async () => {
  const gate = Promise.withResolvers<number>();
  const task = createTask(() => gate.promise);
  const mine = new Error("mine");
  const iterator = asCompleted([task], { signal: AbortSignal.abort(mine) });
  await assert.rejects(iterator.next(), (error) => error === mine);
  assert.equal(task.cancelled(), false);
  gate.resolve(1);
  await task;
});

Deno.test("asCompleted() in a cancelled scope rejects even when a task is already done", async () => {
  const { task } = await doneTask(1);
  const iterator = asCompleted([task]);
  await checkpoint(); // the done callback has run: a task is ready
  const scope = new CancelScope();
  scope.cancel();
  let nextError: unknown;
  await scope.run(async () => {
    try {
      await iterator.next();
    } catch (error) {
      nextError = error;
      throw error;
    }
  });
  assert.ok(nextError instanceof CancelledError);
});

Deno.test("asCompleted() rejects a non-task with TypeError", async () => {
  await assertFails(
    () => asCompleted([Promise.resolve(1)] as never).next(),
    TypeError,
  );
});

// waitFor

Deno.test("waitFor() returns fn's value when it finishes in time", async () => {
  assert.equal(await waitFor(() => Promise.resolve("quick"), 60_000), "quick");
});

Deno.test("waitFor() on expiry cancels fn's scope and throws TimeoutError", async () => {
  let sleepError: unknown;
  let finallyRan = false;
  await assert.rejects(
    waitFor(async () => {
      try {
        await sleep(60_000);
      } catch (error) {
        sleepError = error;
        throw error;
      } finally {
        finallyRan = true;
      }
    }, 5),
    TimeoutError,
  );
  assert.ok(sleepError instanceof CancelledError);
  assert.equal(finallyRan, true);
});

Deno.test("waitFor() returns a task's result when it finishes in time", async () => {
  const gate = Promise.withResolvers<string>();
  const task = createTask(() => gate.promise);
  const waiting = waitFor(task, 60_000);
  gate.resolve("in time");
  assert.equal(await waiting, "in time");
});

Deno.test("waitFor() of a task on expiry cancels it and waits for its end before throwing", async () => {
  let cleanedUp = false;
  const started = Promise.withResolvers<void>();
  const task = createTask(async () => {
    try {
      started.resolve();
      await sleep(60_000);
    } finally {
      // Cleanup that takes a few turns of the event loop.
      const cleanup = new CancelScope({ shield: true });
      await cleanup.run(async () => {
        for (let i = 0; i < 3; i++) await checkpoint();
      });
      cleanedUp = true;
    }
  });
  await started.promise;
  // A guard, not a wait: if waitFor never cancels the task, fail in seconds
  // instead of a minute.
  let guardFired = false;
  const guard = setTimeout(() => {
    guardFired = true;
    task.cancel();
  }, 5_000);
  try {
    await assert.rejects(waitFor(task, 5), TimeoutError);
  } finally {
    clearTimeout(guard);
  }
  assert.equal(guardFired, false, "waitFor() did not cancel the task");
  assert.equal(task.done(), true);
  assert.equal(task.cancelled(), true);
  assert.equal(cleanedUp, true);
});

Deno.test("gather() validates every argument before starting any", async () => {
  let started = false;
  await assert.rejects(
    gather(() => {
      started = true;
    }, 5 as never),
    TypeError,
  );
  await checkpoint();
  assert.equal(started, false);
});

Deno.test("wait() with a signal that aborts leaves no callback on the pending task", async () => {
  const long = createTask(() => sleep(60_000));
  const removed: number[] = [];
  const remove = long.removeDoneCallback.bind(long);
  long.removeDoneCallback = (cb) => {
    const n = remove(cb);
    removed.push(n);
    return n;
  };
  for (let i = 0; i < 3; i++) {
    const controller = new AbortController();
    const waiting = wait([long], { signal: controller.signal });
    controller.abort();
    await assert.rejects(waiting, CancelledError);
  }
  assert.deepEqual(removed, [1, 1, 1]);
  // FIRST_COMPLETED that returned on another task also lets go.
  const quick = createTask(() => {});
  await wait([long, quick], { returnWhen: "FIRST_COMPLETED" });
  assert.deepEqual(removed, [1, 1, 1, 1]);
  long.cancel();
  await assert.rejects(long, CancelledError);
});

Deno.test("asCompleted(): concurrent next() calls each get a task", async () => {
  const a = createTask(async () => {
    await sleep(1);
    return "a";
  });
  const b = createTask(async () => {
    await sleep(2);
    return "b";
  });
  const it = asCompleted([a, b]);
  const [x, y, z] = await Promise.all([it.next(), it.next(), it.next()]);
  assert.equal(x.done, false);
  assert.equal(y.done, false);
  assert.equal(z.done, true);
  const got = new Set([x.value, y.value]);
  assert.ok(got.has(a) && got.has(b));
});

Deno.test("asCompleted(): a cancelled next() does not lose a task", async () => {
  const a = createTask(async () => {
    await sleep(1);
    return "a";
  });
  const it = asCompleted([a]);
  const scope = new CancelScope();
  const cancelled = scope.run(() => it.next());
  await checkpoint();
  scope.cancel();
  assert.equal(await cancelled, undefined);
  assert.ok(scope.cancelledCaught);
  assert.equal((await it.next()).value, a);
  assert.equal((await it.next()).done, true);
});

Deno.test("waitFor() accepts a promise: it is abandoned on timeout", async () => {
  const never = new Promise<never>(() => {});
  await assert.rejects(waitFor(never, 5), TimeoutError);
  assert.equal(await waitFor(Promise.resolve(7), 1000), 7);
  await assert.rejects(waitFor(42 as never, 10), TypeError);
  await assert.rejects(waitFor(() => 1, -1), RangeError);
});

Deno.test("waitFor(task) cancels the task when the awaiting task is cancelled", async () => {
  const inner = createTask(() => sleep(60_000));
  const outer = createTask(() => waitFor(inner, 10_000));
  await checkpoint();
  outer.cancel();
  await assert.rejects(outer, CancelledError);
  assert.ok(inner.cancelled());
});
