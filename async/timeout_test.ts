import assert from "node:assert/strict";
import {
  CancelledError,
  CancelScope,
  checkpoint,
  createTask,
  moveOnAfter,
  moveOnAt,
  sleep,
  timeout,
  timeoutAt,
  TimeoutError,
} from "./mod.ts";

Deno.test("timeout: on expiry the awaits inside reject with CancelledError and the scope throws TimeoutError", async () => {
  let inside: unknown;
  const error = await timeout(5, async () => {
    try {
      await sleep(60_000);
    } catch (e) {
      inside = e;
      throw e;
    }
  }).then(() => undefined, (e) => e);
  assert.ok(inside instanceof CancelledError);
  assert.ok(error instanceof TimeoutError);
});

Deno.test("timeout returns the result when the work finishes in time, and clears its timer", async () => {
  const value = await timeout(60_000, async (scope) => {
    await checkpoint();
    assert.equal(scope.expired(), false);
    return "in time";
  });
  assert.equal(value, "in time");
  // A leaked 60 s timer would fail this test under the op sanitizer.
});

Deno.test("timeout: work that catches the cancellation and returns is not a TimeoutError", async () => {
  const value = await timeout(5, async () => {
    try {
      await sleep(60_000);
    } catch {
      return "recovered";
    }
  });
  assert.equal(value, "recovered");
});

Deno.test("nested timeouts: only the inner one that expired becomes a TimeoutError", async () => {
  const log: string[] = [];
  const value = await timeout(60_000, async () => {
    try {
      await timeout(5, () => sleep(60_000));
    } catch (e) {
      log.push(`inner: ${(e as Error).name}`);
    }
    await checkpoint(); // the outer scope is still live
    return "outer carried on";
  });
  assert.equal(value, "outer carried on");
  assert.deepEqual(log, ["inner: TimeoutError"]);
});

Deno.test("nested timeouts: when the outer one expires, the inner sees a cancellation and the outer throws TimeoutError", async () => {
  let innerSaw: unknown;
  const error = await timeout(5, async () => {
    try {
      await timeout(60_000, () => sleep(60_000));
    } catch (e) {
      innerSaw = e;
      throw e;
    }
  }).then(() => undefined, (e) => e);
  assert.ok(innerSaw instanceof CancelledError);
  assert.ok(!(innerSaw instanceof TimeoutError));
  assert.ok(error instanceof TimeoutError);
});

Deno.test("timeout: an outer cancellation stays a cancellation", async () => {
  let started!: () => void;
  const ready = new Promise<void>((resolve) => started = resolve);
  const task = createTask(() =>
    timeout(60_000, async () => {
      started();
      await sleep(60_000);
    })
  );
  await ready;
  task.cancel();
  const error = await task.then(() => undefined, (e) => e);
  assert.ok(error instanceof CancelledError);
  assert.ok(!(error instanceof TimeoutError));
});

Deno.test("timeout: with one deadline for both, the outer one owns the expiry", async () => {
  const deadline = performance.now() + 5;
  let innerError: unknown;
  const error = await timeoutAt(deadline, async () => {
    try {
      await timeoutAt(deadline, () => sleep(60_000));
    } catch (e) {
      innerError = e;
      throw e;
    }
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof TimeoutError);
  assert.ok(innerError instanceof CancelledError);
  assert.ok(!(innerError instanceof TimeoutError));
});

Deno.test("scope.reschedule moves the deadline later", async () => {
  const value = await timeout(5, async (scope) => {
    scope.reschedule(60_000);
    await sleep(20);
    return scope.expired();
  });
  assert.equal(value, false);
});

Deno.test("scope.reschedule moves the deadline earlier", async () => {
  await assert.rejects(
    timeout(60_000, async (scope) => {
      const before = scope.deadline;
      scope.reschedule(1);
      assert.ok(scope.deadline < before);
      await sleep(60_000);
    }),
    TimeoutError,
  );
});

Deno.test("scope.deadline is on the performance.now() clock", async () => {
  const start = performance.now();
  await timeout(1000, (scope) => {
    assert.ok(scope.deadline >= start + 1000);
    assert.ok(scope.deadline <= performance.now() + 1000);
  });
});

Deno.test("timeoutAt uses an absolute deadline; a past one expires at the first await", async () => {
  await assert.rejects(
    timeoutAt(performance.now() - 1, () => sleep(60_000)),
    TimeoutError,
  );
  assert.equal(
    await timeoutAt(performance.now() + 60_000, () => "fine"),
    "fine",
  );
});

Deno.test("moveOnAfter returns undefined on expiry and the result otherwise", async () => {
  assert.equal(await moveOnAfter(5, () => sleep(60_000)), undefined);
  assert.equal(await moveOnAfter(60_000, () => 3), 3);
  assert.equal(
    await moveOnAt(performance.now(), () => sleep(60_000)),
    undefined,
  );
});

Deno.test("moveOnAfter: an outer cancellation is not swallowed", async () => {
  let started!: () => void;
  const ready = new Promise<void>((resolve) => started = resolve);
  const task = createTask(() =>
    moveOnAfter(60_000, async () => {
      started();
      await sleep(60_000);
    })
  );
  await ready;
  task.cancel();
  await assert.rejects(task, CancelledError);
});

Deno.test("timeout, timeoutAt and moveOnAfter reject bad input with a clear error, never throwing synchronously", async () => {
  for (const ms of [-1, NaN]) {
    await assert.rejects(timeout(ms, () => {}), RangeError);
    await assert.rejects(moveOnAfter(ms, () => {}), RangeError);
  }
  await assert.rejects(timeout("5" as never, () => {}), TypeError);
  await assert.rejects(moveOnAfter("5" as never, () => {}), TypeError);
  await assert.rejects(timeout(5, null as never), TypeError);
  await assert.rejects(timeoutAt(NaN, () => {}), RangeError);
  await assert.rejects(timeoutAt("0" as never, () => {}), TypeError);
  await assert.rejects(moveOnAt(NaN, () => {}), RangeError);
  await assert.rejects(moveOnAt(0, 1 as never), TypeError);
});

Deno.test("a deadline already passed at entry cancels the scope at once: timeout(0, () => sleep(0)) throws TimeoutError", async () => {
  await assert.rejects(timeout(0, () => sleep(0)), TimeoutError);
  await assert.rejects(timeout(0, () => checkpoint()), TimeoutError);
  await assert.rejects(
    timeoutAt(performance.now() - 1000, () => sleep(1)),
    TimeoutError,
  );
  assert.equal(
    await moveOnAfter(0, () => sleep(0).then(() => "ran")),
    undefined,
  );
  const scope = new CancelScope({ deadline: performance.now() - 1 });
  assert.equal(scope.cancelled, true);
  assert.equal(scope.expired(), true);
  // Code that never awaits is not interrupted (Trio's rule).
  assert.equal(await timeout(0, () => "no await"), "no await");
});

Deno.test("moving a deadline into the past cancels the scope at once", async () => {
  const value = await moveOnAfter(60_000, async (scope) => {
    scope.deadline = performance.now() - 1;
    assert.equal(scope.cancelled, true);
    await checkpoint();
    return "not reached";
  });
  assert.equal(value, undefined);
});

Deno.test("queue.get() on a non-empty queue inside timeout(0) does not take the item", async () => {
  const { Queue } = await import("../sync/queue.ts");
  const queue = new Queue<number>();
  queue.putNowait(1);
  await assert.rejects(timeout(0, () => queue.get()), TimeoutError);
  assert.equal(queue.qsize(), 1);
});
