// A virtual clock for tests: fake timers, Date, performance.now() and
// AbortSignal.timeout, with microtasks run between timers and Trio's autojump.
import { clearImmediate, setImmediate } from "node:timers";

/** Options for {@linkcode FakeTime}. */
export interface FakeTimeOptions {
  /**
   * Where the virtual clock starts, as epoch milliseconds or a `Date`; the
   * real `Date.now()` by default.
   */
  start?: number | Date;
  /**
   * Trio's autojump clock: when nothing but fake timers is pending, the clock
   * jumps to the next timer by itself, so code that sleeps for virtual minutes
   * finishes in milliseconds without `tick` calls. Off by default.
   */
  autoAdvance?: boolean;
  /**
   * With `autoAdvance`, how many real milliseconds the fake clock must see no
   * timer activity before it jumps — for code that also waits on real I/O.
   * `0` (the default) jumps once a full turn of the real event loop passed
   * without new fake timers.
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

// Ids of fake timers start high so they do not collide with real ones made
// before the clock was installed (those are cleared through the real API).
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

  #now: number;
  // performance.now() = #now - #perfOffset
  #perfOffset: number;
  #timers = new Map<number, Timer>();
  #heap = new TimerHeap();
  #nextId = FIRST_ID;
  #seq = 0;
  #loopLimit: number;
  #disposed = false;
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
    abortSignalTimeout: PropertyDescriptor | undefined;
  };

  /**
   * Installs the fake clock.
   *
   * @param start Where the clock starts (epoch milliseconds or a `Date`), or
   * the options.
   * @param options Start, `autoAdvance`, `idle` and `loopLimit`.
   */
  constructor(
    start?: number | Date | FakeTimeOptions,
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
      : start ?? Date.now();
    if (typeof startMs !== "number" || !Number.isFinite(startMs)) {
      throw new TypeError(
        `Cannot create a FakeTime: 'start' must be a finite number of epoch milliseconds or a valid Date, got ${
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
    this.#now = startMs;
    // performance.now() goes on from its real value, as an integer so that
    // whole-millisecond arithmetic on both clocks stays exact.
    this.#perfOffset = startMs - Math.round(performance.now());
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
      abortSignalTimeout: Object.getOwnPropertyDescriptor(
        AbortSignal,
        "timeout",
      ),
    };
    this.#install();
    FakeTime.#active = this;
  }

  #install(): void {
    const original = this.#original;
    const schedule = (
      callback: unknown,
      delay: unknown,
      args: unknown[],
      repeat: boolean,
    ): number => {
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
      if (typeof id !== "number") return;
      const timer = this.#timers.get(id);
      if (timer === undefined) {
        if (id < FIRST_ID) real(id); // a real timer made before the clock
        return;
      }
      this.#activity++;
      this.#remove(timer);
    };
    globalThis.setTimeout =
      ((callback: unknown, delay?: unknown, ...args: unknown[]) =>
        schedule(callback, delay, args, false)) as unknown as typeof setTimeout;
    globalThis.setInterval =
      ((callback: unknown, delay?: unknown, ...args: unknown[]) =>
        schedule(callback, delay, args, true)) as unknown as typeof setInterval;
    globalThis.clearTimeout =
      ((id?: unknown) =>
        clear(id, original.clearTimeout)) as typeof clearTimeout;
    globalThis.clearInterval =
      ((id?: unknown) =>
        clear(id, original.clearInterval)) as typeof clearInterval;

    const RealDate = original.Date;
    const dateNow = () => this.#dateNow();
    const perfNow = () => this.#now - this.#perfOffset;
    const addTimer = (callback: () => void, delay: number) =>
      this.#add(callback, delay, [], undefined);
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
    globalThis.Date = FakeDate;

    Object.defineProperty(performance, "now", {
      value: function now() {
        return perfNow();
      },
      writable: true,
      enumerable: true,
      configurable: true,
    });

    Object.defineProperty(AbortSignal, "timeout", {
      value: function timeout(ms: number) {
        const delay = Number(ms);
        if (!(delay >= 0) || !Number.isFinite(delay)) {
          throw new TypeError(
            `Cannot make AbortSignal.timeout under FakeTime: 'ms' must be a finite number >= 0, got ${
              String(ms)
            }`,
          );
        }
        const controller = new AbortController();
        addTimer(() => {
          controller.abort(
            new DOMException("Signal timed out.", "TimeoutError"),
          );
        }, delay);
        return controller.signal;
      },
      writable: true,
      enumerable: true,
      configurable: true,
    });
  }

  #dateNow(): number {
    return Math.floor(this.#now);
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
    const due = this.#now + delay;
    // A delay too small to move a large clock still moves it, so a caller
    // that waits "until performance.now() >= deadline" cannot spin for ever.
    if (delay > 0 && due === this.#now) {
      return this.#now + Math.abs(this.#now) * Number.EPSILON;
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

  /** Moves the clock to `timer` and runs it (it is the earliest). */
  #fire(timer: Timer): void {
    this.#heap.pop();
    if (timer.due > this.#now) this.#now = timer.due;
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
    return this.#now;
  }

  set now(value: number) {
    if (typeof value !== "number" || !(value >= this.#now)) {
      throw new RangeError(
        `Cannot set the time: the clock only moves forward, from ${this.#now}, got ${
          String(value)
        }`,
      );
    }
    this.tick(value - this.#now);
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
   * @param ms How far to move, in milliseconds; a finite number ≥ 0.
   */
  tick(ms: number): void {
    checkMs("tick", ms);
    this.#check("tick");
    const target = this.#now + ms;
    let fired = 0;
    for (
      let timer = this.#peek();
      timer !== undefined && timer.due <= target;
      timer = this.#peek()
    ) {
      if (++fired > this.#loopLimit) throw this.#tooMany("tick");
      this.#fire(timer);
    }
    if (target > this.#now) this.#now = target;
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
   * @param ms How far to move, in milliseconds; a finite number ≥ 0.
   * @returns A promise that resolves once the clock has moved.
   */
  async tickAsync(ms: number): Promise<void> {
    checkMs("tick", ms);
    this.#check("tick");
    const target = this.#now + ms;
    await this.#run("tick", (timer) => timer.due <= target);
    if (!this.#disposed && target > this.#now) this.#now = target;
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
    this.tick(first.due - this.#now);
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

  // autoAdvance: a real immediate (or, with `idle`, a real timeout) that,
  // when no fake-timer activity happened while it waited, fires the earliest
  // fake timer. It runs only while fake timers are pending, so no real timer
  // or immediate outlives the clock.
  #scheduleAutoAdvance(): void {
    if (
      !this.#autoAdvance || this.#disposed || this.#busy ||
      this.#autoImmediate !== undefined || this.#autoTimeout !== undefined ||
      this.#timers.size === 0
    ) {
      return;
    }
    const seen = this.#activity;
    const check = () => {
      this.#autoImmediate = undefined;
      this.#autoTimeout = undefined;
      if (!this.#autoAdvance || this.#disposed || this.#busy) return;
      if (this.#activity === seen) {
        const timer = this.#peek();
        if (timer === undefined) return;
        try {
          this.#fire(timer);
        } catch (error) {
          // A timer callback's error is uncaught, as with real timers.
          this.#scheduleAutoAdvance();
          reportError(error);
          return;
        }
      }
      this.#scheduleAutoAdvance();
    };
    if (this.#idle > 0) {
      this.#autoTimeout = this.#original.setTimeout(check, this.#idle);
    } else {
      this.#autoImmediate = setImmediate(check);
    }
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
   * `using` calls it.
   *
   * @example Usage
   * ```ts
   * import { FakeTime } from "@aio/std/testing";
   * import assert from "node:assert/strict";
   *
   * const realSetTimeout = setTimeout;
   * const time = new FakeTime();
   * assert.notEqual(setTimeout, realSetTimeout);
   * time.restore();
   * assert.equal(setTimeout, realSetTimeout);
   * ```
   */
  restore(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#stopAutoAdvance();
    const original = this.#original;
    globalThis.setTimeout = original.setTimeout;
    globalThis.clearTimeout = original.clearTimeout;
    globalThis.setInterval = original.setInterval;
    globalThis.clearInterval = original.clearInterval;
    globalThis.Date = original.Date;
    restoreProperty(performance, "now", original.performanceNow);
    restoreProperty(AbortSignal, "timeout", original.abortSignalTimeout);
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
