import type { SignalOptions } from "../async/cancel_scope.ts";
import { ReleaseGuard } from "./_guard.ts";
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
  #waiters = new Waiters<Guard>();

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
    return park(this.#waiters, options);
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
    if (this.#waiters.size === 0) this.#locked = false;
    else this.#waiters.resolveNext(new ReleaseGuard(this));
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
