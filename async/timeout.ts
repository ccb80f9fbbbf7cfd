import { CancelScope } from "./_scope.ts";

/**
 * The error a {@linkcode timeout} or `waitFor` throws when its deadline
 * passes — asyncio's `TimeoutError`. Inside the scope, the awaits rejected
 * with `CancelledError`; this is what leaves it.
 *
 * @example Usage
 * ```ts
 * import { sleep, timeout, TimeoutError } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(timeout(5, () => sleep(60_000)), TimeoutError);
 * ```
 */
export class TimeoutError extends Error {
  /**
   * Makes a timeout error.
   *
   * @param message What timed out.
   * @param options The `cause`, if any.
   */
  constructor(message = "The operation timed out", options?: ErrorOptions) {
    super(message, options);
    this.name = "TimeoutError";
  }
}

// The checks return the error instead of throwing it: these functions
// reject on bad input, never throw synchronously.
function badMs(what: string, ms: number): Error | undefined {
  if (typeof ms !== "number") {
    return new TypeError(
      `Cannot ${what}: 'ms' must be a number >= 0 (or Infinity), got ${typeof ms}`,
    );
  }
  if (!(ms >= 0)) {
    return new RangeError(
      `Cannot ${what}: 'ms' must be a number >= 0 (or Infinity), got ${ms}`,
    );
  }
}

function badArgs(
  what: string,
  deadline: number,
  fn: unknown,
): Error | undefined {
  if (typeof deadline !== "number") {
    return new TypeError(
      `Cannot ${what}: 'deadline' must be a number on the performance.now() clock, got ${typeof deadline}`,
    );
  }
  if (Number.isNaN(deadline)) {
    return new RangeError(
      `Cannot ${what}: 'deadline' must be a time on the performance.now() clock, got NaN`,
    );
  }
  if (typeof fn !== "function") {
    return new TypeError(
      `Cannot ${what}: 'fn' must be a function, got ${typeof fn}`,
    );
  }
}

/**
 * Runs `fn` in a cancel scope that expires at `deadline` (on the
 * `performance.now()` clock) — asyncio's `timeout_at`, Trio's `fail_at`.
 * On expiry every await inside rejects with `CancelledError`, and if that
 * cancellation leaves `fn`, it becomes a {@linkcode TimeoutError}. A
 * cancellation from an enclosing scope stays a cancellation.
 *
 * @example Usage
 * ```ts
 * import { sleep, timeoutAt } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const value = await timeoutAt(performance.now() + 1000, async () => {
 *   await sleep(1);
 *   return "in time";
 * });
 * assert.equal(value, "in time");
 * ```
 *
 * @param deadline When to give up, on the `performance.now()` clock.
 * @param fn The work; it receives the scope (`reschedule`, `deadline`,
 * `expired()`).
 * @returns `fn`'s result.
 */
export async function timeoutAt<T>(
  deadline: number,
  fn: (scope: CancelScope) => T | PromiseLike<T>,
): Promise<T> {
  const bad = badArgs("run with a timeout", deadline, fn);
  if (bad !== undefined) throw bad;
  const scope = new CancelScope({ deadline });
  const result = await scope.run(fn);
  if (scope.cancelledCaught) {
    throw new TimeoutError(
      scope.expired()
        ? "Timed out: the deadline passed before the operation finished"
        : "Timed out: the timeout scope was cancelled",
    );
  }
  return result as T;
}

/**
 * Runs `fn` with a time limit of `ms` milliseconds — asyncio's
 * `asyncio.timeout`, Trio's `fail_after`. Throws {@linkcode TimeoutError} if
 * the limit passes first; `scope.reschedule(ms)` moves the limit.
 *
 * @example Usage
 * ```ts
 * import { sleep, timeout, TimeoutError } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(timeout(10, () => sleep(60_000)), TimeoutError);
 * assert.equal(await timeout(1000, () => "fast"), "fast");
 * ```
 *
 * @example Extend the limit from inside
 * ```ts
 * import { sleep, timeout } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const value = await timeout(5, async (scope) => {
 *   scope.reschedule(1000);
 *   await sleep(20);
 *   return scope.expired();
 * });
 * assert.equal(value, false);
 * ```
 *
 * @param ms The limit, in milliseconds (≥ 0; `Infinity` for none).
 * @param fn The work; it receives the scope.
 * @returns `fn`'s result.
 */
export function timeout<T>(
  ms: number,
  fn: (scope: CancelScope) => T | PromiseLike<T>,
): Promise<T> {
  const bad = badMs("run with a timeout", ms);
  if (bad !== undefined) return Promise.reject(bad);
  return timeoutAt(performance.now() + ms, fn);
}

/**
 * Runs `fn` with a time limit, and returns `undefined` instead of throwing
 * when it passes — Trio's `move_on_after`.
 *
 * @example Usage
 * ```ts
 * import { moveOnAfter, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const value = await moveOnAfter(5, async () => {
 *   await sleep(60_000);
 *   return "slept";
 * });
 * assert.equal(value, undefined);
 * ```
 *
 * @param ms The limit, in milliseconds (≥ 0; `Infinity` for none).
 * @param fn The work; it receives the scope.
 * @returns `fn`'s result, or `undefined` if the limit passed.
 */
export function moveOnAfter<T>(
  ms: number,
  fn: (scope: CancelScope) => T | PromiseLike<T>,
): Promise<T | undefined> {
  const bad = badMs("move on after a timeout", ms);
  if (bad !== undefined) return Promise.reject(bad);
  return moveOnAt(performance.now() + ms, fn);
}

/**
 * Like {@linkcode moveOnAfter}, with an absolute deadline on the
 * `performance.now()` clock — Trio's `move_on_at`.
 *
 * @example Usage
 * ```ts
 * import { moveOnAt, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await moveOnAt(performance.now(), () => sleep(1000)), undefined);
 * ```
 *
 * @param deadline When to give up.
 * @param fn The work; it receives the scope.
 * @returns `fn`'s result, or `undefined` if the deadline passed.
 */
export function moveOnAt<T>(
  deadline: number,
  fn: (scope: CancelScope) => T | PromiseLike<T>,
): Promise<T | undefined> {
  const bad = badArgs("move on at a deadline", deadline, fn);
  if (bad !== undefined) return Promise.reject(bad);
  return new CancelScope({ deadline }).run(fn);
}
