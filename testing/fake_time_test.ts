import assert from "node:assert/strict";
import {
  checkpoint,
  moveOnAfter,
  sleep,
  TaskGroup,
  timeout,
  TimeoutError,
} from "../async/mod.ts";
import { Lock, Queue } from "../sync/mod.ts";
import { FakeTime } from "./fake_time.ts";

const realNow = () => Performance.prototype.now.call(performance);

function globals() {
  return {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
    Date: globalThis.Date,
    performanceNow: performance.now,
    abortSignalTimeout: AbortSignal.timeout,
  };
}

Deno.test("FakeTime replaces every clock global while active", () => {
  const before = globals();
  using _time = new FakeTime(0);
  const during = globals();
  for (const key of Object.keys(before) as (keyof typeof before)[]) {
    assert.notEqual(during[key], before[key], key);
  }
});

Deno.test("FakeTime restores every clock global on dispose", () => {
  const before = globals();
  {
    using _time = new FakeTime(0);
  }
  assert.deepEqual(globals(), before);
  assert.equal(Object.hasOwn(performance, "now"), false);
});

Deno.test("FakeTime restores every clock global when the test body throws", () => {
  const before = globals();
  assert.throws(() => {
    using _time = new FakeTime(0);
    throw new Error("test failed");
  }, /test failed/);
  assert.deepEqual(globals(), before);
});

Deno.test("FakeTime refuses a second live clock", () => {
  using _time = new FakeTime(0);
  assert.throws(
    () => new FakeTime(0),
    /Cannot create a FakeTime: another FakeTime is active/,
  );
});

Deno.test("FakeTime can be created again once the first one is disposed", () => {
  new FakeTime(0).restore();
  using time = new FakeTime(5);
  assert.equal(time.now, 5);
});

Deno.test("FakeTime rejects bad options with the value", () => {
  assert.throws(() => new FakeTime(NaN), TypeError);
  assert.throws(() => new FakeTime({ idle: -1 }), /'idle'.*got -1/);
  assert.throws(() => new FakeTime({ loopLimit: 0 }), /'loopLimit'.*got 0/);
});

Deno.test("FakeTime starts at the given epoch time, a Date, or an option", () => {
  {
    using _time = new FakeTime(new Date("2030-01-01T00:00:00Z"));
    assert.equal(new Date().toISOString(), "2030-01-01T00:00:00.000Z");
  }
  using _time = new FakeTime({ start: 1234 });
  assert.equal(Date.now(), 1234);
});

Deno.test("FakeTime fakes new Date(), Date() and Date.now() and keeps the rest of Date", () => {
  using time = new FakeTime(Date.UTC(2024, 0, 1));
  time.tick(90_000);
  assert.equal(Date.now(), Date.UTC(2024, 0, 1, 0, 1, 30));
  assert.equal(new Date().getTime(), Date.now());
  assert.equal(Date(), new Date(Date.now()).toString());
  assert.equal(new Date(0).getTime(), 0);
  assert.equal(new Date(2020, 5, 1).getFullYear(), 2020);
  assert.equal(Date.parse("1970-01-01T00:00:01Z"), 1000);
  assert.ok(new Date() instanceof Date);
});

Deno.test("FakeTime moves performance.now() with the virtual clock", () => {
  using time = new FakeTime(0);
  const start = performance.now();
  time.tick(1500);
  assert.equal(performance.now() - start, 1500);
  assert.equal(Number.isInteger(start), true);
});

Deno.test("tick() fires due timers in order of due time, then creation", () => {
  using time = new FakeTime(0);
  const fired: string[] = [];
  setTimeout(() => fired.push("b@20"), 20);
  setTimeout(() => fired.push("a@10"), 10);
  setTimeout(() => fired.push("c@20"), 20);
  time.tick(20);
  assert.deepEqual(fired, ["a@10", "b@20", "c@20"]);
});

Deno.test("tick() leaves timers due later pending and moves to the target", () => {
  using time = new FakeTime(0);
  let fired = false;
  setTimeout(() => fired = true, 101);
  time.tick(100);
  assert.equal(fired, false);
  assert.equal(time.now, 100);
  assert.equal(time.pending, 1);
  time.tick(1);
  assert.equal(fired, true);
});

Deno.test("tick() sets the clock to each timer's due time as it fires", () => {
  using time = new FakeTime(0);
  const seen: number[] = [];
  setTimeout(() => seen.push(Date.now()), 30);
  setTimeout(() => seen.push(performance.now()), 70);
  const perfStart = performance.now();
  time.tick(100);
  assert.deepEqual(seen, [30, perfStart + 70]);
});

Deno.test("tick() passes extra arguments to the callback", () => {
  using time = new FakeTime(0);
  let got: unknown[] = [];
  setTimeout((...args: unknown[]) => got = args, 5, "a", 1);
  time.tick(5);
  assert.deepEqual(got, ["a", 1]);
});

Deno.test("clearTimeout() cancels a fake timer", () => {
  using time = new FakeTime(0);
  let fired = false;
  const id = setTimeout(() => fired = true, 10);
  clearTimeout(id);
  time.tick(100);
  assert.equal(fired, false);
  assert.equal(time.pending, 0);
});

Deno.test("clearTimeout() under FakeTime clears a real timer made before it", () => {
  // Deno's timers are `Timeout` objects, not numbers.
  const id = setTimeout(() => {}, 60_000);
  const interval = setInterval(() => {}, 60_000);
  using _time = new FakeTime(0);
  clearTimeout(id);
  clearInterval(interval);
  if (typeof id === "object") {
    assert.equal((id as { _destroyed?: boolean })._destroyed, true);
    assert.equal((interval as { _destroyed?: boolean })._destroyed, true);
  }
});

Deno.test("setInterval() fires every period until clearInterval()", () => {
  using time = new FakeTime(0);
  const at: number[] = [];
  const id = setInterval(() => at.push(Date.now()), 100);
  time.tick(350);
  clearInterval(id);
  time.tick(1000);
  assert.deepEqual(at, [100, 200, 300]);
});

Deno.test("An error thrown by a timer callback propagates out of tick()", () => {
  using time = new FakeTime(0);
  setTimeout(() => {
    throw new Error("callback failed");
  }, 10);
  assert.throws(() => time.tick(10), /callback failed/);
});

Deno.test("next() fires the earliest timer group and reports whether one was pending", () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  setTimeout(() => fired.push(1), 50);
  setTimeout(() => fired.push(2), 50);
  setTimeout(() => fired.push(3), 80);
  assert.equal(time.next(), true);
  assert.deepEqual(fired, [1, 2]);
  assert.equal(time.now, 50);
  assert.equal(time.next(), true);
  assert.equal(time.next(), false);
  assert.equal(time.now, 80);
});

Deno.test("runAll() fires timers set by fired timers", () => {
  using time = new FakeTime(0);
  let depth = 0;
  const again = () => {
    if (++depth < 5) setTimeout(again, 100);
  };
  setTimeout(again, 100);
  time.runAll();
  assert.equal(depth, 5);
  assert.equal(time.now, 500);
});

Deno.test("runAll() with an endless interval fails at loopLimit instead of hanging", () => {
  using time = new FakeTime(0, { loopLimit: 1000 });
  setInterval(() => {}, 10);
  assert.throws(() => time.runAll(), /after 1000 fired/);
});

Deno.test("The now setter moves the clock forward and refuses to go back", () => {
  using time = new FakeTime(0);
  let fired = false;
  setTimeout(() => fired = true, 10);
  time.now = 10;
  assert.equal(fired, true);
  assert.throws(() => time.now = 5, /only moves forward.*got 5/);
});

Deno.test("tickAsync() lets 100 awaits run between timers of a chain", async () => {
  using time = new FakeTime(0);
  const wokeAt: number[] = [];
  const chain = (async () => {
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      wokeAt.push(Date.now());
      for (let j = 0; j < 100; j++) await null; // a long await chain
    }
  })();
  await time.tickAsync(50);
  await chain;
  assert.deepEqual(wokeAt, [10, 20, 30, 40, 50]);
});

Deno.test("tick() alone does not run awaits between timers (why tickAsync exists)", async () => {
  using time = new FakeTime(0);
  let woke = 0;
  const chain = (async () => {
    await sleep(10);
    await null;
    await sleep(10);
    woke = Date.now();
  })();
  time.tick(20); // the second sleep is set only after this returns
  await time.runAllAsync();
  await chain;
  assert.equal(woke, 30);
});

Deno.test("tickAsync() of sleep chains with awaits lands at the exact virtual times", async () => {
  using time = new FakeTime(0);
  const wokeAt: number[] = [];
  const chain = (async () => {
    for (let i = 1; i <= 3; i++) {
      await sleep(i * 100);
      for (let j = 0; j < 100; j++) await Promise.resolve();
      wokeAt.push(Date.now());
    }
  })();
  await time.tickAsync(599);
  assert.deepEqual(wokeAt, [100, 300]);
  await time.tickAsync(1);
  await chain;
  assert.deepEqual(wokeAt, [100, 300, 600]);
});

Deno.test("runAllAsync() runs a chain of timers and awaits to the end", async () => {
  using time = new FakeTime(0);
  let hops = 0;
  const chain = (async () => {
    for (let i = 0; i < 100; i++) {
      await sleep(1000);
      await Promise.resolve();
      hops++;
    }
  })();
  await time.runAllAsync();
  await chain;
  assert.equal(hops, 100);
  assert.equal(time.now, 100_000);
});

Deno.test("nextAsync() fires the earliest timer after pending microtasks set it", async () => {
  using time = new FakeTime(0);
  const done = (async () => {
    for (let i = 0; i < 10; i++) await null;
    await sleep(700);
  })();
  assert.equal(await time.nextAsync(), true);
  await done;
  assert.equal(time.now, 700);
  assert.equal(await time.nextAsync(), false);
});

Deno.test("runMicrotasks() drains pending microtasks without moving the clock", async () => {
  using time = new FakeTime(0);
  let done = false;
  (async () => {
    for (let i = 0; i < 100; i++) await null;
    done = true;
  })();
  await time.runMicrotasks();
  assert.equal(done, true);
  assert.equal(time.now, 0);
});

Deno.test("A second tick while tickAsync() runs is an error", async () => {
  using time = new FakeTime(0);
  setTimeout(() => {}, 10);
  const running = time.tickAsync(10);
  assert.throws(() => time.tick(1), /still running/);
  await running;
});

Deno.test("AbortSignal.timeout() aborts on the virtual clock with a TimeoutError", () => {
  using time = new FakeTime(0);
  const signal = AbortSignal.timeout(5000);
  time.tick(4999);
  assert.equal(signal.aborted, false);
  time.tick(1);
  assert.equal(signal.aborted, true);
  assert.equal((signal.reason as DOMException).name, "TimeoutError");
});

Deno.test("sleep() under FakeTime resolves when the virtual time passes", async () => {
  using time = new FakeTime(0);
  let done = false;
  const slept = sleep(60_000).then(() => done = true);
  await time.tickAsync(59_999);
  assert.equal(done, false);
  await time.tickAsync(1);
  await slept;
  assert.equal(done, true);
});

Deno.test("timeout() under FakeTime expires at the exact virtual deadline", async () => {
  using time = new FakeTime(0);
  let timedOutAt = -1;
  const result = assert.rejects(
    timeout(5000, () => sleep(10_000)).finally(() => timedOutAt = Date.now()),
    TimeoutError,
  );
  await time.tickAsync(4999);
  assert.equal(timedOutAt, -1);
  await time.tickAsync(1);
  await result;
  assert.equal(timedOutAt, 5000);
});

Deno.test("timeout() with a fractional limit under FakeTime expires without spinning", async () => {
  using _time = new FakeTime({ autoAdvance: true });
  const start = performance.now();
  await assert.rejects(timeout(2.5, () => sleep(10)), TimeoutError);
  const elapsed = performance.now() - start;
  assert.ok(elapsed >= 2.5 && elapsed <= 3, `elapsed ${elapsed}`);
});

Deno.test("moveOnAfter() under FakeTime gives up after the virtual limit", async () => {
  using time = new FakeTime(0);
  const result = moveOnAfter(100, async () => {
    await sleep(1000);
    return "slept";
  });
  await time.runAllAsync();
  assert.equal(await result, undefined);
  assert.equal(time.now, 100);
});

Deno.test("autoAdvance runs a 30-second virtual sleep in milliseconds", async () => {
  using time = new FakeTime({ autoAdvance: true });
  const realStart = realNow();
  const start = time.now;
  await sleep(30_000);
  assert.equal(time.now - start, 30_000);
  assert.ok(realNow() - realStart < 1000);
});

Deno.test("autoAdvance runs timer chains with awaits at the right virtual times", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const wokeAt: number[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    for (let j = 0; j < 100; j++) await null;
    wokeAt.push(Date.now());
  }
  assert.deepEqual(wokeAt, [1000, 2000, 3000, 4000, 5000]);
  assert.equal(time.now, 5000);
});

Deno.test("autoAdvance runs a TaskGroup of sleeping tasks on the virtual clock", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const finished: [string, number][] = [];
  await TaskGroup.run((tg) => {
    for (
      const [name, ms] of [["slow", 3000], ["fast", 1000], [
        "mid",
        2000,
      ]] as const
    ) {
      tg.createTask(async () => {
        await sleep(ms);
        finished.push([name, Date.now()]);
      });
    }
  });
  assert.deepEqual(finished, [["fast", 1000], ["mid", 2000], ["slow", 3000]]);
});

Deno.test("autoAdvance makes a TaskGroup fail at the virtual time a child fails", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  let failedAt = -1;
  await assert.rejects(
    TaskGroup.run((tg) => {
      tg.createTask(() => sleep(60_000));
      tg.createTask(async () => {
        await sleep(1500);
        failedAt = Date.now();
        throw new Error("child failed");
      });
    }),
    AggregateError,
  );
  assert.equal(failedAt, 1500);
  assert.equal(Date.now(), 1500);
});

Deno.test("autoAdvance with an idle threshold waits that long in real time before jumping", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true, idle: 30 });
  const realStart = realNow();
  await sleep(1000);
  assert.equal(time.now, 1000);
  assert.ok(realNow() - realStart >= 29);
});

Deno.test("autoAdvance turned off leaves the clock still", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  time.autoAdvance = false;
  let done = false;
  const slept = sleep(10).then(() => done = true);
  await time.runMicrotasks();
  await time.runMicrotasks();
  assert.equal(done, false);
  assert.equal(time.now, 0);
  time.autoAdvance = true;
  await slept;
  assert.equal(time.now, 10);
});

Deno.test("autoAdvance leaves no real timer behind when disposed with timers pending", () => {
  // The op sanitizer fails this test if the clock's real loop outlives it.
  using time = new FakeTime({ autoAdvance: true, idle: 50 });
  setTimeout(() => {}, 1000);
  assert.equal(time.pending, 1);
});

Deno.test("Queue.get() with a timeout under FakeTime gives up at the virtual deadline, and a later get receives the item", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const queue = new Queue<string>();
  await TaskGroup.run(async (tg) => {
    tg.createTask(async () => {
      await sleep(2000);
      await queue.put("late");
    });
    await assert.rejects(timeout(1000, () => queue.get()), TimeoutError);
    assert.equal(Date.now(), 1000);
    assert.equal(await timeout(5000, () => queue.get()), "late");
    assert.equal(Date.now(), 2000);
  });
});

Deno.test("Queue.put() on a full queue with a timeout under FakeTime gives up and adds nothing", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const queue = new Queue<number>({ maxsize: 1 });
  queue.putNowait(1);
  await assert.rejects(timeout(500, () => queue.put(2)), TimeoutError);
  assert.equal(Date.now(), 500);
  assert.equal(queue.qsize(), 1);
  assert.equal(queue.getNowait(), 1);
});

Deno.test("Lock.acquire() with a timeout under FakeTime gives up at the deadline while another waiter gets the lock", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const lock = new Lock();
  const acquiredAt: number[] = [];
  await TaskGroup.run(async (tg) => {
    const held = await lock.acquire();
    tg.createTask(async () => {
      await sleep(3000);
      held.release();
    });
    tg.createTask(async () => {
      await assert.rejects(timeout(1000, () => lock.acquire()), TimeoutError);
      assert.equal(Date.now(), 1000);
    });
    tg.createTask(() =>
      timeout(5000, async () => {
        using _ = await lock.acquire();
        acquiredAt.push(Date.now());
      })
    );
  });
  assert.deepEqual(acquiredAt, [3000]);
  assert.equal(lock.locked(), false);
});

Deno.test("A fractional sleep finishes after one next() with the default start (the real date)", async () => {
  using time = new FakeTime();
  for (let i = 0; i < 40; i++) {
    const ms = 10 + i * 7.123456789 + Math.random();
    let done = false;
    const slept = sleep(ms).then(() => done = true);
    assert.equal(time.next(), true);
    await time.runMicrotasks();
    assert.equal(done, true, `sleep(${ms}) not finished after next()`);
    assert.equal(time.pending, 0, `sleep(${ms}) left a timer`);
    await slept;
  }
});

Deno.test("A fractional sleep finishes after one tickAsync(ms) with the default start", async () => {
  using time = new FakeTime();
  for (let i = 0; i < 40; i++) {
    const ms = 3 + i * 13.37 + Math.random();
    let done = false;
    const slept = sleep(ms).then(() => done = true);
    await time.tickAsync(ms);
    assert.equal(done, true, `sleep(${ms}) not finished after tickAsync(ms)`);
    await slept;
  }
});

Deno.test("A fractional timeout expires after one tickAsync(ms) with the default start", async () => {
  using time = new FakeTime();
  const ms = 1234.5678;
  const result = timeout(ms, () => sleep(60_000)).catch((e) => e);
  await time.tickAsync(ms);
  assert.ok((await result) instanceof TimeoutError);
});

Deno.test("tick() and tickAsync() without an argument fire what is due now and do not move", async () => {
  using time = new FakeTime(0);
  const fired: string[] = [];
  setTimeout(() => fired.push("zero"), 0);
  setTimeout(() => fired.push("later"), 1);
  time.tick();
  assert.deepEqual(fired, ["zero"]);
  setTimeout(() => fired.push("zero again"));
  await time.tickAsync();
  assert.deepEqual(fired, ["zero", "zero again"]);
  assert.equal(time.now, 0);
});

Deno.test("autoAdvance does not move the clock while code only yields with checkpoint()", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const slept = sleep(1000);
  await checkpoint();
  assert.equal(time.now, 0);
  for (let i = 0; i < 20; i++) await checkpoint();
  assert.equal(time.now, 0);
  await slept;
  assert.equal(time.now, 1000);
});

Deno.test("autoAdvance does not move the clock across sleep(0) or setImmediate chains", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const slept = sleep(1000);
  await sleep(0);
  assert.equal(time.now, 0);
  await new Promise<void>((resolve) => {
    let n = 0;
    const hop = () => ++n === 10 ? resolve() : setImmediate(hop);
    setImmediate(hop);
  });
  assert.equal(time.now, 0);
  // Two chains side by side: each sees the other's immediates pending.
  await Promise.all([checkpoint(), checkpoint().then(() => checkpoint())]);
  assert.equal(time.now, 0);
  await slept;
  assert.equal(time.now, 1000);
});

Deno.test("autoAdvance waits for a zero-delay timer's awaits before jumping", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const order: string[] = [];
  const long = sleep(500).then(() => order.push(`long@${time.now}`));
  await new Promise((resolve) => setTimeout(resolve, 0));
  await checkpoint();
  order.push(`yielded@${time.now}`);
  await long;
  assert.deepEqual(order, ["yielded@0", "long@500"]);
});

Deno.test("After restore, saved fake setTimeout and setInterval throw and saved Date.now and performance.now are real", () => {
  const time = new FakeTime(0);
  const savedSetTimeout = setTimeout;
  const savedSetInterval = setInterval;
  const savedClearTimeout = clearTimeout;
  const savedDateNow = Date.now;
  const SavedDate = Date;
  const savedPerfNow = performance.now;
  const savedTimeout = AbortSignal.timeout;
  time.restore();
  assert.throws(() => savedSetTimeout(() => {}, 10), /was restored/);
  assert.throws(() => savedSetInterval(() => {}, 10), /was restored/);
  savedClearTimeout(123); // harmless
  assert.ok(savedDateNow() > 1_600_000_000_000);
  assert.ok(new SavedDate().getTime() > 1_600_000_000_000);
  assert.ok(Math.abs(savedPerfNow.call(performance) - realNow()) < 1000);
  const signal = savedTimeout.call(AbortSignal, 60_000);
  assert.equal(signal.aborted, false);
});

Deno.test("FakeTime.restore() restores the active clock and does nothing without one", () => {
  const before = globals();
  const time = new FakeTime(0);
  FakeTime.restore();
  assert.deepEqual(globals(), before);
  FakeTime.restore();
  assert.throws(() => time.tick(1), /disposed/);
  using _again = new FakeTime(0); // the first one is no longer active
});

Deno.test("FakeTime.restoreFor() runs a function on the real clock, then the fake one is back with its timers", async () => {
  using time = new FakeTime(0);
  const fake = globals();
  let fired = false;
  setTimeout(() => fired = true, 100);
  const real = await FakeTime.restoreFor(async () => {
    await Promise.resolve();
    assert.notEqual(setTimeout, fake.setTimeout);
    return Date.now();
  });
  assert.ok(real > 1_600_000_000_000);
  assert.deepEqual(globals(), fake);
  assert.equal(Date.now(), 0);
  time.tick(100);
  assert.equal(fired, true);
  await assert.rejects(
    FakeTime.restoreFor(() => {
      throw new Error("inside");
    }),
    /inside/,
  );
  assert.deepEqual(globals(), fake);
});

Deno.test("FakeTime.restoreFor() rejects when no FakeTime is active", async () => {
  await assert.rejects(
    FakeTime.restoreFor(() => 1),
    /Cannot restore the real clock for a call: no FakeTime is active/,
  );
});

Deno.test("delay() waits on the real clock while the clock is fake", async () => {
  using time = new FakeTime(0);
  const start = realNow();
  await time.delay(20);
  assert.ok(realNow() - start >= 19);
  assert.equal(time.now, 0);
  const controller = new AbortController();
  const reason = new Error("stop");
  const waiting = time.delay(60_000, { signal: controller.signal });
  controller.abort(reason);
  await assert.rejects(waiting, (e) => e === reason);
  await assert.rejects(time.delay(-1), RangeError);
});

Deno.test("setSystemTime() moves Date only: no timer fires and performance.now() stays", () => {
  using time = new FakeTime(0);
  let fired = false;
  setTimeout(() => fired = true, 1000);
  const perf = performance.now();
  time.setSystemTime(Date.UTC(2030, 0, 1));
  assert.equal(Date.now(), Date.UTC(2030, 0, 1));
  assert.equal(time.now, Date.UTC(2030, 0, 1));
  assert.equal(performance.now(), perf);
  assert.equal(fired, false);
  time.setSystemTime("2000-01-01T00:00:00Z"); // back is allowed
  assert.equal(new Date().toISOString(), "2000-01-01T00:00:00.000Z");
  time.tick(1000);
  assert.equal(fired, true);
  assert.equal(Date.now(), Date.UTC(2000, 0, 1, 0, 0, 1));
  assert.throws(() => time.setSystemTime(NaN), TypeError);
});

Deno.test("runToLast() fires up to the latest pending timer, not an interval for ever", async () => {
  using time = new FakeTime(0);
  const fired: number[] = [];
  const id = setInterval(() => fired.push(Date.now()), 300);
  setTimeout(() => {
    setTimeout(() => fired.push(-1), 5000); // due after the last: left
  }, 1000);
  time.runToLast();
  assert.equal(time.now, 1000);
  assert.deepEqual(fired, [300, 600, 900]);
  clearInterval(id);
  assert.equal(time.pending, 1);
  await time.runToLastAsync();
  assert.equal(time.now, 6000);
  assert.deepEqual(fired, [300, 600, 900, -1]);
  time.runToLast(); // nothing pending
  assert.equal(time.now, 6000);
});

Deno.test("FakeTime starts at a date string and reports its start", () => {
  using time = new FakeTime("2030-01-01T00:00:00Z");
  assert.equal(time.start, Date.UTC(2030, 0, 1));
  time.tick(1500);
  assert.equal(time.now - time.start, 1500);
  assert.equal(new Date().toISOString(), "2030-01-01T00:00:01.500Z");
  assert.throws(() => new FakeTime("not a date"), TypeError);
});
