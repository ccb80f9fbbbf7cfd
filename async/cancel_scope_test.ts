import assert from "node:assert/strict";
import { countAllocations } from "../bench/_alloc.ts";
import {
  CancelledError,
  CancelScope,
  checkpoint,
  createTask,
  currentScope,
  currentSignal,
  isCancellation,
  shield,
  sleep,
  suspend,
  TaskGroup,
  timeout,
  TimeoutError,
  Waiter,
} from "./mod.ts";

// Awaits `leaf` `depth` calls deep, passing no signal by hand.
async function deep(depth: number, leaf: () => Promise<void>): Promise<void> {
  if (depth === 0) return await leaf();
  await deep(depth - 1, leaf);
}

Deno.test("sleep ten calls deep under a TaskGroup rejects when the group is cancelled", async () => {
  let seen: unknown;
  await TaskGroup.run(async (tg) => {
    tg.createTask(async () => {
      try {
        await deep(10, () => sleep(60_000));
      } catch (e) {
        seen = e;
        throw e;
      }
    });
    await checkpoint();
    tg.cancel();
  });
  assert.ok(seen instanceof CancelledError);
});

Deno.test("checkpoint ten calls deep under a timeout rejects when it expires", async () => {
  let rounds = 0;
  let seen: unknown;
  await assert.rejects(
    timeout(10, async () => {
      try {
        await deep(10, async () => {
          while (true) {
            rounds++;
            await checkpoint();
          }
        });
      } catch (e) {
        seen = e;
        throw e;
      }
    }),
    TimeoutError,
  );
  assert.ok(seen instanceof CancelledError);
  assert.ok(rounds > 1);
});

Deno.test("cancellation is level-triggered: every later await in the scope rejects at once", async () => {
  const scope = new CancelScope();
  const outcomes: string[] = [];
  await scope.run(async () => {
    scope.cancel();
    for (
      const attempt of [
        () => sleep(0),
        () => checkpoint(),
        () => sleep(60_000),
        () => suspend<void>((resolve) => resolve()),
      ]
    ) {
      try {
        await attempt();
        outcomes.push("resolved");
      } catch (e) {
        outcomes.push((e as Error).name);
      }
    }
  });
  assert.deepEqual(outcomes, Array(4).fill("CancelledError"));
  assert.ok(scope.cancelled);
  assert.equal(scope.cancelledCaught, false); // every error was caught inside
});

Deno.test("a cancelled scope reaches scopes and tasks created in it before the cancel", async () => {
  const scope = new CancelScope();
  let taskError: unknown;
  await scope.run(async () => {
    const task = createTask(() => sleep(60_000));
    const inner = new CancelScope();
    scope.cancel();
    assert.ok(inner.cancelled);
    taskError = await task.then(() => undefined, (e) => e);
  });
  assert.ok(taskError instanceof CancelledError);
});

Deno.test("shield keeps outer cancellation out until it returns", async () => {
  const scope = new CancelScope();
  const log: string[] = [];
  await scope.run(async () => {
    scope.cancel();
    const value = await shield(async (inner) => {
      assert.equal(inner.cancelled, false);
      await sleep(1);
      await checkpoint();
      log.push("shielded work done");
      return 5;
    });
    log.push(`shield returned ${value}`);
    await checkpoint(); // the outer cancellation applies again
    log.push("unreachable");
  });
  assert.deepEqual(log, ["shielded work done", "shield returned 5"]);
});

Deno.test("shield: a cancellation that arrives while shielded is kept out too", async () => {
  let started!: () => void;
  const ready = new Promise<void>((resolve) => started = resolve);
  let finished = false;
  const task = createTask(() =>
    shield(async () => {
      started();
      await sleep(5);
      finished = true;
    })
  );
  await ready;
  task.cancel();
  await task;
  assert.ok(finished);
});

Deno.test("currentSignal() aborts with its scope and works with fetch", async () => {
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  let requested!: () => void;
  const arrived = new Promise<void>((resolve) => requested = resolve);
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async () => {
      requested();
      await held;
      return new Response("late");
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const scope = new CancelScope();
  let signal: AbortSignal | undefined;
  let fetchError: unknown;
  const done = scope.run(async () => {
    signal = currentSignal();
    try {
      await fetch(url, { signal });
    } catch (e) {
      fetchError = e;
      throw e;
    }
  });
  await arrived;
  assert.equal(signal!.aborted, false);
  scope.cancel("stop the request");
  assert.equal(await done, undefined);
  assert.ok(signal!.aborted);
  assert.ok(fetchError instanceof CancelledError);
  assert.equal((fetchError as Error).message, "stop the request");
  release();
});

Deno.test("currentSignal() outside every scope never aborts", () => {
  assert.equal(currentScope(), undefined);
  assert.equal(currentSignal().aborted, false);
});

Deno.test("an explicit signal works on every awaitable, including one already aborted", async (t) => {
  const awaitables: [string, (signal: AbortSignal) => Promise<unknown>][] = [
    ["sleep", (signal) => sleep(60_000, { signal })],
    ["checkpoint", (signal) => checkpoint({ signal })],
    ["suspend", (signal) => suspend(() => {}, { signal })],
    ["createTask", (signal) => createTask(() => sleep(60_000), { signal })],
    [
      "TaskGroup",
      (signal) =>
        TaskGroup.run((tg) => {
          tg.createTask(() => sleep(60_000));
        }, { signal }),
    ],
    [
      "CancelScope",
      (signal) => new CancelScope({ signal }).run(() => sleep(60_000)),
    ],
  ];
  for (const [name, start] of awaitables) {
    await t.step(
      `${name}: a signal aborted later rejects with the user's reason`,
      async () => {
        const controller = new AbortController();
        const reason = new Error(`mine (${name})`);
        const pending = start(controller.signal);
        if (name !== "checkpoint") await checkpoint(); // it would be done
        controller.abort(reason);
        await assert.rejects(pending, (e) => e === reason);
      },
    );
    await t.step(
      `${name}: an already aborted signal rejects at once`,
      async () => {
        const reason = new Error("already");
        await assert.rejects(
          start(AbortSignal.abort(reason)),
          (e) => e === reason,
        );
      },
    );
    await t.step(
      `${name}: abort() with no reason is a CancelledError`,
      async () => {
        const controller = new AbortController();
        const pending = start(controller.signal);
        if (name !== "checkpoint") await checkpoint();
        controller.abort();
        await assert.rejects(pending, CancelledError);
      },
    );
  }
});

Deno.test("CancelScope.run swallows its own cancellation but not an outer one", async () => {
  const own = new CancelScope();
  const ownResult = own.run(() => sleep(60_000));
  own.cancel();
  assert.equal(await ownResult, undefined);
  assert.ok(own.cancelledCaught);

  const outer = new CancelScope();
  let innerScope: CancelScope | undefined;
  const result = outer.run(() => {
    innerScope = new CancelScope();
    return innerScope.run(() => sleep(60_000));
  });
  innerScope!.cancel();
  outer.cancel();
  assert.equal(await result, undefined);
  assert.equal(innerScope!.cancelledCaught, false);
  assert.ok(outer.cancelledCaught);
});

Deno.test("suspend: cancellation calls the undo function first, and a late resolve is ignored", async () => {
  const scope = new CancelScope();
  let resolveLater!: (value: number) => void;
  const undone: unknown[] = [];
  const waiting = scope.run(() =>
    suspend<number>((resolve) => {
      resolveLater = resolve;
      return (error) => undone.push(error);
    })
  );
  scope.cancel();
  resolveLater(1);
  assert.equal(await waiting, undefined);
  assert.equal(undone.length, 1);
  assert.ok(undone[0] instanceof CancelledError);
});

Deno.test("suspend: a value handed over before the cancellation is kept", async () => {
  const scope = new CancelScope();
  let resolveNow!: (value: number) => void;
  let undoCalled = false;
  const waiting = scope.run(() =>
    suspend<number>((resolve) => {
      resolveNow = resolve;
      return () => undoCalled = true;
    })
  );
  resolveNow(42);
  scope.cancel();
  assert.equal(await waiting, 42);
  assert.equal(undoCalled, false);
});

Deno.test("awaits in live scopes make no AbortController and no host timer beyond their own", async () => {
  const { controllers, hostTimers } = await countAllocations(100, 20);
  assert.equal(controllers, 0);
  // The timeout's deadline and the 20 sleeps: one host timer each at most.
  assert.ok(hostTimers <= 21, `${hostTimers} host timers`);
});

Deno.test("CancelScope and shield reject bad input without side effects", async () => {
  assert.throws(() => new CancelScope({ deadline: NaN }), RangeError);
  assert.throws(() => new CancelScope({ deadline: "1" as never }), TypeError);
  assert.throws(() => new CancelScope({ signal: {} as never }), TypeError);
  const scope = new CancelScope();
  assert.throws(() => scope.reschedule(-1), RangeError);
  assert.throws(() => (scope.deadline = NaN), RangeError);
  assert.equal(scope.deadline, Infinity);
  await assert.rejects(scope.run(null as never), TypeError);
  await scope.run(() => {});
  await assert.rejects(scope.run(() => {}), /runs once/);
  await assert.rejects(shield(5 as never), TypeError);
  await assert.rejects(checkpoint({ signal: "x" as never }), TypeError);
});

Deno.test("a wait left running in a scope that has exited still hears outer cancellation", async () => {
  const outer = new CancelScope();
  let stray: Promise<void> | undefined;
  await outer.run(async () => {
    await new CancelScope().run(() => {
      // Not awaited: it outlives its scope.
      stray = (async () => {
        await checkpoint();
        await sleep(60_000);
      })();
    });
    await checkpoint();
    await checkpoint();
    outer.cancel();
  });
  await assert.rejects(stray!, CancelledError);
});

Deno.test("shield of a function that returns a task waits for the task even in a cancelled scope", async () => {
  const scope = new CancelScope();
  let value: number | undefined;
  await scope.run(async () => {
    const task = createTask(async () => {
      await shield(() => sleep(5));
      return 7;
    });
    await checkpoint();
    scope.cancel();
    value = await shield(() => task);
  });
  assert.equal(value, 7);
});

// A wait whose undo answers "not yet": the operation stops when `stop` is
// resolved (as a server confirming a CancelRequest would).
function deferredWait(log: string[]) {
  const stop = Promise.withResolvers<void>();
  const asked = Promise.withResolvers<void>();
  let late: ((value: string) => void) | undefined;
  const wait = () =>
    suspend<string>((resolve) => {
      late = resolve;
      return () => {
        log.push("asked to stop");
        asked.resolve();
        return stop.promise.then(() => log.push("stopped"));
      };
    });
  return { stop, asked, wait, resolveLate: (v: string) => late!(v) };
}

Deno.test("suspend: an undo that returns a promise defers the rejection until it settles, ignoring resolve meanwhile", async () => {
  const log: string[] = [];
  const op = deferredWait(log);
  const scope = new CancelScope();
  const done = scope.run(async () => {
    try {
      await op.wait();
    } catch (e) {
      log.push(e instanceof CancelledError ? "rejected" : "other");
      throw e;
    }
  });
  await checkpoint();
  scope.cancel();
  await op.asked.promise;
  op.resolveLate("too late");
  await checkpoint();
  assert.deepEqual(log, ["asked to stop"]);
  op.stop.resolve();
  await done;
  assert.deepEqual(log, ["asked to stop", "stopped", "rejected"]);
  assert.ok(scope.cancelledCaught);
});

Deno.test("suspend: a rejected undo promise still ends the wait with the cancellation", async () => {
  const scope = new CancelScope();
  let seen: unknown;
  const done = scope.run(async () => {
    try {
      await suspend<void>(() => () => Promise.reject(new Error("undo failed")));
    } catch (e) {
      seen = e;
    }
  });
  await checkpoint();
  scope.cancel();
  await done;
  assert.ok(seen instanceof CancelledError);
});

Deno.test("Waiter.withdraw may return a promise: the wait rejects once it settles", async () => {
  const stop = Promise.withResolvers<void>();
  class Slow extends Waiter<number> {
    protected withdraw(): PromiseLike<void> {
      return stop.promise;
    }
  }
  const waiter = new Slow();
  const controller = new AbortController();
  const promise = waiter.wait({ signal: controller.signal });
  let settled = false;
  promise.then(() => {}, () => settled = true);
  controller.abort();
  assert.equal(waiter.pending, false);
  assert.equal(waiter.resolve(1), false);
  assert.equal(waiter.reject(new Error("x")), false);
  await checkpoint();
  assert.equal(settled, false);
  stop.resolve();
  await assert.rejects(promise, CancelledError);
});

Deno.test("a TaskGroup whose child waits on a deferred undo does not exit before the operation stops", async () => {
  const log: string[] = [];
  const op = deferredWait(log);
  const group = TaskGroup.run(async (tg) => {
    tg.createTask(op.wait);
    await checkpoint();
    tg.cancel();
  }).then(() => log.push("group exited"));
  await op.asked.promise;
  for (let i = 0; i < 3; i++) await checkpoint();
  assert.deepEqual(log, ["asked to stop"]);
  op.stop.resolve();
  await group;
  assert.deepEqual(log, ["asked to stop", "stopped", "group exited"]);
});

Deno.test("timeout() around a deferred undo throws TimeoutError once the operation stops", async () => {
  const log: string[] = [];
  const op = deferredWait(log);
  const done = timeout(5, op.wait);
  await op.asked.promise;
  op.stop.resolve();
  await assert.rejects(done, TimeoutError);
  assert.deepEqual(log, ["asked to stop", "stopped"]);
});

Deno.test("a deferred undo runs outside the cancelled scope: its own awaits are not cancelled", async () => {
  let undoScope: unknown = "unset";
  let undoSlept = false;
  const task = createTask(() =>
    suspend<void>(() => async () => {
      undoScope = currentScope();
      await sleep(1);
      undoSlept = true;
    })
  );
  await checkpoint();
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.equal(undoScope, undefined);
  assert.ok(undoSlept);
});

Deno.test("shield: a deferred wait inside a shield is not cancelled by the outer scope; after it, the outer cancellation applies", async () => {
  const log: string[] = [];
  const op = deferredWait(log);
  let handed: string | undefined;
  const task = createTask(async () => {
    handed = await shield(() => op.wait());
    await checkpoint();
  });
  await checkpoint();
  task.cancel();
  await checkpoint();
  assert.deepEqual(log, []); // never asked to stop
  op.resolveLate("value");
  await assert.rejects(task, CancelledError);
  assert.equal(handed, "value");
});

Deno.test("CancelScope({ parent: null }) is a root scope: the ambient cancellation does not reach it", async () => {
  const outer = new CancelScope();
  let root!: CancelScope;
  await outer.run(async () => {
    root = new CancelScope({ parent: null });
    assert.equal(root.parent, undefined);
    outer.cancel();
    assert.equal(root.cancelled, false);
    await root.run(() => sleep(1));
  });
  assert.equal(root.cancelledCaught, false);
  const child = new CancelScope({ parent: root });
  assert.equal(child.parent, root);
});

Deno.test("CancelScope rejects a 'parent' that is not a CancelScope or null", () => {
  for (const parent of [42, {}, "scope"]) {
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => new CancelScope({ parent: parent as any }),
      TypeError,
    );
  }
});

Deno.test("isCancellation() tells a cancellation, or the ambient scope's reason, from a failure", async () => {
  assert.equal(isCancellation(new CancelledError()), true);
  assert.equal(isCancellation(new Error("boom")), false);
  const reason = new Error("my reason");
  const scope = new CancelScope();
  await scope.run(() => {
    assert.equal(isCancellation(reason), false);
    scope.cancel(reason);
    assert.equal(isCancellation(reason), true);
    assert.equal(isCancellation(new Error("other")), false);
  });
});
