import type { SignalOptions } from "../async/cancel_scope.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";

/**
 * A flag that tasks can wait for — asyncio's `asyncio.Event`. `set()` wakes
 * every waiter; `clear()` makes later waits block again.
 *
 * @example Wait for a signal from another task
 * ```ts
 * import { Event } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const ready = new Event();
 * const waiting = ready.wait().then(() => "woken");
 * ready.set();
 * assert.equal(await waiting, "woken");
 * assert.ok(ready.isSet());
 * ```
 */
export class Event {
  #set = false;
  #waiters = new Waiters<true>();

  /**
   * Whether the flag is set.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * assert.equal(event.isSet(), false);
   * event.set();
   * assert.equal(event.isSet(), true);
   * ```
   *
   * @returns `true` once `set()` was called, until `clear()`.
   */
  isSet(): boolean {
    return this.#set;
  }

  /**
   * Sets the flag and wakes every waiter. Idempotent.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * assert.equal(await event.wait(), true);
   * ```
   */
  set(): void {
    if (this.#set) return;
    this.#set = true;
    this.#waiters.resolveAll(true);
  }

  /**
   * Clears the flag: later waits block until the next `set()`. Waiters
   * already woken stay woken.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * event.set();
   * event.clear();
   * assert.equal(event.isSet(), false);
   * ```
   */
  clear(): void {
    this.#set = false;
  }

  /**
   * Waits until the flag is set. Rejects if the ambient cancel scope is
   * cancelled or `options.signal` aborts first, even when the flag is set.
   *
   * @example Usage
   * ```ts
   * import { Event } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const event = new Event();
   * setTimeout(() => event.set(), 0);
   * assert.equal(await event.wait(), true);
   * ```
   *
   * @param options Cancellation.
   * @returns `true` (asyncio's return value), once the flag is set.
   */
  wait(options?: SignalOptions): Promise<true> {
    if (this.#set) {
      if (cancelled(options)) return refuse(options);
      return Promise.resolve(true);
    }
    return park(this.#waiters, options);
  }
}
