import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { createTask, type Task } from "../async/task.ts";
import { churnGuards, flush, holdViaRun, prng } from "./_test_util.ts";
import { Lock } from "./lock.ts";

Deno.test("Lock.acquire() takes a free lock and the guard releases it", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  assert.equal(lock.locked(), true);
  assert.equal(guard.released, false);
  guard.release();
  assert.equal(guard.released, true);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock guard releases the lock at the end of a using block", async () => {
  const lock = new Lock();
  {
    using _ = await lock.acquire();
    assert.equal(lock.locked(), true);
  }
  assert.equal(lock.locked(), false);
});

Deno.test("Lock guard released twice throws instead of releasing twice", async () => {
  const lock = new Lock();
  const first = await lock.acquire();
  first.release();
  const second = await lock.acquire();
  assert.throws(() => first.release(), /already released/);
  assert.equal(lock.locked(), true); // the second holder still holds it
  second.release();
});

Deno.test("Lock guard disposed after an explicit release does nothing", async () => {
  const lock = new Lock();
  {
    using guard = await lock.acquire();
    guard.release();
  }
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.release() of an unlocked Lock throws", () => {
  assert.throws(
    () => new Lock().release(),
    /Cannot release the Lock: it is not locked/,
  );
});

Deno.test("Lock.acquire() waits while the lock is held", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  let acquired = false;
  const waiting = lock.acquire().then((g) => {
    acquired = true;
    return g;
  });
  await flush();
  assert.equal(acquired, false);
  guard.release();
  (await waiting).release();
  assert.equal(acquired, true);
});

Deno.test("Lock serves waiters first come, first served", async () => {
  const lock = new Lock();
  const order: number[] = [];
  const guard = await lock.acquire();
  const waiters = [1, 2, 3].map(async (id) => {
    using _ = await lock.acquire();
    order.push(id);
  });
  guard.release();
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("Lock.release() hands the lock to the oldest waiter, not to a newcomer in the same tick", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const order: string[] = [];
  const waiter = lock.acquire().then((g) => {
    order.push("waiter");
    g.release();
  });
  guard.release();
  assert.equal(lock.locked(), true); // handed over, not freed
  const newcomer = lock.acquire().then((g) => {
    order.push("newcomer");
    g.release();
  });
  await Promise.all([waiter, newcomer]);
  assert.deepEqual(order, ["waiter", "newcomer"]);
});

Deno.test("Lock.acquire() cancelled in the tick of the release does not leave the lock held", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const controller = new AbortController();
  const waiting = lock.acquire({ signal: controller.signal });
  controller.abort();
  guard.release();
  await assert.rejects(waiting, CancelledError);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.acquire() cancelled in the tick of the release passes the lock to the next waiter", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const scope = new CancelScope();
  const first = scope.run(() => lock.acquire());
  const second = lock.acquire();
  scope.cancel();
  guard.release();
  assert.equal(await first, undefined);
  (await second).release();
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.acquire() handed the lock before its cancellation owns it", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const controller = new AbortController();
  const waiting = lock.acquire({ signal: controller.signal });
  guard.release();
  controller.abort();
  const second = await waiting;
  assert.equal(lock.locked(), true);
  second.release();
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.acquire() in a cancelled scope rejects even when the lock is free", async () => {
  const lock = new Lock();
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() =>
    lock.acquire().catch((caught) => {
      error = caught;
    })
  );
  assert.ok(error instanceof CancelledError);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.acquire() with an aborted signal rejects with its reason", async () => {
  const lock = new Lock();
  const reason = new Error("mine");
  await assert.rejects(
    lock.acquire({ signal: AbortSignal.abort(reason) }),
    (e) => e === reason,
  );
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() runs one job at a time and returns its result", async () => {
  const lock = new Lock();
  let inside = 0;
  const log: number[] = [];
  const results = await Promise.all([1, 2, 3].map((id) =>
    lock.run(async () => {
      assert.equal(++inside, 1, "two jobs hold the lock");
      await flush(3);
      log.push(id);
      inside--;
      return id * 10;
    })
  ));
  assert.deepEqual(results, [10, 20, 30]);
  assert.deepEqual(log, [1, 2, 3]);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() releases the lock when the job rejects or throws", async () => {
  const lock = new Lock();
  await assert.rejects(lock.run(() => Promise.reject(new Error("a"))), /a/);
  assert.equal(lock.locked(), false);
  await assert.rejects(
    lock.run(() => {
      throw new Error("b");
    }),
    /b/,
  );
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() cancelled while waiting leaves the lock to the next in line", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const controller = new AbortController();
  let called = false;
  const cancelled = lock.run(() => called = true, {
    signal: controller.signal,
  });
  const next = lock.run(() => "next");
  controller.abort(); // in the tick of the release
  guard.release();
  await assert.rejects(cancelled, CancelledError);
  assert.equal(await next, "next");
  assert.equal(called, false);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() rejects a job that is not a function and leaves the lock free", async () => {
  const lock = new Lock();
  await assert.rejects(
    // @ts-expect-error: checked at run time too
    lock.run(undefined),
    (e) =>
      e instanceof TypeError && /Lock.*'fn'.*got undefined/.test(e.message),
  );
  assert.equal(lock.locked(), false);
});

// Property: many acquirers cancelled at random points, holders releasing at
// random points; the lock is never held twice and ends free.
for (const seed of [11, 12, 13, 14, 15, 16]) {
  Deno.test(`Lock never leaks under random cancellation (seed ${seed})`, async () => {
    const lock = new Lock();
    const random = prng(seed);
    const { held, acquired, started } = await churnGuards(
      random,
      // Half the takers go through run(), which releases a few microtasks
      // after its job settles.
      (signal) =>
        random() < 0.5
          ? lock.acquire({ signal })
          : holdViaRun(random, (fn, o) => lock.run(fn, o), signal),
      (held) => assert.ok(held <= 1, "the lock is held twice"),
    );
    assert.ok(held.length <= 1);
    held.shift()?.release();
    await flush();
    assert.equal(lock.locked(), false);
    assert.ok(acquired > 0 && acquired < started);
  });
}

Deno.test("Lock waiters of a cancelled scope all withdraw and the lock ends free", async () => {
  const lock = new Lock();
  const guard = await lock.acquire();
  const scope = new CancelScope();
  const waiting = scope.run(() =>
    Promise.all(Array.from({ length: 1000 }, () => lock.acquire()))
  );
  const outsider = lock.acquire();
  scope.cancel();
  assert.equal(await waiting, undefined);
  guard.release();
  (await outsider).release();
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.acquire on a free lock rejects in a task that outlived the cancelled scope it was made in", async () => {
  const lock = new Lock();
  const scope = new CancelScope();
  const started = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let reached = false;
  let task: Task<void> | undefined;
  await scope.run(async () => {
    task = createTask(async () => {
      started.resolve();
      await gate.promise; // not an aio await: the cancellation waits
      reached = true;
      using _ = await lock.acquire(); // the fast path: the lock is free
    });
    await started.promise;
    scope.cancel();
  });
  gate.resolve();
  await assert.rejects(task!, CancelledError);
  assert.ok(reached);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() calls the job asynchronously also when the lock is free, holding it already", async () => {
  const lock = new Lock();
  let called = false;
  const done = lock.run(() => {
    called = true;
    return lock.locked();
  });
  assert.equal(called, false);
  assert.equal(lock.locked(), true); // taken at once: no newcomer overtakes
  assert.equal(lock.tryAcquire(), undefined);
  assert.equal(await done, true);
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.run() releases the lock when a job called asynchronously throws", async () => {
  const lock = new Lock();
  await assert.rejects(
    lock.run(() => {
      throw new Error("sync throw");
    }),
    /sync throw/,
  );
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.tryAcquire() takes a free lock, and refuses a held one or one with waiters", async () => {
  const lock = new Lock();
  const guard = lock.tryAcquire();
  assert.ok(guard !== undefined);
  assert.equal(lock.locked(), true);
  assert.equal(lock.tryAcquire(), undefined);
  const waiter = lock.acquire();
  guard.release(); // handed to the waiter: still locked
  assert.equal(lock.tryAcquire(), undefined);
  (await waiter).release();
  assert.equal(lock.locked(), false);
  lock.tryAcquire()!.release();
  assert.equal(lock.locked(), false);
});

Deno.test("Lock.waiting counts blocked acquire() and run() calls, not cancelled ones", async () => {
  const lock = new Lock();
  assert.equal(lock.waiting, 0);
  const guard = await lock.acquire();
  const controller = new AbortController();
  const a = lock.acquire();
  const b = lock.run(() => "b");
  const c = lock.acquire({ signal: controller.signal });
  assert.equal(lock.waiting, 3);
  controller.abort();
  await assert.rejects(c, CancelledError);
  assert.equal(lock.waiting, 2);
  guard.release();
  assert.equal(lock.waiting, 1);
  (await a).release();
  assert.equal(await b, "b");
  assert.equal(lock.waiting, 0);
});
