import {
  currentScope,
  shield,
  type SignalOptions,
} from "../async/cancel_scope.ts";
import { checkCount } from "./_check.ts";
import { notAFunction } from "./_guard.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";
import { type Guard, Lock } from "./lock.ts";

/**
 * A condition variable for tasks — asyncio's `asyncio.Condition`: tasks
 * holding its lock wait for a notification, which releases the lock while
 * they wait and takes it back before they go on. Several conditions may share
 * one {@linkcode Lock}. A waiter cancelled after it was notified passes the
 * notification on to the next waiter.
 *
 * @example A task waits until another changes the shared state
 * ```ts
 * import { Condition } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const condition = new Condition();
 * const items: number[] = [];
 * const consumer = (async () => {
 *   using _ = await condition.acquire();
 *   await condition.waitFor(() => items.length > 0);
 *   return items.shift();
 * })();
 * {
 *   using _ = await condition.acquire();
 *   items.push(42);
 *   condition.notify();
 * }
 * assert.equal(await consumer, 42);
 * ```
 */
export class Condition {
  #lock: Lock;
  #waiters = new Waiters<true>();

  /**
   * Makes a condition on `lock`, or on a new {@linkcode Lock}.
   *
   * @param lock The lock to share with other conditions.
   * @throws {TypeError} If `lock` is given and is not a `Lock`.
   */
  constructor(lock?: Lock) {
    if (lock !== undefined && !(lock instanceof Lock)) {
      throw new TypeError(
        `Cannot create the Condition: 'lock' must be a Lock, got ${typeof lock}`,
      );
    }
    this.#lock = lock ?? new Lock();
  }

  /**
   * Takes the underlying lock (see {@linkcode Lock.acquire}).
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * using _ = await condition.acquire();
   * assert.ok(condition.locked());
   * ```
   *
   * @param options Cancellation.
   * @returns A guard that releases the lock once.
   */
  acquire(options?: SignalOptions): Promise<Guard> {
    return this.#lock.acquire(options);
  }

  /**
   * Runs `fn` holding the underlying lock (see {@linkcode Lock.run}): the
   * form of `async with condition:`.
   *
   * @example Wait for a state inside the lock
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * const items: number[] = [];
   * const consumer = condition.run(async () => {
   *   await condition.waitFor(() => items.length > 0);
   *   return items.shift();
   * });
   * await condition.run(() => {
   *   items.push(42);
   *   condition.notify();
   * });
   * assert.equal(await consumer, 42);
   * assert.equal(condition.locked(), false);
   * ```
   *
   * @typeParam T What `fn` returns or resolves to.
   * @param fn The code to run; it takes no arguments.
   * @param options Cancellation of the wait for the lock.
   * @returns `fn`'s result.
   */
  run<T>(fn: () => T | PromiseLike<T>, options?: SignalOptions): Promise<T> {
    if (typeof fn !== "function") return notAFunction("Condition", fn);
    return this.#lock.run(fn, options);
  }

  /**
   * Releases the underlying lock (see {@linkcode Lock.release}).
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * await condition.acquire();
   * condition.release();
   * assert.ok(!condition.locked());
   * ```
   *
   * @throws {Error} If the lock is not locked.
   */
  release(): void {
    this.#lock.release();
  }

  /**
   * Whether the underlying lock is held.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Condition().locked(), false);
   * ```
   *
   * @returns `true` while some task holds the lock.
   */
  locked(): boolean {
    return this.#lock.locked();
  }

  /**
   * Releases the lock, waits for a notification, then takes the lock back —
   * also when cancelled, so the caller always holds the lock again when this
   * settles. The caller must hold the lock.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * using _ = await condition.acquire();
   * const waiting = condition.wait();
   * assert.ok(!condition.locked()); // released while waiting
   * (async () => {
   *   using _ = await condition.acquire();
   *   condition.notify();
   * })();
   * assert.equal(await waiting, true);
   * assert.ok(condition.locked()); // held again
   * ```
   *
   * @param options Cancellation.
   * @returns `true` (asyncio's return value), once notified.
   * @throws {Error} If the lock is not held.
   */
  async wait(options?: SignalOptions): Promise<true> {
    if (!this.#lock.locked()) {
      throw new Error(
        "Cannot wait on the Condition: its lock is not held, got an unlocked Lock",
      );
    }
    if (cancelled(options)) return await refuse(options);
    this.#lock.release();
    let notified = false;
    let error: unknown = undefined;
    try {
      await park(this.#waiters, options);
      notified = true;
    } catch (caught) {
      error = caught;
    }
    // Take the lock back even when cancelled: the caller's guard owes one
    // release. The shield keeps the ambient cancellation out.
    await shield(() => this.#lock.acquire());
    if (notified) {
      // Cancelled while taking the lock back: pass the notification on.
      const signal = options?.signal;
      const scope = currentScope();
      if (signal?.aborted || scope?.cancelled) {
        this.#notify(1);
        return await refuse(options);
      }
      return true;
    }
    throw error;
  }

  /**
   * Waits until `predicate()` is truthy, checking it first and after each
   * notification; the caller must hold the lock.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * let ready = false;
   * const waiter = (async () => {
   *   using _ = await condition.acquire();
   *   return await condition.waitFor(() => ready && "ready");
   * })();
   * {
   *   using _ = await condition.acquire();
   *   ready = true;
   *   condition.notifyAll();
   * }
   * assert.equal(await waiter, "ready");
   * ```
   *
   * @param predicate The condition to wait for.
   * @param options Cancellation.
   * @returns The predicate's last (truthy) result.
   * @throws {TypeError} If `predicate` is not a function.
   */
  async waitFor<T>(
    predicate: () => T,
    options?: SignalOptions,
  ): Promise<T> {
    if (typeof predicate !== "function") {
      throw new TypeError(
        `Cannot wait on the Condition: 'predicate' must be a function, got ${typeof predicate}`,
      );
    }
    let result = predicate();
    while (!result) {
      await this.wait(options);
      result = predicate();
    }
    return result;
  }

  /**
   * Wakes up to `n` waiting tasks; each goes on once it has the lock. The
   * caller must hold the lock.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * using _ = await condition.acquire();
   * condition.notify(2); // nobody waits: nothing happens
   * assert.ok(condition.locked());
   * ```
   *
   * @param n How many waiters to wake; an integer ≥ 0.
   * @throws {Error} If the lock is not held.
   * @throws {RangeError} If `n` is not an integer ≥ 0.
   */
  notify(n = 1): void {
    if (n !== Infinity) checkCount("notify the Condition", "n", n, 0);
    if (!this.#lock.locked()) {
      throw new Error(
        "Cannot notify the Condition: its lock is not held, got an unlocked Lock",
      );
    }
    this.#notify(n);
  }

  /**
   * Wakes every waiting task. The caller must hold the lock.
   *
   * @example Usage
   * ```ts
   * import { Condition } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const condition = new Condition();
   * const woken: number[] = [];
   * const waiters = [1, 2].map(async (id) => {
   *   using _ = await condition.acquire();
   *   await condition.wait();
   *   woken.push(id);
   * });
   * {
   *   using _ = await condition.acquire(); // after both began to wait
   *   condition.notifyAll();
   * }
   * await Promise.all(waiters);
   * assert.deepEqual(woken, [1, 2]);
   * ```
   *
   * @throws {Error} If the lock is not held.
   */
  notifyAll(): void {
    this.notify(Infinity);
  }

  #notify(n: number): void {
    for (let i = 0; i < n; i++) {
      if (!this.#waiters.resolveNext(true)) return;
    }
  }
}
