import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { flush } from "./_test_util.ts";
import { Event } from "./event.ts";

Deno.test("Event starts cleared", () => {
  assert.equal(new Event().isSet(), false);
});

Deno.test("Event.wait() blocks until set() and then resolves to true", async () => {
  const event = new Event();
  let woken = false;
  const waiting = event.wait().then((value) => {
    woken = true;
    return value;
  });
  await flush();
  assert.equal(woken, false);
  event.set();
  assert.equal(await waiting, true);
});

Deno.test("Event.set() wakes every waiter", async () => {
  const event = new Event();
  const waiters = [event.wait(), event.wait(), event.wait()];
  event.set();
  assert.deepEqual(await Promise.all(waiters), [true, true, true]);
});

Deno.test("Event.wait() on a set event resolves at once", async () => {
  const event = new Event();
  event.set();
  event.set(); // idempotent
  assert.equal(await event.wait(), true);
});

Deno.test("Event.clear() makes later waits block again", async () => {
  const event = new Event();
  event.set();
  event.clear();
  assert.equal(event.isSet(), false);
  let woken = false;
  const waiting = event.wait().then(() => woken = true);
  await flush();
  assert.equal(woken, false);
  event.set();
  await waiting;
});

Deno.test("Event waiters woken by set() stay woken after a clear() in the same tick", async () => {
  const event = new Event();
  const waiting = event.wait();
  event.set();
  event.clear();
  assert.equal(await waiting, true);
});

Deno.test("Event.wait() cancelled by its signal rejects and leaves other waiters", async () => {
  const event = new Event();
  const controller = new AbortController();
  const cancelled = event.wait({ signal: controller.signal });
  const other = event.wait();
  controller.abort();
  await assert.rejects(cancelled, CancelledError);
  event.set();
  assert.equal(await other, true);
});

Deno.test("Event.wait() in a cancelled scope rejects even when the event is set", async () => {
  const event = new Event();
  event.set();
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => event.wait().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
});

Deno.test("Event.wait() is cancelled by its scope while waiting", async () => {
  const event = new Event();
  const scope = new CancelScope();
  let error: unknown;
  const waiting = scope.run(() => event.wait().catch((e) => error = e));
  scope.cancel();
  await waiting;
  assert.ok(error instanceof CancelledError);
});
