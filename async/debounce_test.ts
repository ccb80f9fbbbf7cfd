import assert from "node:assert/strict";
import { FakeTime } from "../testing/fake_time.ts";
import { CancelledError, CancelScope } from "./cancel_scope.ts";
import { debounce } from "./debounce.ts";
import { sleep } from "./sleep.ts";
import {
  createTask,
  type ExceptionContext,
  setExceptionHandler,
} from "./task.ts";

Deno.test("debounce() calls fn once, with the last arguments, after calls pause for `wait`", () => {
  using time = new FakeTime(0);
  const calls: [string, number][] = [];
  const d = debounce((s: string, n: number) => calls.push([s, n]), 100);
  d("a", 1);
  time.tick(99);
  d("b", 2); // restarts the wait
  time.tick(99);
  assert.deepEqual(calls, []);
  assert.equal(d.pending, true);
  time.tick(1);
  assert.deepEqual(calls, [["b", 2]]);
  assert.equal(d.pending, false);
  assert.equal(time.pending, 0);
});

Deno.test("debounce() cancel() drops the pending call and its timer", () => {
  using time = new FakeTime(0);
  let called = 0;
  const d = debounce(() => called++, 100);
  d();
  d.cancel();
  assert.equal(d.pending, false);
  assert.equal(time.pending, 0);
  time.tick(1000);
  assert.equal(called, 0);
  d.cancel(); // nothing pending: nothing to do
});

Deno.test("debounce() flush() makes the pending call now, once", () => {
  using time = new FakeTime(0);
  const calls: number[] = [];
  const d = debounce((n: number) => calls.push(n), 100);
  d.flush(); // nothing pending
  d(1);
  d(2);
  d.flush();
  assert.deepEqual(calls, [2]);
  assert.equal(d.pending, false);
  time.tick(1000);
  assert.deepEqual(calls, [2]);
});

Deno.test("debounce() runs fn in the scope of the last call: its awaits are cancelled with it", async () => {
  using time = new FakeTime(0);
  let outcome = "";
  const d = debounce(async () => {
    try {
      await sleep(1000);
      outcome = "slept";
    } catch (error) {
      outcome = error instanceof CancelledError ? "cancelled" : "failed";
    }
  }, 100);
  const task = createTask(async () => {
    d();
    await sleep(60_000);
  });
  await time.tickAsync(100); // fn runs and sleeps, in the task's scope
  assert.equal(outcome, "");
  task.cancel();
  await assert.rejects(task, CancelledError);
  await time.runMicrotasks();
  assert.equal(outcome, "cancelled");
});

Deno.test("debounce() drops the pending call when the caller's scope is cancelled first", async () => {
  using time = new FakeTime(0);
  let called = 0;
  const d = debounce(() => called++, 100);
  const task = createTask(async () => {
    d();
    await sleep(60_000);
  });
  await time.tickAsync(50);
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.equal(d.pending, false);
  await time.tickAsync(1000);
  assert.equal(called, 0);
});

Deno.test("debounce() called in a cancelled scope keeps nothing, and drops the call before", () => {
  using time = new FakeTime(0);
  let called = 0;
  const d = debounce(() => called++, 100);
  d();
  const scope = new CancelScope();
  scope.cancel();
  scope.run(() => d());
  assert.equal(d.pending, false);
  time.tick(1000);
  assert.equal(called, 0);
});

Deno.test("debounce() reports what fn throws or rejects with to the exception handler", async () => {
  using time = new FakeTime(0);
  const seen: ExceptionContext[] = [];
  const previous = setExceptionHandler((context) => seen.push(context));
  try {
    const thrown = new Error("thrown");
    const rejected = new Error("rejected");
    const d = debounce((how: string) => {
      if (how === "throw") throw thrown;
      return Promise.reject(rejected);
    }, 10);
    d("throw");
    time.tick(10);
    d("reject");
    await time.tickAsync(10);
    assert.deepEqual(seen.map((c) => c.error), [thrown, rejected]);
    assert.match(seen[0].message, /debounced function threw/);
  } finally {
    setExceptionHandler(previous);
  }
});

Deno.test("debounce() refuses a bad fn or wait", () => {
  // @ts-expect-error: checked at run time too
  assert.throws(() => debounce(42, 10), /Cannot debounce: 'fn'.*got number/);
  assert.throws(() => debounce(() => {}, -1), /'wait'.*got -1/);
  assert.throws(() => debounce(() => {}, NaN), RangeError);
});
