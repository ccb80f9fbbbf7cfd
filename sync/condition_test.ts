import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { flush, type Op, prng, start } from "./_test_util.ts";
import { Condition } from "./condition.ts";
import { Lock } from "./lock.ts";

/** Starts a task that takes the lock, waits once, and records its wake-up. */
function waiter(
  condition: Condition,
  woken: number[],
  id: number,
  signal?: AbortSignal,
): Promise<void> {
  return (async () => {
    using _ = await condition.acquire();
    await condition.wait({ signal });
    woken.push(id);
  })();
}

Deno.test("Condition.wait() without holding the lock throws", async () => {
  await assert.rejects(new Condition().wait(), /its lock is not held/);
});

Deno.test("Condition.notify() without holding the lock throws", () => {
  assert.throws(() => new Condition().notify(), /its lock is not held/);
});

Deno.test("Condition.wait() releases the lock while waiting and holds it again after", async () => {
  const condition = new Condition();
  const guard = await condition.acquire();
  const waiting = condition.wait();
  assert.equal(condition.locked(), false);
  {
    using _ = await condition.acquire();
    condition.notify();
  }
  assert.equal(await waiting, true);
  assert.equal(condition.locked(), true);
  guard.release();
  assert.equal(condition.locked(), false);
});

Deno.test("Condition.notify(n) wakes n waiters, oldest first", async () => {
  const condition = new Condition();
  const woken: number[] = [];
  const waiters = [1, 2, 3].map((id) => waiter(condition, woken, id));
  await flush();
  {
    using _ = await condition.acquire();
    condition.notify(2);
  }
  await flush(50);
  assert.deepEqual(woken, [1, 2]);
  {
    using _ = await condition.acquire();
    condition.notify();
  }
  await Promise.all(waiters);
  assert.deepEqual(woken, [1, 2, 3]);
});

Deno.test("Condition.notifyAll() wakes every waiter", async () => {
  const condition = new Condition();
  const woken: number[] = [];
  const waiters = [1, 2, 3].map((id) => waiter(condition, woken, id));
  await flush();
  {
    using _ = await condition.acquire();
    condition.notifyAll();
  }
  await Promise.all(waiters);
  assert.deepEqual(woken, [1, 2, 3]);
});

Deno.test("Condition.waitFor() returns once the predicate holds", async () => {
  const condition = new Condition();
  let value = 0;
  const waiting = (async () => {
    using _ = await condition.acquire();
    return await condition.waitFor(() => value >= 3 && value);
  })();
  for (let i = 0; i < 3; i++) {
    using _ = await condition.acquire();
    value++;
    condition.notifyAll();
  }
  assert.equal(await waiting, 3);
});

Deno.test("Condition.waitFor() with a true predicate does not wait", async () => {
  const condition = new Condition();
  using _ = await condition.acquire();
  assert.equal(await condition.waitFor(() => "now"), "now");
});

Deno.test("Conditions sharing a Lock notify separately", async () => {
  const lock = new Lock();
  const a = new Condition(lock);
  const b = new Condition(lock);
  const woken: number[] = [];
  const waiters = [waiter(a, woken, 1), waiter(b, woken, 2)];
  await flush();
  {
    using _ = await lock.acquire();
    assert.ok(a.locked() && b.locked());
    b.notify();
  }
  await waiters[1];
  assert.deepEqual(woken, [2]);
  {
    using _ = await lock.acquire();
    a.notify();
  }
  await waiters[0];
});

Deno.test("Condition.run() holds the shared lock around wait(), which gives it up meanwhile", async () => {
  const lock = new Lock();
  const condition = new Condition(lock);
  let ready = false;
  const consumer = condition.run(async () => {
    await condition.waitFor(() => ready);
    assert.ok(lock.locked());
    return "consumed";
  });
  await flush();
  assert.equal(lock.locked(), false); // given up by the waiting consumer
  await lock.run(() => {
    ready = true;
    condition.notify();
  });
  assert.equal(await consumer, "consumed");
  assert.equal(lock.locked(), false);
});

Deno.test("Condition.run() rejects a job that is not a function, naming the Condition", async () => {
  const condition = new Condition();
  await assert.rejects(
    // @ts-expect-error: checked at run time too
    condition.run(42),
    (e) =>
      e instanceof TypeError && /the Condition.*got number/.test(e.message),
  );
  assert.equal(condition.locked(), false);
});

Deno.test("Condition.wait() cancelled before a notify lets the notify wake the next waiter", async () => {
  const condition = new Condition();
  const woken: number[] = [];
  const controller = new AbortController();
  const first = waiter(condition, woken, 1, controller.signal);
  const second = waiter(condition, woken, 2);
  await flush();
  const guard = await condition.acquire();
  controller.abort();
  condition.notify();
  guard.release();
  await assert.rejects(first, CancelledError);
  await second;
  assert.deepEqual(woken, [2]);
  assert.equal(condition.locked(), false);
});

Deno.test("Condition.wait() cancelled after a notify passes the notification on", async () => {
  const condition = new Condition();
  const woken: number[] = [];
  const scope = new CancelScope();
  let error: unknown;
  const first = scope.run(async () => {
    try {
      await waiter(condition, woken, 1);
    } catch (caught) {
      error = caught;
      throw caught;
    }
  });
  const second = waiter(condition, woken, 2);
  await flush();
  const guard = await condition.acquire();
  condition.notify();
  scope.cancel(); // after the notify reached the first waiter
  guard.release();
  await first;
  assert.ok(error instanceof CancelledError);
  await second;
  assert.deepEqual(woken, [2]);
  assert.equal(condition.locked(), false);
});

Deno.test("Condition.wait() cancelled holds the lock again when it rejects", async () => {
  const condition = new Condition();
  const controller = new AbortController();
  const guard = await condition.acquire();
  const waiting = condition.wait({ signal: controller.signal });
  const other = await (async () => {
    // somebody else takes the lock meanwhile
    return await condition.acquire();
  })();
  controller.abort();
  let settled = false;
  const result = waiting.catch((e) => {
    settled = true;
    return e;
  });
  await flush();
  assert.equal(settled, false); // still waiting for the lock
  other.release();
  assert.ok((await result) instanceof CancelledError);
  assert.equal(condition.locked(), true);
  guard.release();
});

Deno.test("Condition rejects a lock that is not a Lock and a bad n", async () => {
  assert.throws(() => new Condition({} as Lock), TypeError);
  const condition = new Condition();
  using _ = await condition.acquire();
  assert.throws(() => condition.notify(-1), RangeError);
  assert.throws(() => condition.notify(1.5), RangeError);
  assert.throws(() => condition.notify("1" as unknown as number), TypeError);
});

// Property: waiters cancelled at random points, some right after being
// notified. Each notify(1) given while waiters wait wakes exactly one live
// waiter in the end: wake-ups are never lost, and the lock ends free.
for (const seed of [31, 32, 33, 34, 35]) {
  Deno.test(`Condition loses no notification under random cancellation (seed ${seed})`, async () => {
    const random = prng(seed);
    const condition = new Condition();
    const ops: Op<void>[] = [];
    let waiting = 0; // waiters between wait() and their wake-up or cancellation
    let woken = 0;
    for (let step = 0; step < 300; step++) {
      const r = random();
      if (r < 0.4) {
        ops.push(start(random, async (signal) => {
          using _ = await condition.acquire();
          waiting++;
          try {
            await condition.wait({ signal });
            woken++;
          } finally {
            waiting--;
          }
        }));
      } else if (r < 0.55) {
        const pending = ops.filter((op) => !op.settled);
        if (pending.length > 0) {
          pending[Math.floor(random() * pending.length)].cancel();
        }
      } else if (r < 0.75) {
        // notify, then maybe cancel a random waiter in the same tick
        const before = woken;
        const guard = await condition.acquire();
        const expected = waiting > 0 ? 1 : 0;
        condition.notify();
        if (random() < 0.5) {
          const pending = ops.filter((op) => !op.settled);
          if (pending.length > 0) {
            pending[Math.floor(random() * pending.length)].cancel();
          }
        }
        guard.release();
        await flush(30);
        // One wake-up, unless the cancellations left nobody to pass it to.
        if (expected === 1 && waiting > 0) assert.ok(woken - before >= 1);
      } else {
        await flush(Math.floor(random() * 4));
      }
    }
    for (const op of ops) op.cancel();
    await Promise.all(ops.map((op) => op.result));
    assert.equal(waiting, 0);
    assert.equal(condition.locked(), false);
    assert.ok(woken > 0);
  });
}

Deno.test("Condition.wait() in a cancelled scope rejects at once and keeps the lock held", async () => {
  const condition = new Condition();
  const guard = await condition.acquire();
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => condition.wait().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
  assert.equal(condition.locked(), true);
  guard.release();
});
