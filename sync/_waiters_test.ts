import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { rejection } from "../async/_internal.ts";
import { park, Waiters } from "./_waiters.ts";

Deno.test("Waiters shifts in FIFO order across growth and withdrawals", () => {
  const waiters = new Waiters<number, number>();
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
    payloads.push(waiters.peekPayload()!);
    waiters.resolveNext(0);
  }
  const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) =>
    i % 3 !== 0
  );
  assert.deepEqual(seen, expected);
  assert.deepEqual(payloads, expected);
  assert.equal(waiters.shift(), undefined);
});

Deno.test("Waiters makes its payload slots with the first payload, keeping the order", () => {
  const waiters = new Waiters<number, string>();
  for (let i = 0; i < 5; i++) waiters.push(() => {}); // no payloads yet
  waiters.push(() => {}, "a");
  for (let i = 0; i < 20; i++) {
    waiters.push(() => {}, i % 2 ? `p${i}` : undefined);
  }
  const payloads: (string | undefined)[] = [];
  while (waiters.size > 0) {
    payloads.push(waiters.peekPayload());
    waiters.shift();
  }
  assert.deepEqual(payloads, [
    ...Array(5).fill(undefined),
    "a",
    ...Array.from({ length: 20 }, (_, i) => i % 2 ? `p${i}` : undefined),
  ]);
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
  (waiters.shift() as (value: PromiseLike<number>) => void)(
    rejection(new CancelledError("gone")),
  );
  await assert.rejects(waiting, /gone/);
});

Deno.test("Waiters.rejectAll() rejects bare and cancellable waiters in order", async () => {
  const waiters = new Waiters<number>();
  const order: string[] = [];
  const bare = park(waiters, undefined).catch((e) => order.push(`bare ${e}`));
  const controller = new AbortController();
  const withSignal = park(waiters, { signal: controller.signal }).catch((e) =>
    order.push(`signal ${e}`)
  );
  const scope = new CancelScope();
  const inScope = scope.run(() =>
    park(waiters, undefined).catch((e) => order.push(`scope ${e}`))
  );
  assert.equal(waiters.size, 3);
  waiters.rejectAll("stop");
  assert.equal(waiters.size, 0);
  await Promise.all([bare, withSignal, inScope]);
  assert.deepEqual(order, ["bare stop", "signal stop", "scope stop"]);
  controller.abort(); // too late: the waiter already ended
});

Deno.test("park() in a cancel scope withdraws the waiter when the scope is cancelled", async () => {
  const waiters = new Waiters<string>();
  const scope = new CancelScope();
  const first = scope.run(() => park(waiters, undefined));
  const second = park(waiters, undefined);
  assert.equal(waiters.size, 2);
  scope.cancel();
  assert.equal(waiters.size, 1); // withdrawn synchronously
  assert.equal(await first, undefined); // the scope caught its cancellation
  assert.ok(waiters.resolveNext("the next one gets it"));
  assert.equal(await second, "the next one gets it");
  assert.equal(waiters.resolveNext("nobody"), false);
});

Deno.test("park() withdraws a waiter whose signal aborts and calls onWithdraw", async () => {
  let withdrawn = 0;
  const waiters = new Waiters<number>(() => withdrawn++);
  const controller = new AbortController();
  const waiting = park(waiters, { signal: controller.signal });
  assert.equal(waiters.size, 1);
  controller.abort();
  await assert.rejects(waiting, CancelledError);
  assert.equal(waiters.size, 0);
  assert.equal(withdrawn, 1);
});
