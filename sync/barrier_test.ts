import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { flush } from "./_test_util.ts";
import { Barrier, BrokenBarrierError } from "./barrier.ts";

Deno.test("Barrier.wait() blocks until all parties wait", async () => {
  const barrier = new Barrier(3);
  let passed = 0;
  const first = [barrier.wait(), barrier.wait()].map((p) =>
    p.then(() => passed++)
  );
  await flush();
  assert.equal(passed, 0);
  assert.equal(barrier.nWaiting, 2);
  await barrier.wait();
  await Promise.all(first);
  assert.equal(passed, 2);
  assert.equal(barrier.nWaiting, 0);
});

Deno.test("Barrier.wait() returns each party's arrival index", async () => {
  const barrier = new Barrier(4);
  const indices = await Promise.all([0, 1, 2, 3].map(() => barrier.wait()));
  assert.deepEqual(indices, [0, 1, 2, 3]);
});

Deno.test("Barrier is reusable for a second round", async () => {
  const barrier = new Barrier(2);
  assert.deepEqual(await Promise.all([barrier.wait(), barrier.wait()]), [0, 1]);
  assert.deepEqual(await Promise.all([barrier.wait(), barrier.wait()]), [0, 1]);
});

Deno.test("Barrier.abort() breaks waiting and later waits", async () => {
  const barrier = new Barrier(3);
  const waiting = barrier.wait();
  barrier.abort();
  assert.equal(barrier.broken, true);
  await assert.rejects(waiting, BrokenBarrierError);
  await assert.rejects(barrier.wait(), BrokenBarrierError);
  assert.equal(barrier.nWaiting, 0);
});

Deno.test("Barrier.reset() breaks the waiting parties and leaves the barrier usable", async () => {
  const barrier = new Barrier(2);
  const waiting = barrier.wait();
  barrier.reset();
  await assert.rejects(waiting, BrokenBarrierError);
  assert.equal(barrier.broken, false);
  assert.deepEqual(await Promise.all([barrier.wait(), barrier.wait()]), [0, 1]);
});

Deno.test("Barrier.reset() repairs an aborted barrier", async () => {
  const barrier = new Barrier(1);
  barrier.abort();
  barrier.reset();
  assert.equal(await barrier.wait(), 0);
});

Deno.test("Barrier.wait() cancelled leaves the round without breaking it", async () => {
  const barrier = new Barrier(2);
  const controller = new AbortController();
  const cancelled = barrier.wait({ signal: controller.signal });
  controller.abort();
  await assert.rejects(cancelled, CancelledError);
  assert.equal(barrier.nWaiting, 0);
  assert.equal(barrier.broken, false);
  assert.deepEqual(await Promise.all([barrier.wait(), barrier.wait()]), [0, 1]);
});

Deno.test("Barrier.wait() by the last party in a cancelled scope does not release the round", async () => {
  const barrier = new Barrier(2);
  let passed = false;
  const first = barrier.wait().then(() => passed = true);
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => barrier.wait().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
  await flush();
  assert.equal(passed, false);
  assert.equal(barrier.nWaiting, 1);
  await barrier.wait();
  await first;
});

Deno.test("Barrier.parties is the number given", () => {
  assert.equal(new Barrier(5).parties, 5);
});

Deno.test("Barrier rejects a bad number of parties", async (t) => {
  for (const parties of [0, -1, 1.5, NaN]) {
    await t.step(`RangeError for ${parties}`, () => {
      assert.throws(() => new Barrier(parties), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.ok(error.message.includes(String(parties)));
        return true;
      });
    });
  }
  await t.step("TypeError for a string", () => {
    assert.throws(() => new Barrier("2" as unknown as number), TypeError);
  });
});
