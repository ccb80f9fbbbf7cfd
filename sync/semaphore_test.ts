import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { churnGuards, flush, prng } from "./_test_util.ts";
import { BoundedSemaphore, Semaphore } from "./semaphore.ts";

Deno.test("Semaphore.acquire() takes a permit and the guard gives it back", async () => {
  const semaphore = new Semaphore(2);
  const guard = await semaphore.acquire();
  assert.equal(semaphore.value, 1);
  guard.release();
  assert.equal(semaphore.value, 2);
});

Deno.test("Semaphore defaults to one permit", () => {
  assert.equal(new Semaphore().value, 1);
});

Deno.test("Semaphore guard released twice throws and returns one permit", async () => {
  const semaphore = new Semaphore(1);
  const guard = await semaphore.acquire();
  guard.release();
  assert.throws(() => guard.release(), /already released/);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.locked() is true when no permit is free", async () => {
  const semaphore = new Semaphore(1);
  assert.equal(semaphore.locked(), false);
  using _ = await semaphore.acquire();
  assert.equal(semaphore.locked(), true);
});

Deno.test("Semaphore.acquire() waits for a release when no permit is free", async () => {
  const semaphore = new Semaphore(1);
  const guard = await semaphore.acquire();
  let acquired = false;
  const waiting = semaphore.acquire().then((g) => {
    acquired = true;
    return g;
  });
  await flush();
  assert.equal(acquired, false);
  guard.release();
  (await waiting).release();
  assert.equal(acquired, true);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore serves waiters first come, first served", async () => {
  const semaphore = new Semaphore(0);
  const order: number[] = [];
  const waiters = [1, 2, 3].map(async (id) => {
    using _ = await semaphore.acquire();
    order.push(id);
  });
  semaphore.release();
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("Semaphore.release() hands the permit to the oldest waiter, not to a newcomer", async () => {
  const semaphore = new Semaphore(0);
  const order: string[] = [];
  const waiter = semaphore.acquire().then((g) => {
    order.push("waiter");
    g.release();
  });
  semaphore.release();
  assert.equal(semaphore.value, 0); // handed over, not freed
  const newcomer = semaphore.acquire().then((g) => {
    order.push("newcomer");
    g.release();
  });
  await Promise.all([waiter, newcomer]);
  assert.deepEqual(order, ["waiter", "newcomer"]);
});

Deno.test("Semaphore.acquire() cancelled in the tick of the release takes no permit", async () => {
  const semaphore = new Semaphore(0);
  const controller = new AbortController();
  const waiting = semaphore.acquire({ signal: controller.signal });
  controller.abort();
  semaphore.release();
  await assert.rejects(waiting, CancelledError);
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore.acquire() in a cancelled scope rejects even with a free permit", async () => {
  const semaphore = new Semaphore(1);
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => semaphore.acquire().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
  assert.equal(semaphore.value, 1);
});

Deno.test("BoundedSemaphore.release() past its bound throws and changes nothing", async () => {
  const semaphore = new BoundedSemaphore(2);
  const guard = await semaphore.acquire();
  semaphore.release();
  assert.throws(() => semaphore.release(), /released too many times/);
  assert.equal(semaphore.value, 2);
  assert.throws(() => guard.release(), /released too many times/);
});

Deno.test("BoundedSemaphore.release() hands the permit to a waiter", async () => {
  const semaphore = new BoundedSemaphore(1);
  const guard = await semaphore.acquire();
  const waiting = semaphore.acquire();
  guard.release();
  (await waiting).release();
  assert.equal(semaphore.value, 1);
});

Deno.test("Semaphore rejects a bad value", async (t) => {
  for (const Class of [Semaphore, BoundedSemaphore]) {
    for (const value of [-1, 0.5, NaN, Infinity]) {
      await t.step(`${Class.name}(${value}) throws RangeError`, () => {
        assert.throws(() => new Class(value), (error: Error) => {
          assert.ok(error instanceof RangeError);
          assert.ok(error.message.includes(String(value)));
          return true;
        });
      });
    }
    await t.step(`${Class.name}("1") throws TypeError`, () => {
      assert.throws(() => new Class("1" as unknown as number), TypeError);
    });
  }
});

// Property: acquirers cancelled at random points (often in the tick of the
// release racing with them); at most `permits` guards are held at once, and
// the permits all come back.
for (const seed of [21, 22, 23, 24, 25, 26]) {
  Deno.test(`Semaphore never leaks a permit under random cancellation (seed ${seed})`, async () => {
    const random = prng(seed);
    const permits = 1 + Math.floor(random() * 3);
    const semaphore = seed % 2 === 0
      ? new Semaphore(permits)
      : new BoundedSemaphore(permits);
    const { held, acquired, started } = await churnGuards(
      random,
      (signal) => semaphore.acquire({ signal }),
      (held) => assert.ok(held + semaphore.value <= permits),
    );
    for (const guard of held) guard.release();
    assert.equal(semaphore.value, permits);
    assert.equal(semaphore.locked(), false);
    assert.ok(acquired > 0 && acquired < started);
  });
}
