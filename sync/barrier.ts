import type { SignalOptions } from "../async/cancel_scope.ts";
import { checkCount } from "./_check.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";

/**
 * Raised by {@linkcode Barrier.wait} when the barrier is broken by
 * {@linkcode Barrier.abort} or {@linkcode Barrier.reset} — asyncio's
 * `asyncio.BrokenBarrierError`.
 *
 * @example Usage
 * ```ts
 * import { Barrier, BrokenBarrierError } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const barrier = new Barrier(2);
 * barrier.abort();
 * await assert.rejects(barrier.wait(), BrokenBarrierError);
 * ```
 */
export class BrokenBarrierError extends Error {
  /**
   * Makes the error.
   *
   * @param message Why the barrier broke.
   */
  constructor(message = "Cannot pass the Barrier: it is broken") {
    super(message);
    this.name = "BrokenBarrierError";
  }
}

/**
 * A meeting point for a fixed number of tasks — asyncio's `asyncio.Barrier`:
 * each `wait()` blocks until `parties` tasks are waiting, then all go on, and
 * the barrier is ready for the next round. A cancelled waiter leaves without
 * breaking the barrier.
 *
 * @example Three tasks meet
 * ```ts
 * import { Barrier } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const barrier = new Barrier(3);
 * const indices = await Promise.all([
 *   barrier.wait(),
 *   barrier.wait(),
 *   barrier.wait(),
 * ]);
 * assert.deepEqual(indices, [0, 1, 2]);
 * ```
 */
export class Barrier {
  #parties: number;
  #waiters = new Waiters<number>();
  #broken = false;

  /**
   * Makes a barrier for `parties` tasks.
   *
   * @param parties How many tasks meet; an integer ≥ 1.
   * @throws {RangeError} If `parties` is not an integer ≥ 1.
   */
  constructor(parties: number) {
    checkCount("create the Barrier", "parties", parties, 1);
    this.#parties = parties;
  }

  /**
   * How many tasks must meet.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Barrier(4).parties, 4);
   * ```
   *
   * @returns The number given to the constructor.
   */
  get parties(): number {
    return this.#parties;
  }

  /**
   * How many tasks are waiting in the current round.
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * const first = barrier.wait();
   * assert.equal(barrier.nWaiting, 1);
   * await barrier.wait();
   * await first;
   * assert.equal(barrier.nWaiting, 0);
   * ```
   *
   * @returns The number of blocked waiters.
   */
  get nWaiting(): number {
    return this.#waiters.size;
  }

  /**
   * Whether the barrier is broken (by {@linkcode Barrier.abort}).
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * barrier.abort();
   * assert.ok(barrier.broken);
   * barrier.reset();
   * assert.ok(!barrier.broken);
   * ```
   *
   * @returns `true` after `abort()`, until `reset()`.
   */
  get broken(): boolean {
    return this.#broken;
  }

  /**
   * Waits until `parties` tasks wait, then lets them all go on. Rejects with
   * {@linkcode BrokenBarrierError} if the barrier is or gets broken or
   * reset, and with the cancellation if the ambient cancel scope is
   * cancelled or `options.signal` aborts first (the task then leaves the
   * round).
   *
   * @example Usage
   * ```ts
   * import { Barrier } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(1);
   * assert.equal(await barrier.wait(), 0);
   * ```
   *
   * @param options Cancellation.
   * @returns This task's arrival index in its round, from 0 to
   * `parties - 1`, unique in the round.
   */
  wait(options?: SignalOptions): Promise<number> {
    if (this.#broken) {
      if (cancelled(options)) return refuse(options);
      return Promise.reject(new BrokenBarrierError());
    }
    if (this.#waiters.size + 1 < this.#parties) {
      return park(this.#waiters, options);
    }
    if (cancelled(options)) return refuse(options);
    // The last party: release the round, in order of arrival.
    const index = this.#waiters.size;
    for (let i = 0; i < index; i++) this.#waiters.resolveNext(i);
    return Promise.resolve(index);
  }

  /**
   * Breaks the barrier: waiting tasks and later waits reject with
   * {@linkcode BrokenBarrierError}, until {@linkcode Barrier.reset}.
   *
   * @example Usage
   * ```ts
   * import { Barrier, BrokenBarrierError } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * const waiting = barrier.wait();
   * barrier.abort();
   * await assert.rejects(waiting, BrokenBarrierError);
   * ```
   */
  abort(): void {
    this.#broken = true;
    this.#breakWaiters("Cannot pass the Barrier: it was aborted");
  }

  /**
   * Returns the barrier to its empty state: tasks waiting in the current
   * round reject with {@linkcode BrokenBarrierError}, and a broken barrier
   * works again.
   *
   * @example Usage
   * ```ts
   * import { Barrier, BrokenBarrierError } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const barrier = new Barrier(2);
   * const waiting = barrier.wait();
   * barrier.reset();
   * await assert.rejects(waiting, BrokenBarrierError);
   * assert.equal(barrier.nWaiting, 0);
   * ```
   */
  reset(): void {
    this.#broken = false;
    this.#breakWaiters("Cannot pass the Barrier: it was reset");
  }

  #breakWaiters(message: string): void {
    if (this.#waiters.size > 0) {
      this.#waiters.rejectAll(new BrokenBarrierError(message));
    }
  }
}
