import { type SignalOptions, suspend } from "./cancel_scope.ts";

/** Options for {@linkcode sleep}. */
export type SleepOptions = SignalOptions;

/**
 * Waits `ms` milliseconds without blocking the event loop — asyncio's
 * `asyncio.sleep`. Rejects with {@linkcode CancelledError} if the enclosing
 * cancel scope is cancelled first, and with the signal's reason if
 * `options.signal` aborts.
 *
 * @example Usage
 * ```ts
 * import { sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const start = performance.now();
 * await sleep(10);
 * assert.ok(performance.now() - start >= 9);
 * ```
 *
 * @param ms How long to wait, in milliseconds; a finite number ≥ 0.
 * @param options Cancellation.
 * @returns A promise that resolves after `ms` milliseconds.
 */
export function sleep(ms: number, options?: SleepOptions): Promise<void> {
  if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
    throw new RangeError(
      `Cannot sleep: 'ms' must be a finite number >= 0, got ${ms}`,
    );
  }
  return suspend<void>((resolve) => {
    // Looked up on each call so that a fake clock installed later applies.
    const id = setTimeout(resolve, ms);
    return () => clearTimeout(id);
  }, options);
}
