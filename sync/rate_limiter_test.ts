import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { flush } from "./_test_util.ts";
import { RateLimiter, type RateLimiterClock } from "./rate_limiter.ts";

/** A clock that moves only when told to. */
class ManualClock implements RateLimiterClock {
  time = 0;
  #timers = new Map<number, { due: number; fn: () => void }>();
  #nextId = 1;

  get pending(): number {
    return this.#timers.size;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#nextId++;
    this.#timers.set(id, { due: this.time + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Moves the clock to `time + ms`, firing the timers due on the way. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    while (true) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) {
        if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) {
          next = entry;
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.time = next[1].due;
      next[1].fn();
      await flush();
    }
    this.time = target;
    await flush();
  }
}

/** Starts `count` acquisitions and records the clock time of each. */
function acquireMany(
  limiter: RateLimiter,
  clock: ManualClock,
  count: number,
): { times: number[]; done: Promise<void[]> } {
  const times: number[] = [];
  const done = Promise.all(
    Array.from(
      { length: count },
      () => limiter.acquire().then(() => void times.push(clock.time)),
    ),
  );
  return { times, done };
}

Deno.test("RateLimiter allows a burst at once, then waits", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 3, interval: 1000, clock });
  const { times, done } = acquireMany(limiter, clock, 4);
  await flush();
  assert.deepEqual(times, [0, 0, 0]);
  await clock.advance(333);
  assert.deepEqual(times, [0, 0, 0]);
  await clock.advance(1);
  assert.equal(times.length, 4);
  await done;
});

Deno.test("RateLimiter spaces acquisitions interval / limit apart in the long run", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({
    limit: 2,
    interval: 1000,
    burst: 1,
    clock,
  });
  const { times, done } = acquireMany(limiter, clock, 5);
  await flush();
  await clock.advance(2000);
  await done;
  assert.deepEqual(times, [0, 500, 1000, 1500, 2000]);
});

Deno.test("RateLimiter allows at most burst + limit per interval acquisitions in any interval", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 5, interval: 100, burst: 3, clock });
  const { times, done } = acquireMany(limiter, clock, 60);
  await flush();
  await clock.advance(2000);
  await done;
  for (const t0 of times) {
    const inWindow = times.filter((t) => t >= t0 && t < t0 + 100).length;
    assert.ok(inWindow <= 3 + 5 - 1, `${inWindow} in [${t0}, ${t0 + 100})`);
  }
  // and the long-run rate is the limit
  assert.equal(times.filter((t) => t < 1000).length, 3 + 5 * 10 - 1);
});

Deno.test("RateLimiter refills the bucket during a quiet period, up to burst", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 2, interval: 100, clock });
  assert.ok(limiter.tryAcquire() && limiter.tryAcquire());
  assert.equal(limiter.tryAcquire(), false);
  await clock.advance(10_000);
  assert.ok(limiter.tryAcquire() && limiter.tryAcquire());
  assert.equal(limiter.tryAcquire(), false);
});

Deno.test("RateLimiter serves waiters first come, first served", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 1, interval: 10, clock });
  await limiter.acquire();
  const order: number[] = [];
  const waiters = [1, 2, 3].map((id) =>
    limiter.acquire().then(() => void order.push(id))
  );
  assert.equal(limiter.tryAcquire(), false); // no overtaking the waiters
  await clock.advance(30);
  await Promise.all(waiters);
  assert.deepEqual(order, [1, 2, 3]);
});

Deno.test("RateLimiter.acquire() cancelled takes no token: the next waiter gets it", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 1, interval: 100, clock });
  await limiter.acquire();
  const controller = new AbortController();
  const cancelled = limiter.acquire({ signal: controller.signal });
  let at = -1;
  const next = limiter.acquire().then(() => at = clock.time);
  controller.abort();
  await assert.rejects(cancelled, CancelledError);
  await clock.advance(100);
  await next;
  assert.equal(at, 100);
});

Deno.test("RateLimiter stops its timer when the last waiter is cancelled", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 1, interval: 100, clock });
  await limiter.acquire();
  const controller = new AbortController();
  const waiting = limiter.acquire({ signal: controller.signal });
  assert.equal(clock.pending, 1);
  controller.abort();
  await assert.rejects(waiting, CancelledError);
  assert.equal(clock.pending, 0);
  assert.equal(limiter.tryAcquire(), false); // the token is not back early
  await clock.advance(100);
  assert.equal(limiter.tryAcquire(), true);
});

Deno.test("RateLimiter.acquire() in a cancelled scope rejects and takes no token", async () => {
  const clock = new ManualClock();
  const limiter = new RateLimiter({ limit: 1, interval: 100, clock });
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(() => limiter.acquire().catch((e) => error = e));
  assert.ok(error instanceof CancelledError);
  assert.equal(limiter.tryAcquire(), true);
});

Deno.test("RateLimiter uses the real clock by default", async () => {
  const limiter = new RateLimiter({ limit: 1000, interval: 1 });
  await limiter.acquire();
  assert.equal(limiter.limit, 1000);
  assert.equal(limiter.interval, 1);
  assert.equal(limiter.burst, 1000);
});

Deno.test("RateLimiter rejects bad options", async (t) => {
  const cases: [string, unknown, ErrorConstructor][] = [
    ["limit 0", { limit: 0, interval: 1 }, RangeError],
    ["limit 1.5", { limit: 1.5, interval: 1 }, RangeError],
    ["limit '1'", { limit: "1", interval: 1 }, TypeError],
    ["interval 0", { limit: 1, interval: 0 }, RangeError],
    ["interval -1", { limit: 1, interval: -1 }, RangeError],
    ["interval NaN", { limit: 1, interval: NaN }, RangeError],
    ["interval Infinity", { limit: 1, interval: Infinity }, RangeError],
    ["interval '1'", { limit: 1, interval: "1" }, TypeError],
    ["burst 0", { limit: 1, interval: 1, burst: 0 }, RangeError],
    ["clock {}", { limit: 1, interval: 1, clock: {} }, TypeError],
    ["no options", undefined, TypeError],
  ];
  for (const [name, options, ErrorClass] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => new RateLimiter(options as never),
        ErrorClass,
      );
    });
  }
});
