import assert from "node:assert/strict";
import { FakeTime } from "../testing/fake_time.ts";
import { CancelledError } from "./cancel_scope.ts";
import { sleep } from "./sleep.ts";
import { createTask } from "./task.ts";
import { throttle } from "./throttle.ts";

Deno.test("throttle() calls fn at once, then drops calls until the time frame ends", () => {
  using time = new FakeTime(0);
  const calls: number[] = [];
  const t = throttle((n: number) => calls.push(n), 100);
  t(1);
  assert.deepEqual(calls, [1]);
  assert.equal(t.throttling, true);
  t(2);
  time.tick(50);
  t(3);
  assert.deepEqual(calls, [1]);
  assert.equal(t.pending, false);
  assert.equal(time.pending, 0); // no timer without a kept call
  time.tick(50);
  assert.equal(t.throttling, false);
  t(4);
  assert.deepEqual(calls, [1, 4]);
});

Deno.test("throttle() with ensureLastCall makes the frame's last call when it ends, which starts a frame", () => {
  using time = new FakeTime(0);
  const calls: [number, number][] = [];
  const t = throttle((n: number) => calls.push([n, Date.now()]), 100, {
    ensureLastCall: true,
  });
  t(1);
  time.tick(20);
  t(2);
  time.tick(20);
  t(3);
  assert.equal(t.pending, true);
  time.tick(60);
  assert.deepEqual(calls, [[1, 0], [3, 100]]);
  time.tick(50);
  t(4); // in the frame the kept call started
  time.tick(50);
  assert.deepEqual(calls, [[1, 0], [3, 100], [4, 200]]);
});

Deno.test("throttle() cancel() drops the kept call and ends the frame", () => {
  using time = new FakeTime(0);
  const calls: number[] = [];
  const t = throttle((n: number) => calls.push(n), 100, {
    ensureLastCall: true,
  });
  t(1);
  t(2);
  t.cancel();
  assert.equal(t.pending, false);
  assert.equal(t.throttling, false);
  assert.equal(time.pending, 0);
  t(3);
  assert.deepEqual(calls, [1, 3]);
  t.cancel();
});

Deno.test("throttle() flush() makes the kept call now", () => {
  using time = new FakeTime(0);
  const calls: number[] = [];
  const t = throttle((n: number) => calls.push(n), 100, {
    ensureLastCall: true,
  });
  t(1);
  t(2);
  t.flush();
  assert.deepEqual(calls, [1, 2]);
  assert.equal(t.pending, false);
  time.tick(1000);
  assert.deepEqual(calls, [1, 2]);
});

Deno.test("throttle() drops a kept call when the caller's scope is cancelled first", async () => {
  using time = new FakeTime(0);
  const calls: number[] = [];
  const t = throttle((n: number) => calls.push(n), 100, {
    ensureLastCall: true,
  });
  t(1);
  const task = createTask(async () => {
    t(2);
    await sleep(60_000);
  });
  await time.tickAsync(10);
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.equal(t.pending, false);
  await time.tickAsync(1000);
  assert.deepEqual(calls, [1]);
});

Deno.test("throttle() runs a kept call in its caller's scope", async () => {
  using time = new FakeTime(0);
  let outcome = "";
  const t = throttle(
    async (kept: boolean) => {
      if (!kept) return;
      try {
        await sleep(1000);
        outcome = "slept";
      } catch (error) {
        outcome = error instanceof CancelledError ? "cancelled" : "failed";
      }
    },
    100,
    { ensureLastCall: true },
  );
  t(false);
  const task = createTask(async () => {
    t(true);
    await sleep(60_000);
  });
  await time.tickAsync(100); // the kept call runs and sleeps, in the task
  assert.equal(outcome, "");
  task.cancel();
  await assert.rejects(task, CancelledError);
  await time.runMicrotasks();
  assert.equal(outcome, "cancelled");
});

Deno.test("throttle() lets an error of a call made at once reach the caller", () => {
  using _time = new FakeTime(0);
  const t = throttle(() => {
    throw new Error("now");
  }, 100);
  assert.throws(() => t(), /now/);
  assert.equal(t.throttling, true);
});

Deno.test("throttle() refuses a bad fn or timeframe", () => {
  // @ts-expect-error: checked at run time too
  assert.throws(() => throttle("x", 10), /Cannot throttle: 'fn'.*got string/);
  assert.throws(() => throttle(() => {}, -5), /'timeframe'.*got -5/);
});
