// throttle(): Deno std's (async), aware of cancel scopes.
import { LaterCall, reportRejection } from "./_later.ts";

/** Options for {@linkcode throttle}. */
export interface ThrottleOptions {
  /**
   * Whether a call made during the time frame is kept and made when the
   * frame ends (with the arguments of the last one), so the latest value is
   * never lost — @std's `ensureLastCall`, lodash's trailing edge. `false` by
   * default: such calls are dropped.
   */
  ensureLastCall?: boolean;
}

/** A function made by {@linkcode throttle}. */
export interface ThrottledFunction<A extends unknown[]> {
  /** Calls `fn` now, unless a time frame is running; see `ensureLastCall`. */
  (...args: A): void;
  /** Drops the kept call, if any, and ends the time frame. */
  cancel(): void;
  /** Makes the kept call now, if any. */
  flush(): void;
  /** Whether a call is kept for the end of the time frame. */
  readonly pending: boolean;
  /** Whether a time frame is running (a call now would not run at once). */
  readonly throttling: boolean;
}

/**
 * Makes a function that calls `fn` at most once per `timeframe`
 * milliseconds — Deno std's (async) `throttle`, lodash's `throttle`. The first call
 * runs at once and starts a time frame; calls during the frame are dropped,
 * or, with `ensureLastCall`, the last of them runs when the frame ends. For
 * progress reports, scroll handlers, "save at most once a second".
 *
 * Aware of cancel scopes: a kept call runs in the async context of the call
 * that made it, so in its cancel scope, and is dropped if that scope is
 * cancelled first. Errors of a kept call go to the exception handler (see
 * `setExceptionHandler`); a call that runs at once throws to its caller, as
 * calling `fn` would.
 *
 * @example At most one report per second, the last value kept
 * ```ts
 * import { throttle } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(0);
 * const reported: number[] = [];
 * const report = throttle((done: number) => reported.push(done), 1000, {
 *   ensureLastCall: true,
 * });
 * for (let done = 1; done <= 5; done++) {
 *   report(done);
 *   time.tick(300);
 * }
 * // 1 at once, 4 at the end of the first second; 5 waits for the next.
 * assert.deepEqual(reported, [1, 4]);
 * time.tick(1000);
 * assert.deepEqual(reported, [1, 4, 5]);
 * ```
 *
 * @typeParam A The arguments of `fn`.
 * @param fn The function to call.
 * @param timeframe The time frame, in milliseconds; a finite number ≥ 0.
 * @param options Whether the last call of a frame is kept.
 * @returns The throttled function, with `cancel`, `flush`, `pending` and
 * `throttling`.
 */
export function throttle<A extends unknown[]>(
  fn: (...args: A) => unknown,
  timeframe: number,
  options?: ThrottleOptions,
): ThrottledFunction<A> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot throttle: 'fn' must be a function, got ${typeof fn}`,
    );
  }
  if (
    typeof timeframe !== "number" || !(timeframe >= 0) ||
    !Number.isFinite(timeframe)
  ) {
    throw new RangeError(
      `Cannot throttle: 'timeframe' must be a finite number >= 0, got ${
        String(timeframe)
      }`,
    );
  }
  const ensureLastCall = options?.ensureLastCall === true;
  // When the last call ran, on the performance.now() clock: the frame. A
  // timer exists only while a call is kept for the frame's end.
  let last = -Infinity;
  const call = new LaterCall(fn, "A throttled function", () => {
    last = performance.now(); // the kept call starts a frame of its own
  });
  const throttled = ((...args: A): void => {
    const now = performance.now();
    if (now - last >= timeframe && !call.pending) {
      last = now;
      reportRejection(fn(...args), "A throttled function");
      return;
    }
    if (!ensureLastCall) return;
    const armed = call.pending;
    call.keep(args);
    if (call.pending && !armed) call.arm(Math.max(0, last + timeframe - now));
  }) as ThrottledFunction<A>;
  Object.defineProperties(throttled, {
    cancel: {
      value: () => {
        call.cancel();
        last = -Infinity;
      },
    },
    flush: {
      value: () => {
        if (!call.pending) return;
        last = performance.now();
        call.flush();
      },
    },
    pending: { get: () => call.pending },
    throttling: { get: () => performance.now() - last < timeframe },
  });
  return throttled;
}
