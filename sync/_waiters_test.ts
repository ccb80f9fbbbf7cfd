import assert from "node:assert/strict";
import { CancelledError } from "../async/cancel_scope.ts";
import { park, rejection, Waiters } from "./_waiters.ts";

Deno.test("Waiters shifts in FIFO order across growth and withdrawals", () => {
  const waiters = new Waiters<number, number>(true);
  const seen: number[] = [];
  const indices: number[] = [];
  for (let i = 0; i < 50; i++) {
    indices.push(waiters.push(() => seen.push(i), i));
  }
  for (let i = 0; i < 50; i += 3) waiters.withdraw(indices[i]);
  waiters.withdraw(indices[3]); // already withdrawn: no effect
  assert.equal(waiters.size, 50 - 17);
  const payloads: number[] = [];
  while (waiters.size > 0) {
    payloads.push(waiters.peekPayload());
    waiters.shift()!(0);
  }
  const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) =>
    i % 3 !== 0
  );
  assert.deepEqual(seen, expected);
  assert.deepEqual(payloads, expected);
  assert.equal(waiters.shift(), undefined);
});

Deno.test("Waiters reuses its slots when the newest waiter is withdrawn", () => {
  const waiters = new Waiters<number>();
  waiters.push(() => {});
  for (let i = 0; i < 1000; i++) waiters.withdraw(waiters.push(() => {}));
  assert.equal(waiters.size, 1);
  // the index of the next push shows that no hole was left behind
  assert.equal(waiters.push(() => {}), 1);
});

Deno.test("park() rejects a waiter resolved with a rejection", async () => {
  const waiters = new Waiters<number>();
  const waiting = park(waiters, undefined);
  waiters.shift()!(rejection(new CancelledError("gone")));
  await assert.rejects(waiting, /gone/);
});

Deno.test("park() withdraws a waiter whose signal aborts and calls onWithdraw", async () => {
  let withdrawn = 0;
  const waiters = new Waiters<number>(false, () => withdrawn++);
  const controller = new AbortController();
  const waiting = park(waiters, { signal: controller.signal });
  assert.equal(waiters.size, 1);
  controller.abort();
  await assert.rejects(waiting, CancelledError);
  assert.equal(waiters.size, 0);
  assert.equal(withdrawn, 1);
});
