import type { SignalOptions } from "../async/cancel_scope.ts";
import { checkCount } from "./_check.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";

/** The time source of a {@linkcode RateLimiter}, replaceable in tests. */
export interface RateLimiterClock {
  /** The current time in milliseconds, on a monotonic clock. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a call scheduled by `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** Options for {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** How many acquisitions per `interval`, in the long run; an integer ≥ 1. */
  limit: number;
  /** The length of the interval in milliseconds; a finite number > 0. */
  interval: number;
  /**
   * How many acquisitions may happen at once after a quiet period (the size
   * of the bucket); an integer ≥ 1, `limit` by default. With `burst: 1` the
   * acquisitions are spaced `interval / limit` apart.
   */
  burst?: number;
  /**
   * The time source; by default `performance.now()` and the global
   * `setTimeout`/`clearTimeout` (looked up on each call, so a fake clock
   * installed later applies).
   */
  clock?: RateLimiterClock;
}

const defaultClock: RateLimiterClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

/**
 * Limits how often something happens — "at most N calls per second", which a
 * {@linkcode Semaphore} does not give (it limits how many run at once). A
 * token bucket: it holds `burst` tokens, refilled at `limit` per
 * `interval`; each `acquire()` takes one, waiting for it if the bucket is
 * empty. Waiters are served in order, and a cancelled `acquire()` takes no
 * token. Like aiolimiter's `AsyncLimiter` for asyncio.
 *
 * @example At most 2 acquisitions per 50 ms, no burst
 * ```ts
 * import { RateLimiter } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const limiter = new RateLimiter({ limit: 2, interval: 50, burst: 1 });
 * const start = performance.now();
 * for (let i = 0; i < 3; i++) await limiter.acquire();
 * // the 2nd waits 25 ms, the 3rd 25 ms more
 * assert.ok(performance.now() - start >= 45);
 * ```
 */
export class RateLimiter {
  #emission: number; // ms between tokens
  #tolerance: number; // how far ahead of time a token may be taken
  #tat = -Infinity; // the theoretical arrival time of the next token (GCRA)
  #clock: RateLimiterClock;
  #limit: number;
  #interval: number;
  #burst: number;
  #waiters: Waiters<void> = new Waiters<void>(() => {
    if (this.#waiters.size === 0) this.#stopTimer();
  });
  #timer: unknown = undefined;
  #timerSet = false;

  /**
   * Makes a rate limiter whose bucket starts full.
   *
   * @param options The rate, the burst size and the clock.
   * @throws {RangeError} If `limit`, `interval` or `burst` is out of range.
   * @throws {TypeError} If an option has the wrong type.
   */
  constructor(options: RateLimiterOptions) {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot create the RateLimiter: 'options' must be an object, got ${
          options === null ? "null" : typeof options
        }`,
      );
    }
    const { limit, interval } = options;
    const burst = options.burst ?? limit;
    checkCount("create the RateLimiter", "limit", limit, 1);
    checkCount("create the RateLimiter", "burst", burst, 1);
    if (typeof interval !== "number") {
      throw new TypeError(
        `Cannot create the RateLimiter: 'interval' must be a number, got ${typeof interval}`,
      );
    }
    if (!(interval > 0) || !Number.isFinite(interval)) {
      throw new RangeError(
        `Cannot create the RateLimiter: 'interval' must be a finite number > 0, got ${interval}`,
      );
    }
    const clock = options.clock ?? defaultClock;
    if (
      typeof clock !== "object" || clock === null ||
      typeof clock.now !== "function" ||
      typeof clock.setTimeout !== "function" ||
      typeof clock.clearTimeout !== "function"
    ) {
      throw new TypeError(
        `Cannot create the RateLimiter: 'clock' must have now, setTimeout and clearTimeout functions, got ${
          clock === null ? "null" : typeof clock
        }`,
      );
    }
    this.#limit = limit;
    this.#interval = interval;
    this.#burst = burst;
    this.#emission = interval / limit;
    this.#tolerance = this.#emission * (burst - 1);
    this.#clock = clock;
  }

  /** How many acquisitions per interval, in the long run. */
  get limit(): number {
    return this.#limit;
  }

  /** The interval, in milliseconds. */
  get interval(): number {
    return this.#interval;
  }

  /** How many acquisitions may happen at once after a quiet period. */
  get burst(): number {
    return this.#burst;
  }

  /**
   * Takes a token if one is there and nobody waits, without waiting.
   *
   * @example Usage
   * ```ts
   * import { RateLimiter } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ limit: 1, interval: 60_000 });
   * assert.equal(limiter.tryAcquire(), true);
   * assert.equal(limiter.tryAcquire(), false);
   * ```
   *
   * @returns Whether a token was taken.
   */
  tryAcquire(): boolean {
    if (this.#waiters.size > 0) return false;
    return this.#take(this.#clock.now());
  }

  /**
   * Waits for a token and takes it. Rejects if the ambient cancel scope is
   * cancelled or `options.signal` aborts first; no token is then taken.
   *
   * @example Usage
   * ```ts
   * import { RateLimiter } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ limit: 10, interval: 1000 });
   * await limiter.acquire(); // the bucket starts full: no wait
   * assert.equal(limiter.tryAcquire(), true);
   * ```
   *
   * @param options Cancellation.
   * @returns A promise that resolves once a token was taken.
   */
  acquire(options?: SignalOptions): Promise<void> {
    if (cancelled(options)) return refuse(options);
    if (this.#waiters.size === 0 && this.#take(this.#clock.now())) {
      return Promise.resolve();
    }
    const waiting = park(this.#waiters, options);
    if (!this.#timerSet && this.#waiters.size > 0) this.#schedule();
    return waiting;
  }

  // Takes a token at time `now` if the bucket has one (GCRA).
  #take(now: number): boolean {
    const tat = Math.max(this.#tat, now);
    // A small slack absorbs the rounding of `tat += emission`.
    if (tat - this.#tolerance > now + 1e-9 * this.#emission) return false;
    this.#tat = tat + this.#emission;
    return true;
  }

  #schedule(): void {
    const now = this.#clock.now();
    const delay = Math.max(0, Math.max(this.#tat, now) - this.#tolerance - now);
    this.#timerSet = true;
    this.#timer = this.#clock.setTimeout(() => this.#wake(), delay);
  }

  #stopTimer(): void {
    if (this.#timerSet) {
      this.#timerSet = false;
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #wake(): void {
    this.#timerSet = false;
    this.#timer = undefined;
    const now = this.#clock.now();
    while (this.#waiters.size > 0 && this.#take(now)) {
      this.#waiters.resolveNext(undefined);
    }
    if (this.#waiters.size > 0) this.#schedule();
  }
}
