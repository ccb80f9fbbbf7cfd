// A virtual clock for tests: fake timers, Date, performance.now() and
// AbortSignal.timeout, with microtasks run between timers and Trio's autojump.
//
// Virtual time is kept on the performance.now() scale (small numbers, exact
// to ~1e-12 ms), not in epoch milliseconds (~1.7e12, exact only to ~2e-4 ms):
// a deadline computed as `performance.now() + ms` is then reached exactly
// when the timer for `ms` fires, so no remainder is re-armed.
import { clearImmediate, setImmediate } from "node:timers";

/** Options for {@linkcode FakeTime}. */
export interface FakeTimeOptions {
  /**
   * Where the virtual clock starts, as epoch milliseconds, a `Date` or a
   * date string; the real `Date.now()` by default.
   */
  start?: number | Date | string;
  /**
   * Trio's autojump clock: when nothing but fake timers is pending, the clock
   * jumps to the next timer by itself, so code that sleeps for virtual minutes
   * finishes in milliseconds without `tick` calls. "Nothing pending" means
   * the microtask queue is empty and no `setImmediate` callback (so no
   * `checkpoint()` or `sleep(0)`) is queued: code that only yields never
   * sees the clock move, and a loop that yields for ever keeps it still (as
   * in Trio; move it with `tick`). Off by default.
   */
  autoAdvance?: boolean;
  /**
   * With `autoAdvance`, how many real milliseconds the fake clock must see no
   * fake-timer activity before it jumps — for code that also waits on real
   * I/O (a socket, a file, a worker), which the clock cannot see. `0` (the
   * default) jumps as soon as nothing but timers is pending.
   */
  idle?: number;
  /**
   * How many timers one `tick`, `next` or `runAll` call (or their async
   * variants) may fire before it gives up with an error, so that an interval
   * or a timer that re-arms itself for ever fails the test instead of hanging
   * it. `100_000` by default.
   */
  loopLimit?: number;
}

interface Timer {
  id: number;
  due: number;
  seq: number;
  // deno-lint-ignore no-explicit-any
  callback: (...args: any[]) => void;
  args: unknown[];
  /** The period of an interval; `undefined` for a one-shot timer. */
  interval: number | undefined;
  cleared: boolean;
}

// Ids of fake timers start high so they do not collide with the ids of real
// ones made before the clock was installed (those are cleared through the
// real API, as are Deno's `Timeout` objects).
const FIRST_ID = 2 ** 30;
const MAX_DELAY = 2 ** 31 - 1;

function before(a: Timer, b: Timer): boolean {
  return a.due < b.due || (a.due === b.due && a.seq < b.seq);
}

/** A binary min-heap of timers, by due time then creation order. */
class TimerHeap {
  items: Timer[] = [];

  push(timer: Timer): void {
    const items = this.items;
    let i = items.length;
    items.push(timer);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = timer;
  }

  pop(): Timer | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) this.#sink(last);
    return top;
  }

  #sink(timer: Timer): void {
    const items = this.items;
    const n = items.length;
    let i = 0;
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && before(items[child + 1], items[child])) child++;
      if (!before(items[child], timer)) break;
      items[i] = items[child];
      i = child;
    }
    items[i] = timer;
  }

  rebuild(timers: Iterable<Timer>): void {
    this.items = [];
    for (const timer of timers) this.push(timer);
  }
}

function toDelay(value: unknown): number {
  const delay = Number(value);
  if (!(delay > 0)) return 0; // NaN, negatives and undefined: as soon as possible
  return delay > MAX_DELAY ? 1 : delay; // like the real timers on overflow
}

function checkMs(what: string, ms: unknown): asserts ms is number {
  if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new RangeError(
      `Cannot ${what}: 'ms' must be a finite number >= 0, got ${String(ms)}`,
    );
  }
}

/**
 * A virtual clock for tests — Trio's `MockClock`, Deno std's `FakeTime`,
 * sinon's fake timers. While it is active it replaces `setTimeout`,
 * `setInterval`, `clearTimeout`, `clearInterval`, `Date` (constructor,
 * `Date()` and `Date.now()`), `performance.now()` and `AbortSignal.timeout`;
 * `using time = new FakeTime()` restores them all when the block ends, also
 * when the test throws. Only one FakeTime can be active at a time.
 *
 * Time moves only when asked: `tick(ms)` fires the timers due within `ms`
 * milliseconds, `next()` the earliest one, `runAll()` all of them. The async
 * variants (`tickAsync`, `nextAsync`, `runAllAsync`) let pending microtasks
 * run before and after each timer, so "timer → await → new timer" chains fire
 * at the right virtual times. With `autoAdvance: true` the clock jumps to the
 * next timer by itself whenever the program is idle.
 *
 * `setImmediate` (and so `checkpoint()`) and `queueMicrotask` stay real.
 *
 * @example Drive timers by hand
 * ```ts
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(0);
 * const fired: number[] = [];
 * setTimeout(() => fired.push(Date.now()), 1000);
 * setTimeout(() => fired.push(Date.now()), 3000);
 * time.tick(2000);
 * assert.deepEqual(fired, [1000]);
 * time.tick(1000);
 * assert.deepEqual(fired, [1000, 3000]);
 * assert.equal(Date.now(), 3000);
 * ```
 *
 * @example Let awaits run between timers
 * ```ts
 * import { sleep } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(0);
 * const wokeAt: number[] = [];
 * const done = (async () => {
 *   for (let i = 0; i < 3; i++) {
 *     await sleep(1000);
 *     wokeAt.push(Date.now());
 *   }
 * })();
 * await time.tickAsync(3000);
 * await done;
 * assert.deepEqual(wokeAt, [1000, 2000, 3000]);
 * ```
 *
 * @example Skip over long sleeps (Trio's autojump)
 * ```ts
 * import { sleep } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime({ autoAdvance: true });
 * const start = time.now;
 * await sleep(30_000); // returns at once in real time
 * assert.equal(time.now - start, 30_000);
 * ```
 */
export class FakeTime implements Disposable {
  static #active: FakeTime | undefined = undefined;

  /**
   * Restores the real clock if a FakeTime is active (see
   * {@linkcode FakeTime.prototype.restore}); does nothing otherwise.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * const realDate = Date;
   * new FakeTime(0);
   * FakeTime.restore();
   * assert.equal(Date, realDate);
   * FakeTime.restore(); // nothing to do
   * ```
   */
  static restore(): void {
    FakeTime.#active?.restore();
  }

  /**
   * Runs `fn` on the real clock while a FakeTime is active — @std's
   * `FakeTime.restoreFor`: the real timers, `Date` and `performance.now()`
   * are back until `fn`'s result settles, then the fake clock is put back
   * with its timers as they were. Rejects when no FakeTime is active.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using _time = new FakeTime(0);
   * const real = await FakeTime.restoreFor(() => Date.now());
   * assert.ok(real > 1_600_000_000_000);
   * assert.equal(Date.now(), 0);
   * ```
   *
   * @typeParam T What `fn` returns or resolves to.
   * @param fn What to run on the real clock.
   * @returns `fn`'s result.
   */
  static async restoreFor<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    const active = FakeTime.#active;
    if (active === undefined) {
      throw new Error(
        "Cannot restore the real clock for a call: no FakeTime is active, got FakeTime.restoreFor() without one",
      );
    }
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot restore the real clock for a call: 'fn' must be a function, got ${typeof fn}`,
      );
    }
    active.#unapply();
    try {
      return await fn();
    } finally {
      if (!active.#disposed && FakeTime.#active === active) active.#apply();
    }
  }

  // Virtual performance.now(); the master clock (see the top of the file).
  #perf: number;
  // Date.now() = floor(#perf + #epochOffset).
  #epochOffset: number;
  #start: number;
  #timers = new Map<number, Timer>();
  #heap = new TimerHeap();
  #nextId = FIRST_ID;
  #seq = 0;
  #loopLimit: number;
  #disposed = false;
  #applied = false;
  #busy = false;

  #autoAdvance: boolean;
  #idle: number;
  #activity = 0;
  #autoImmediate: ReturnType<typeof setImmediate> | undefined = undefined;
  #autoTimeout: ReturnType<typeof setTimeout> | undefined = undefined;

  // The real globals, saved to restore them and for the clock's own hops.
  #original: {
    setTimeout: typeof setTimeout;
    clearTimeout: typeof clearTimeout;
    setInterval: typeof setInterval;
    clearInterval: typeof clearInterval;
    Date: DateConstructor;
    performanceNow: PropertyDescriptor | undefined;
    realPerformanceNow: () => number;
    abortSignalTimeout: PropertyDescriptor | undefined;
    realAbortSignalTimeout: (ms: number) => AbortSignal;
  };
  // The fakes, made once, so that restoreFor() puts the same ones back.
  #fakes: Fakes;

  /**
   * Installs the fake clock.
   *
   * @param start Where the clock starts (epoch milliseconds, a `Date` or a
   * date string), or the options.
   * @param options Start, `autoAdvance`, `idle` and `loopLimit`.
   */
  constructor(
    start?: number | Date | string | FakeTimeOptions,
    options?: FakeTimeOptions,
  ) {
    if (
      start !== undefined && start !== null && typeof start === "object" &&
      !(start instanceof Date)
    ) {
      if (options !== undefined) {
        throw new TypeError(
          "Cannot create a FakeTime: give the options once, as `new FakeTime(start, options)` or `new FakeTime(options)`, got two options objects",
        );
      }
      options = start;
      start = options.start;
    }
    const startMs = start instanceof Date
      ? start.getTime()
      : typeof start === "string"
      ? new Date(start).getTime()
      : start ?? Date.now();
    if (typeof startMs !== "number" || !Number.isFinite(startMs)) {
      throw new TypeError(
        `Cannot create a FakeTime: 'start' must be a finite number of epoch milliseconds, a valid Date or a date string, got ${
          String(start)
        }`,
      );
    }
    const idle = options?.idle ?? 0;
    if (typeof idle !== "number" || !(idle >= 0) || !Number.isFinite(idle)) {
      throw new RangeError(
        `Cannot create a FakeTime: 'idle' must be a finite number >= 0, got ${
          String(idle)
        }`,
      );
    }
    const loopLimit = options?.loopLimit ?? 100_000;
    if (!Number.isInteger(loopLimit) || loopLimit < 1) {
      throw new RangeError(
        `Cannot create a FakeTime: 'loopLimit' must be an integer >= 1, got ${
          String(loopLimit)
        }`,
      );
    }
    if (FakeTime.#active !== undefined) {
      throw new Error(
        "Cannot create a FakeTime: another FakeTime is active; dispose of it first (`using time = new FakeTime()` does so at the end of the block), got a second one",
      );
    }
    // performance.now() goes on from its real value, as an integer so that
    // whole-millisecond arithmetic on both clocks stays exact.
    this.#perf = Math.round(performance.now());
    this.#epochOffset = startMs - this.#perf;
    this.#start = startMs;
    this.#autoAdvance = options?.autoAdvance === true;
    this.#idle = idle;
    this.#loopLimit = loopLimit;
    this.#original = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      setInterval: globalThis.setInterval,
      clearInterval: globalThis.clearInterval,
      Date: globalThis.Date,
      performanceNow: Object.getOwnPropertyDescriptor(performance, "now"),
      realPerformanceNow: performance.now,
      abortSignalTimeout: Object.getOwnPropertyDescriptor(
        AbortSignal,
        "timeout",
      ),
      realAbortSignalTimeout: AbortSignal.timeout,
    };
    this.#fakes = this.#makeFakes();
    this.#apply();
    FakeTime.#active = this;
  }

  #makeFakes(): Fakes {
    const original = this.#original;
    const schedule = (
      callback: unknown,
      delay: unknown,
      args: unknown[],
      repeat: boolean,
    ): number => {
      // A saved reference used after restore would make a timer that never
      // fires; say so instead, as @std's FakeTime does.
      if (this.#disposed) {
        throw new Error(
          `Cannot set a ${
            repeat ? "interval" : "timer"
          }: the FakeTime it belongs to was restored; call the real ${
            repeat ? "setInterval" : "setTimeout"
          } (a reference saved while the clock was fake is still the fake one)`,
        );
      }
      if (typeof callback !== "function") {
        throw new TypeError(
          `Cannot set a ${
            repeat ? "interval" : "timer"
          } under FakeTime: the callback must be a function, got ${typeof callback}`,
        );
      }
      let ms = toDelay(delay);
      if (repeat) ms = Math.max(1, ms);
      return this.#add(
        callback as Timer["callback"],
        ms,
        args,
        repeat ? ms : undefined,
      );
    };
    // deno-lint-ignore no-explicit-any
    const clear = (id: unknown, real: (id?: any) => void): void => {
      const timer = typeof id === "number" ? this.#timers.get(id) : undefined;
      if (timer === undefined) {
        // A real timer (Deno gives `Timeout` objects) made before the clock,
        // or nothing; the real function ignores what it does not know.
        if (id !== undefined && id !== null) real(id);
        return;
      }
      this.#activity++;
      this.#remove(timer);
    };

    const RealDate = original.Date;
    const realPerfNow = original.realPerformanceNow;
    // After restore, saved references to these fall back to the real clock.
    const dateNow = () =>
      this.#disposed ? RealDate.now() : Math.floor(this.#epochNow());
    const FakeDate = function Date(this: unknown, ...args: unknown[]) {
      if (new.target === undefined) {
        return new RealDate(dateNow()).toString();
      }
      return Reflect.construct(
        RealDate,
        args.length === 0 ? [dateNow()] : args,
        new.target,
      );
    } as unknown as DateConstructor;
    Object.setPrototypeOf(FakeDate, RealDate); // Date.UTC, Date.parse
    Object.defineProperty(FakeDate, "prototype", {
      value: RealDate.prototype, // old and new dates are `instanceof Date`
      writable: false,
    });
    Object.defineProperty(FakeDate, "now", {
      value: function now() {
        return dateNow();
      },
      writable: true,
      configurable: true,
    });

    return {
      setTimeout:
        ((callback: unknown, delay?: unknown, ...args: unknown[]) =>
          schedule(
            callback,
            delay,
            args,
            false,
          )) as unknown as typeof setTimeout,
      setInterval:
        ((callback: unknown, delay?: unknown, ...args: unknown[]) =>
          schedule(
            callback,
            delay,
            args,
            true,
          )) as unknown as typeof setInterval,
      clearTimeout:
        ((id?: unknown) =>
          clear(id, original.clearTimeout)) as typeof clearTimeout,
      clearInterval:
        ((id?: unknown) =>
          clear(id, original.clearInterval)) as typeof clearInterval,
      Date: FakeDate,
      performanceNow: () =>
        this.#disposed ? realPerfNow.call(performance) : this.#perf,
      abortSignalTimeout: (ms: number) => {
        if (this.#disposed) {
          return original.realAbortSignalTimeout.call(AbortSignal, ms);
        }
        const delay = Number(ms);
        if (!(delay >= 0) || !Number.isFinite(delay)) {
          throw new TypeError(
            `Cannot make AbortSignal.timeout under FakeTime: 'ms' must be a finite number >= 0, got ${
              String(ms)
            }`,
          );
        }
        const controller = new AbortController();
        this.#add(
          () => {
            controller.abort(
              new DOMException("Signal timed out.", "TimeoutError"),
            );
          },
          delay,
          [],
          undefined,
        );
        return controller.signal;
      },
    };
  }

  #apply(): void {
    const fakes = this.#fakes;
    globalThis.setTimeout = fakes.setTimeout;
    globalThis.setInterval = fakes.setInterval;
    globalThis.clearTimeout = fakes.clearTimeout;
    globalThis.clearInterval = fakes.clearInterval;
    globalThis.Date = fakes.Date;
    Object.defineProperty(performance, "now", {
      value: fakes.performanceNow,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    Object.defineProperty(AbortSignal, "timeout", {
      value: fakes.abortSignalTimeout,
      writable: true,
      enumerable: true,
      configurable: true,
    });
    this.#applied = true;
    this.#scheduleAutoAdvance();
  }

  #unapply(): void {
    this.#stopAutoAdvance();
    if (!this.#applied) return;
    this.#applied = false;
    const original = this.#original;
    globalThis.setTimeout = original.setTimeout;
    globalThis.clearTimeout = original.clearTimeout;
    globalThis.setInterval = original.setInterval;
    globalThis.clearInterval = original.clearInterval;
    globalThis.Date = original.Date;
    restoreProperty(performance, "now", original.performanceNow);
    restoreProperty(AbortSignal, "timeout", original.abortSignalTimeout);
  }

  #epochNow(): number {
    return this.#perf + this.#epochOffset;
  }

  #add(
    callback: Timer["callback"],
    delay: number,
    args: unknown[],
    interval: number | undefined,
  ): number {
    const id = this.#nextId++;
    const timer: Timer = {
      id,
      due: this.#due(delay),
      seq: this.#seq++,
      callback,
      args,
      interval,
      cleared: false,
    };
    this.#timers.set(id, timer);
    this.#heap.push(timer);
    this.#activity++;
    this.#scheduleAutoAdvance();
    return id;
  }

  #due(delay: number): number {
    const due = this.#perf + delay;
    // A delay too small to move the clock still moves it, so a caller that
    // waits "until performance.now() >= deadline" cannot spin for ever.
    if (delay > 0 && due === this.#perf) {
      return this.#perf + Math.max(Math.abs(this.#perf) * Number.EPSILON, 1e-9);
    }
    return due;
  }

  #remove(timer: Timer): void {
    timer.cleared = true;
    this.#timers.delete(timer.id);
    const heap = this.#heap;
    if (heap.items.length > 64 && heap.items.length > 2 * this.#timers.size) {
      heap.rebuild(this.#timers.values());
    }
  }

  /** The earliest live timer, or `undefined`. */
  #peek(): Timer | undefined {
    const heap = this.#heap;
    while (heap.items.length > 0 && heap.items[0].cleared) heap.pop();
    return heap.items[0];
  }

  /** The latest live timer's due time, or `undefined`. */
  #lastDue(): number | undefined {
    let last: number | undefined;
    for (const timer of this.#timers.values()) {
      if (last === undefined || timer.due > last) last = timer.due;
    }
    return last;
  }

  /** Moves the clock to `timer` and runs it (it is the earliest). */
  #fire(timer: Timer): void {
    this.#heap.pop();
    if (timer.due > this.#perf) this.#perf = timer.due;
    if (timer.interval === undefined) {
      timer.cleared = true;
      this.#timers.delete(timer.id);
    } else {
      timer.due = this.#due(timer.interval);
      timer.seq = this.#seq++;
      this.#heap.push(timer);
    }
    timer.callback(...timer.args);
  }

  #check(what: string): void {
    if (this.#disposed) {
      throw new Error(
        `Cannot ${what}: the FakeTime was disposed of, got a call after restore()`,
      );
    }
    if (this.#busy) {
      throw new Error(
        `Cannot ${what}: a tickAsync(), nextAsync() or runAllAsync() of this FakeTime is still running; await it first`,
      );
    }
  }

  #tooMany(what: string): Error {
    return new Error(
      `Cannot ${what}: timers are still due after ${this.#loopLimit} fired (an interval or a timer that re-arms itself?); raise 'loopLimit' if that is expected, got ${this.#timers.size} pending`,
    );
  }

  /** A real macrotask turn: every pending microtask runs before it ends. */
  #flush(): Promise<void> {
    return new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * The virtual time, in epoch milliseconds (`Date.now()` is its floor).
   * Setting it moves the clock forward like {@linkcode FakeTime.tick}.
   */
  get now(): number {
    return this.#epochNow();
  }

  set now(value: number) {
    const now = this.#epochNow();
    if (typeof value !== "number" || !(value >= now)) {
      throw new RangeError(
        `Cannot set the time: the clock only moves forward, from ${now}, got ${
          String(value)
        }`,
      );
    }
    this.tick(value - now);
  }

  /**
   * Where the clock started, in epoch milliseconds.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime("2030-01-01T00:00:00Z");
   * time.tick(5000);
   * assert.equal(time.start, Date.UTC(2030, 0, 1));
   * assert.equal(time.now - time.start, 5000);
   * ```
   */
  get start(): number {
    return this.#start;
  }

  /** Whether the clock jumps to the next timer by itself when idle. */
  get autoAdvance(): boolean {
    return this.#autoAdvance;
  }

  set autoAdvance(value: boolean) {
    this.#autoAdvance = value === true;
    if (this.#autoAdvance) this.#scheduleAutoAdvance();
    else this.#stopAutoAdvance();
  }

  /**
   * How many fake timers and intervals are pending. aio's own sleeps and
   * deadlines share one timer per clock, so this counts host timers.
   */
  get pending(): number {
    return this.#timers.size;
  }

  /**
   * Sets what `Date` says — sinon's `setSystemTime` — without firing timers
   * or moving `performance.now()` (a system clock changed by hand or by NTP;
   * deadlines and sleeps run on the monotonic clock and are not affected).
   * It may go back.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let fired = false;
   * setTimeout(() => fired = true, 1000);
   * const perf = performance.now();
   * time.setSystemTime(new Date("2030-01-01T00:00:00Z"));
   * assert.equal(new Date().toISOString(), "2030-01-01T00:00:00.000Z");
   * assert.equal(performance.now(), perf);
   * assert.equal(fired, false);
   * ```
   *
   * @param time The new time, as epoch milliseconds, a `Date` or a date
   * string.
   */
  setSystemTime(time: number | Date | string): void {
    this.#check("set the system time");
    const ms = time instanceof Date
      ? time.getTime()
      : typeof time === "string"
      ? new this.#original.Date(time).getTime()
      : time;
    if (typeof ms !== "number" || !Number.isFinite(ms)) {
      throw new TypeError(
        `Cannot set the system time: 'time' must be a finite number of epoch milliseconds, a valid Date or a date string, got ${
          String(time)
        }`,
      );
    }
    this.#epochOffset = ms - this.#perf;
  }

  /**
   * Waits `ms` milliseconds of real time while the clock is fake — @std's
   * `FakeTime.delay` — for a test that must let real I/O happen. Rejects
   * with the signal's reason if `options.signal` aborts first.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * await time.delay(5);
   * assert.equal(time.now, 0);
   * ```
   *
   * @param ms How long to wait, in real milliseconds; a finite number ≥ 0.
   * @param options Cancellation.
   * @returns A promise that resolves after `ms` real milliseconds.
   */
  delay(ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    try {
      checkMs("delay", ms);
    } catch (error) {
      return Promise.reject(error);
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const original = this.#original;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        original.clearTimeout(handle);
        reject(signal!.reason);
      };
      const handle = original.setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * Moves the clock `ms` milliseconds forward, firing every timer due by then
   * in order, synchronously (no microtask runs in between; see
   * {@linkcode FakeTime.tickAsync}).
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let ticks = 0;
   * const id = setInterval(() => ticks++, 100);
   * time.tick(1000);
   * clearInterval(id);
   * assert.equal(ticks, 10);
   * assert.equal(time.now, 1000);
   * ```
   *
   * @param ms How far to move, in milliseconds; a finite number ≥ 0 (0 by
   * default: fire what is due now).
   */
  tick(ms = 0): void {
    checkMs("tick", ms);
    this.#check("tick");
    this.#tickTo(this.#perf + ms, "tick");
  }

  #tickTo(target: number, what: string): void {
    let fired = 0;
    for (
      let timer = this.#peek();
      timer !== undefined && timer.due <= target;
      timer = this.#peek()
    ) {
      if (++fired > this.#loopLimit) throw this.#tooMany(what);
      this.#fire(timer);
    }
    if (target > this.#perf) this.#perf = target;
  }

  /**
   * Like {@linkcode FakeTime.tick}, but lets pending microtasks run before
   * the first timer and after each one (a real event-loop turn), so code that
   * awaits between timers schedules its next timer at the right virtual time.
   *
   * @example Usage
   * ```ts
   * import { sleep } from "@aio/std/async";
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let woke = 0;
   * const done = (async () => {
   *   await sleep(500);
   *   await sleep(500);
   *   woke = Date.now();
   * })();
   * await time.tickAsync(1000);
   * await done;
   * assert.equal(woke, 1000);
   * ```
   *
   * @param ms How far to move, in milliseconds; a finite number ≥ 0 (0 by
   * default).
   * @returns A promise that resolves once the clock has moved.
   */
  async tickAsync(ms = 0): Promise<void> {
    checkMs("tick", ms);
    this.#check("tick");
    const target = this.#perf + ms;
    await this.#run("tick", (timer) => timer.due <= target);
    if (!this.#disposed && target > this.#perf) this.#perf = target;
  }

  /**
   * Moves the clock to the earliest pending timer and fires it, with every
   * other timer due at the same time. Does nothing when no timer is pending.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * setTimeout(() => {}, 250);
   * assert.equal(time.next(), true);
   * assert.equal(time.now, 250);
   * assert.equal(time.next(), false);
   * ```
   *
   * @returns Whether a timer was pending.
   */
  next(): boolean {
    this.#check("advance to the next timer");
    const first = this.#peek();
    if (first === undefined) return false;
    this.#tickTo(first.due, "advance to the next timer");
    return true;
  }

  /**
   * Like {@linkcode FakeTime.next}, letting pending microtasks run before and
   * after each timer.
   *
   * @example Usage
   * ```ts
   * import { sleep } from "@aio/std/async";
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const done = sleep(60_000);
   * assert.equal(await time.nextAsync(), true);
   * await done;
   * assert.equal(time.now, 60_000);
   * ```
   *
   * @returns Whether a timer was pending.
   */
  async nextAsync(): Promise<boolean> {
    this.#check("advance to the next timer");
    await this.#settle();
    const first = this.#peek();
    if (first === undefined) return false;
    const due = first.due;
    await this.#run("advance to the next timer", (timer) => timer.due <= due);
    return true;
  }

  /**
   * Fires timers, moving the clock, until none is pending — also those that
   * the fired ones set. Synchronous: see {@linkcode FakeTime.runAllAsync}.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const order: string[] = [];
   * setTimeout(() => {
   *   order.push("a");
   *   setTimeout(() => order.push("c"), 10);
   * }, 10);
   * setTimeout(() => order.push("b"), 15);
   * time.runAll();
   * assert.deepEqual(order, ["a", "b", "c"]);
   * assert.equal(time.now, 20);
   * ```
   */
  runAll(): void {
    this.#check("run all timers");
    let fired = 0;
    for (let timer = this.#peek(); timer !== undefined; timer = this.#peek()) {
      if (++fired > this.#loopLimit) throw this.#tooMany("run all timers");
      this.#fire(timer);
    }
  }

  /**
   * Like {@linkcode FakeTime.runAll}, letting pending microtasks run before
   * the first timer and after each one, so chains of timers and awaits run
   * to the end.
   *
   * @example Usage
   * ```ts
   * import { sleep } from "@aio/std/async";
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const done = (async () => {
   *   for (let i = 0; i < 10; i++) await sleep(1000);
   * })();
   * await time.runAllAsync();
   * await done;
   * assert.equal(time.now, 10_000);
   * ```
   *
   * @returns A promise that resolves when no timer is pending.
   */
  async runAllAsync(): Promise<void> {
    this.#check("run all timers");
    await this.#run("run all timers", () => true);
  }

  /**
   * Fires the timers pending now, up to the latest of them — sinon's
   * `runToLast` — with the ones they set that fall due by then; an interval
   * does not make it run for ever. The clock ends at that latest due time.
   * aio's sleeps and deadlines stand behind a few shared host timers, so
   * for them "the last" is the last armed one: use `tickAsync(ms)` or
   * `runAllAsync()` to reach a given sleep.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let ticks = 0;
   * const id = setInterval(() => ticks++, 100);
   * setTimeout(() => {}, 1000);
   * time.runToLast();
   * assert.equal(time.now, 1000);
   * assert.equal(ticks, 10);
   * clearInterval(id);
   * ```
   */
  runToLast(): void {
    this.#check("run to the last timer");
    const last = this.#lastDue();
    if (last !== undefined) this.#tickTo(last, "run to the last timer");
  }

  /**
   * Like {@linkcode FakeTime.runToLast}, letting pending microtasks run
   * before the first timer and after each one.
   *
   * @example Usage
   * ```ts
   * import { sleep } from "@aio/std/async";
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * const woke: number[] = [];
   * setTimeout(async () => {
   *   await sleep(50); // set after an await: runs too, due before the last
   *   woke.push(Date.now());
   * }, 100);
   * setTimeout(() => woke.push(Date.now()), 5000);
   * await time.runToLastAsync();
   * assert.deepEqual(woke, [150, 5000]);
   * ```
   *
   * @returns A promise that resolves once the clock reached the last timer.
   */
  async runToLastAsync(): Promise<void> {
    this.#check("run to the last timer");
    await this.#settle();
    const last = this.#lastDue();
    if (last === undefined) return;
    await this.#run("run to the last timer", (timer) => timer.due <= last);
  }

  /**
   * Lets every pending microtask run (one real event-loop turn), without
   * moving the clock.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * using time = new FakeTime(0);
   * let scheduled = false;
   * (async () => {
   *   for (let i = 0; i < 100; i++) await null;
   *   setTimeout(() => {}, 10);
   *   scheduled = true;
   * })();
   * await time.runMicrotasks();
   * assert.ok(scheduled);
   * assert.equal(time.pending, 1);
   * time.runAll();
   * ```
   *
   * @returns A promise that resolves once the microtask queue has drained.
   */
  runMicrotasks(): Promise<void> {
    return this.#flush();
  }

  /** Runs timers while `go(earliest)`, draining microtasks around each. */
  async #run(what: string, go: (timer: Timer) => boolean): Promise<void> {
    this.#busy = true;
    try {
      await this.#flush();
      let fired = 0;
      while (!this.#disposed) {
        const timer = this.#peek();
        if (timer === undefined || !go(timer)) break;
        if (++fired > this.#loopLimit) throw this.#tooMany(what);
        this.#fire(timer);
        await this.#flush();
      }
    } finally {
      this.#busy = false;
      this.#scheduleAutoAdvance();
    }
  }

  async #settle(): Promise<void> {
    this.#busy = true;
    try {
      await this.#flush();
    } finally {
      this.#busy = false;
    }
  }

  // autoAdvance. The clock may jump only when nothing but timers is
  // pending: the microtask queue is empty (true in any macrotask) and no
  // setImmediate callback is queued (checkpoint(), sleep(0) and user code
  // yield that way). A probe immediate sees the others: the runtime keeps
  // immediates in a linked list (`_idleNext`/`_idlePrev`, in Node and Deno),
  // so when the probe runs, one after it in this turn's batch is its
  // `_idleNext`, and one queued for the next turn sits before a fresh
  // immediate, as its `_idlePrev`. Where that list is not visible, the
  // probe settles for two quiet turns in a row. With `idle`, a real timeout
  // of that length without fake-timer activity comes first. The probe runs
  // only while fake timers are pending, so nothing real outlives the clock.
  #scheduleAutoAdvance(): void {
    if (
      !this.#autoAdvance || this.#disposed || this.#busy || !this.#applied ||
      this.#autoImmediate !== undefined || this.#autoTimeout !== undefined ||
      this.#timers.size === 0
    ) {
      return;
    }
    if (this.#idle > 0) {
      const seen = this.#activity;
      this.#autoTimeout = this.#original.setTimeout(() => {
        this.#autoTimeout = undefined;
        if (this.#activity === seen) this.#probe(0, this.#activity);
        else this.#scheduleAutoAdvance();
      }, this.#idle);
    } else {
      this.#probe(0, this.#activity);
    }
  }

  #probe(quiet: number, seen: number): void {
    const immediate = setImmediate(() => {
      this.#autoImmediate = undefined;
      if (
        !this.#autoAdvance || this.#disposed || this.#busy || !this.#applied
      ) {
        return;
      }
      if (visibleQueue(immediate)) {
        if (this.#othersQueued(immediate)) {
          this.#probe(0, 0);
          return;
        }
      } else if (this.#activity !== seen || quiet < 1) {
        this.#probe(this.#activity !== seen ? 0 : quiet + 1, this.#activity);
        return;
      }
      const timer = this.#peek();
      if (timer === undefined) return;
      try {
        this.#fire(timer);
      } catch (error) {
        // A timer callback's error is uncaught, as with real timers.
        reportError(error);
      }
      this.#scheduleAutoAdvance();
    });
    this.#autoImmediate = immediate;
  }

  // Whether an immediate other than `probe` (running now) is queued.
  #othersQueued(probe: unknown): boolean {
    if ((probe as ImmediateNode)._idleNext != null) return true;
    const fresh = setImmediate(noop) as unknown as ImmediateNode;
    const before = fresh._idlePrev != null;
    clearImmediate(fresh as unknown as ReturnType<typeof setImmediate>);
    return before;
  }

  #stopAutoAdvance(): void {
    if (this.#autoImmediate !== undefined) {
      clearImmediate(this.#autoImmediate);
      this.#autoImmediate = undefined;
    }
    if (this.#autoTimeout !== undefined) {
      this.#original.clearTimeout(this.#autoTimeout);
      this.#autoTimeout = undefined;
    }
  }

  /**
   * Restores the real timers, `Date`, `performance.now()` and
   * `AbortSignal.timeout`, and drops the pending fake timers. Idempotent;
   * `using` calls it. References to the fakes saved while the clock was
   * active go real too (`Date.now`, `performance.now`), but a saved
   * `setTimeout` or `setInterval` throws: its timer would never fire.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * const realSetTimeout = setTimeout;
   * const time = new FakeTime();
   * const fakeSetTimeout = setTimeout;
   * time.restore();
   * assert.equal(setTimeout, realSetTimeout);
   * assert.throws(() => fakeSetTimeout(() => {}, 10), /was restored/);
   * ```
   */
  restore(): void {
    if (this.#disposed) return;
    this.#unapply();
    this.#disposed = true;
    for (const timer of this.#timers.values()) timer.cleared = true;
    this.#timers.clear();
    this.#heap.items = [];
    if (FakeTime.#active === this) FakeTime.#active = undefined;
  }

  /** Same as {@linkcode FakeTime.restore}, for `using`. */
  [Symbol.dispose](): void {
    this.restore();
  }
}

/** The fakes a FakeTime installs. */
interface Fakes {
  setTimeout: typeof setTimeout;
  clearTimeout: typeof clearTimeout;
  setInterval: typeof setInterval;
  clearInterval: typeof clearInterval;
  Date: DateConstructor;
  performanceNow: () => number;
  abortSignalTimeout: (ms: number) => AbortSignal;
}

/** The linked-list fields of a Node/Deno immediate. */
interface ImmediateNode {
  _idleNext?: unknown;
  _idlePrev?: unknown;
}

function visibleQueue(immediate: unknown): boolean {
  return typeof immediate === "object" && immediate !== null &&
    "_idleNext" in immediate && "_idlePrev" in immediate;
}

function noop(): void {}

function restoreProperty(
  target: object,
  key: string,
  descriptor: PropertyDescriptor | undefined,
): void {
  if (descriptor === undefined) {
    Reflect.deleteProperty(target, key);
  } else {
    Object.defineProperty(target, key, descriptor);
  }
}
