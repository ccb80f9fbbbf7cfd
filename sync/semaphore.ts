import type { SignalOptions } from "../async/cancel_scope.ts";
import { checkCount } from "./_check.ts";
import {
  Holder,
  inLine,
  type Job,
  notAFunction,
  ReleaseGuard,
} from "./_guard.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";
import type { Guard } from "./lock.ts";

/**
 * A counter of permits for tasks — asyncio's `asyncio.Semaphore`: at most
 * `value` tasks hold a permit at once. Waiters are served in the order they
 * asked; `release()` hands the permit straight to the oldest waiter. A
 * cancelled `acquire()` never takes a permit.
 *
 * @example Run at most two jobs at a time
 * ```ts
 * import { Semaphore } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const semaphore = new Semaphore(2);
 * let running = 0;
 * let most = 0;
 * await Promise.all([1, 2, 3, 4, 5].map(async () => {
 *   using _ = await semaphore.acquire();
 *   most = Math.max(most, ++running);
 *   await Promise.resolve();
 *   running--;
 * }));
 * assert.equal(most, 2);
 * assert.equal(semaphore.value, 2);
 * ```
 */
export class Semaphore {
  #value: number;
  // A waiter of acquire() is resolved with a guard; one of run() with its
  // job, kept as the waiter's payload.
  #waiters = new Waiters<Guard | Job, Job>();
  #holder: Holder | undefined = undefined;

  /**
   * Makes a semaphore with `value` permits.
   *
   * @param value How many permits there are at first; an integer ≥ 0.
   * @throws {RangeError} If `value` is not an integer ≥ 0.
   */
  constructor(value = 1) {
    this.#value = checkCount(
      `create the ${new.target.name}`,
      "value",
      value,
      0,
    );
  }

  /**
   * How many permits are free.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(3);
   * using _ = await semaphore.acquire();
   * assert.equal(semaphore.value, 2);
   * ```
   *
   * @returns The number of free permits.
   */
  get value(): number {
    return this.#value;
  }

  /**
   * Whether an `acquire()` would have to wait.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(1);
   * const guard = await semaphore.acquire();
   * assert.ok(semaphore.locked());
   * guard.release();
   * assert.ok(!semaphore.locked());
   * ```
   *
   * @returns `true` when no permit is free.
   */
  locked(): boolean {
    return this.#value === 0 || this.#waiters.size > 0;
  }

  /**
   * Waits for a permit and takes it. Rejects if the ambient cancel scope is
   * cancelled or `options.signal` aborts first (even when a permit is free),
   * and then takes nothing.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(1);
   * {
   *   using _ = await semaphore.acquire();
   *   assert.equal(semaphore.value, 0);
   * }
   * assert.equal(semaphore.value, 1);
   * ```
   *
   * @param options Cancellation.
   * @returns A guard that releases the permit once.
   */
  acquire(options?: SignalOptions): Promise<Guard> {
    if (this.#value > 0 && this.#waiters.size === 0) {
      if (cancelled(options)) return refuse(options);
      this.#value--;
      return Promise.resolve(new ReleaseGuard(this));
    }
    return park(this.#waiters, options) as Promise<Guard>;
  }

  /**
   * Runs `fn` holding a permit, like p-limit's `limit(fn)`: waits for a
   * permit as {@linkcode Semaphore.acquire} does, calls `fn` in the caller's
   * context — always asynchronously, also when a permit is free — and gives
   * the permit back once `fn`'s result settles, whether
   * it fulfils or rejects. A wait that is cancelled rejects without calling
   * `fn` and takes nothing. Cheaper than an `acquire()` in an async
   * function: a job waiting its turn is one promise, not a suspended frame.
   *
   * @example Run 100 jobs, at most 10 at a time
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(10);
   * let running = 0;
   * let most = 0;
   * async function job(i: number): Promise<number> {
   *   most = Math.max(most, ++running);
   *   await Promise.resolve();
   *   running--;
   *   return i * 2;
   * }
   * const jobs = Array.from({ length: 100 }, (_, i) => i);
   * const results = await Promise.all(
   *   jobs.map((i) => semaphore.run(() => job(i))),
   * );
   * assert.equal(most, 10);
   * assert.equal(results[99], 198);
   * assert.equal(semaphore.value, 10);
   * ```
   *
   * @typeParam T What `fn` returns or resolves to.
   * @param fn The job; it takes no arguments.
   * @param options Cancellation of the wait for a permit.
   * @returns `fn`'s result.
   */
  run<T>(fn: () => T | PromiseLike<T>, options?: SignalOptions): Promise<T> {
    if (typeof fn !== "function") {
      return notAFunction(this.constructor.name, fn);
    }
    const holder = this.#holder ??= new Holder(this);
    if (this.#value > 0 && this.#waiters.size === 0) {
      if (cancelled(options)) return refuse(options);
      this.#value--;
      return holder.later(fn);
    }
    // The waiter is resolved with its job. The callback runs in the context
    // `then` was called in: the caller's.
    const waiting = park(this.#waiters, options, inLine(fn)) as Promise<Job>;
    return waiting.then(holder.start) as Promise<T>;
  }

  /**
   * Takes a permit if one is free and nobody waits, without waiting —
   * async-mutex's `tryAcquire`, Python's `sem.acquire(blocking=False)`. It is
   * not an await, so a cancelled scope does not refuse it.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(1);
   * const guard = semaphore.tryAcquire();
   * assert.ok(guard !== undefined);
   * assert.equal(semaphore.tryAcquire(), undefined); // none free
   * guard.release();
   * assert.equal(semaphore.value, 1);
   * ```
   *
   * @returns A guard that gives the permit back once, or `undefined` when no
   * permit is free or others wait.
   */
  tryAcquire(): Guard | undefined {
    if (this.#value === 0 || this.#waiters.size > 0) return undefined;
    this.#value--;
    return new ReleaseGuard(this);
  }

  /**
   * How many `acquire()` and `run()` calls are waiting for a permit
   * (cancelled ones not counted).
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(0);
   * const next = semaphore.acquire();
   * assert.equal(semaphore.waiting, 1);
   * semaphore.release();
   * (await next).release();
   * assert.equal(semaphore.waiting, 0);
   * ```
   *
   * @returns The number of waiters.
   */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Gives a permit back, handing it to the oldest waiter if there is one.
   * Prefer the guard returned by {@linkcode Semaphore.acquire}.
   *
   * @example Usage
   * ```ts
   * import { Semaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new Semaphore(0);
   * semaphore.release();
   * assert.equal(semaphore.value, 1);
   * ```
   */
  release(): void {
    const waiters = this.#waiters;
    if (waiters.size === 0) this.#value++;
    // A waiter of run() gets its job back, one of acquire() a guard.
    else waiters.resolveNext(waiters.peekPayload() ?? new ReleaseGuard(this));
  }
}

/**
 * A {@linkcode Semaphore} that refuses to be released more often than it was
 * acquired — asyncio's `asyncio.BoundedSemaphore`: its value never exceeds
 * the initial one.
 *
 * @example Releasing past the bound throws
 * ```ts
 * import { BoundedSemaphore } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const semaphore = new BoundedSemaphore(1);
 * const guard = await semaphore.acquire();
 * guard.release();
 * assert.throws(() => semaphore.release(), /released too many times/);
 * assert.equal(semaphore.value, 1);
 * ```
 */
export class BoundedSemaphore extends Semaphore {
  #bound: number;

  /**
   * Makes a bounded semaphore with `value` permits.
   *
   * @param value How many permits there are, at first and at most; an
   * integer ≥ 0.
   * @throws {RangeError} If `value` is not an integer ≥ 0.
   */
  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  /**
   * Gives a permit back.
   *
   * @example Usage
   * ```ts
   * import { BoundedSemaphore } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const semaphore = new BoundedSemaphore(2);
   * await semaphore.acquire();
   * semaphore.release();
   * assert.equal(semaphore.value, 2);
   * ```
   *
   * @throws {Error} If every permit is already free.
   */
  override release(): void {
    if (this.value >= this.#bound) {
      throw new Error(
        `Cannot release the BoundedSemaphore: it was released too many times, got value ${this.value} with a bound of ${this.#bound}`,
      );
    }
    super.release();
  }
}
