import type { SignalOptions } from "../async/cancel_scope.ts";
import {
  Holder,
  inLine,
  type Job,
  notAFunction,
  ReleaseGuard,
} from "./_guard.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";

/**
 * What {@linkcode Lock.acquire} and {@linkcode Semaphore.acquire} resolve
 * with: one release owed, paid by `release()` or at the end of a `using`
 * block. Releasing it a second time throws instead of releasing twice;
 * disposing it after an explicit `release()` does nothing.
 */
export interface Guard extends Disposable {
  /** Whether the guard was released. */
  readonly released: boolean;
  /** Releases the lock or permit; throws if the guard was already released. */
  release(): void;
}

/**
 * A mutual-exclusion lock for tasks — asyncio's `asyncio.Lock`. Waiters get
 * the lock in the order they asked for it: `release()` hands it straight to
 * the oldest waiter, so a newcomer cannot overtake. A cancelled `acquire()`
 * never leaves the lock held.
 *
 * @example Guard a critical section with `using`
 * ```ts
 * import { Lock } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const lock = new Lock();
 * const log: string[] = [];
 * async function worker(name: string) {
 *   using _ = await lock.acquire();
 *   log.push(`${name} in`);
 *   await Promise.resolve();
 *   log.push(`${name} out`);
 * }
 * await Promise.all([worker("a"), worker("b")]);
 * assert.deepEqual(log, ["a in", "a out", "b in", "b out"]);
 * assert.equal(lock.locked(), false);
 * ```
 */
export class Lock {
  #locked = false;
  // A waiter of acquire() is resolved with a guard; one of run() with its
  // job, kept as the waiter's payload.
  #waiters = new Waiters<Guard | Job, Job>();
  #holder: Holder | undefined = undefined;

  /**
   * Waits until the lock is free and takes it. Rejects if the ambient cancel
   * scope is cancelled or `options.signal` aborts first (even when the lock
   * is free), and then does not take the lock.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const guard = await lock.acquire();
   * assert.ok(lock.locked());
   * guard.release();
   * assert.ok(!lock.locked());
   * ```
   *
   * @param options Cancellation.
   * @returns A guard that releases the lock once.
   */
  acquire(options?: SignalOptions): Promise<Guard> {
    if (!this.#locked && this.#waiters.size === 0) {
      if (cancelled(options)) return refuse(options);
      this.#locked = true;
      return Promise.resolve(new ReleaseGuard(this));
    }
    return park(this.#waiters, options) as Promise<Guard>;
  }

  /**
   * Runs `fn` holding the lock, like async-mutex's `runExclusive`: waits for
   * the lock as {@linkcode Lock.acquire} does, calls `fn` in the caller's
   * context — always asynchronously, also when the lock is free — and
   * releases the lock once `fn`'s result settles, whether it fulfils or
   * rejects. A wait that is cancelled rejects without calling
   * `fn` and leaves the lock alone.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * let balance = 100;
   * async function withdraw(amount: number): Promise<boolean> {
   *   if (balance < amount) return false;
   *   await Promise.resolve(); // without the lock, both would pass the check
   *   balance -= amount;
   *   return true;
   * }
   * const done = await Promise.all([
   *   lock.run(() => withdraw(80)),
   *   lock.run(() => withdraw(80)),
   * ]);
   * assert.deepEqual(done, [true, false]);
   * assert.equal(balance, 20);
   * assert.equal(lock.locked(), false);
   * ```
   *
   * @typeParam T What `fn` returns or resolves to.
   * @param fn The critical section; it takes no arguments.
   * @param options Cancellation of the wait for the lock.
   * @returns `fn`'s result.
   */
  run<T>(fn: () => T | PromiseLike<T>, options?: SignalOptions): Promise<T> {
    if (typeof fn !== "function") return notAFunction("Lock", fn);
    const holder = this.#holder ??= new Holder(this);
    if (!this.#locked && this.#waiters.size === 0) {
      if (cancelled(options)) return refuse(options);
      this.#locked = true;
      return holder.later(fn);
    }
    // The waiter is resolved with its job. The callback runs in the context
    // `then` was called in: the caller's.
    const waiting = park(this.#waiters, options, inLine(fn)) as Promise<Job>;
    return waiting.then(holder.start) as Promise<T>;
  }

  /**
   * Takes the lock if it is free and nobody waits for it, without waiting —
   * async-mutex's `tryAcquire`, Python's `lock.acquire(blocking=False)`. It is
   * not an await, so a cancelled scope does not refuse it.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const guard = lock.tryAcquire();
   * assert.ok(guard !== undefined);
   * assert.equal(lock.tryAcquire(), undefined); // held
   * guard.release();
   * assert.equal(lock.locked(), false);
   * ```
   *
   * @returns A guard that releases the lock once, or `undefined` when the
   * lock is held or has waiters.
   */
  tryAcquire(): Guard | undefined {
    if (this.#locked || this.#waiters.size > 0) return undefined;
    this.#locked = true;
    return new ReleaseGuard(this);
  }

  /**
   * How many `acquire()` and `run()` calls are waiting for the lock
   * (cancelled ones not counted).
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * const guard = await lock.acquire();
   * const next = lock.acquire();
   * assert.equal(lock.waiting, 1);
   * guard.release();
   * (await next).release();
   * assert.equal(lock.waiting, 0);
   * ```
   *
   * @returns The number of waiters.
   */
  get waiting(): number {
    return this.#waiters.size;
  }

  /**
   * Releases the lock, handing it to the oldest waiter if there is one.
   * Prefer the guard returned by {@linkcode Lock.acquire}; this is for code
   * written in asyncio's style.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * await lock.acquire();
   * lock.release();
   * assert.throws(() => lock.release(), /not locked/);
   * ```
   *
   * @throws {Error} If the lock is not locked.
   */
  release(): void {
    if (!this.#locked) {
      throw new Error(
        "Cannot release the Lock: it is not locked, got an unlocked Lock",
      );
    }
    const waiters = this.#waiters;
    if (waiters.size === 0) this.#locked = false;
    // A waiter of run() gets its job back, one of acquire() a guard.
    else waiters.resolveNext(waiters.peekPayload() ?? new ReleaseGuard(this));
  }

  /**
   * Whether the lock is held.
   *
   * @example Usage
   * ```ts
   * import { Lock } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const lock = new Lock();
   * assert.equal(lock.locked(), false);
   * using _ = await lock.acquire();
   * assert.equal(lock.locked(), true);
   * ```
   *
   * @returns `true` while some task holds the lock.
   */
  locked(): boolean {
    return this.#locked;
  }
}
