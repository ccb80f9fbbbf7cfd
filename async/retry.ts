import { CancelScope, currentScope } from "./_scope.ts";
import { sleep } from "./sleep.ts";
import { timeout } from "./timeout.ts";

// How many attempts' errors a RetryError keeps: the most recent ones, so
// that `attempts: Infinity` with `maxElapsed` does not grow without bound.
const KEPT_ERRORS = 100;

/**
 * Thrown by {@linkcode retry} when every attempt failed (or its time budget
 * was spent) — tenacity's `RetryError`. `errors` holds each attempt's error
 * in order (the last 100 when there were more); `cause` is the last one;
 * `attempts` says how many attempts were made.
 *
 * @example Usage
 * ```ts
 * import { retry, RetryError } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const error = await retry(() => {
 *   throw new Error("down");
 * }, { attempts: 3, minDelay: 0 }).catch((e) => e);
 * assert.ok(error instanceof RetryError);
 * assert.equal(error.errors.length, 3);
 * assert.equal((error.cause as Error).message, "down");
 * ```
 */
export class RetryError extends Error {
  /** Every attempt's error, the first attempt's first (at most the last 100). */
  readonly errors: unknown[];
  /** How many attempts were made in all. */
  readonly attempts: number;

  /**
   * Makes a retry error.
   *
   * @param message What failed.
   * @param errors Every attempt's error; the last one becomes the `cause`.
   * @param attempts How many attempts were made; `errors.length` by default.
   */
  constructor(message: string, errors: unknown[], attempts?: number) {
    super(message, { cause: errors.at(-1) });
    this.name = "RetryError";
    this.errors = errors;
    this.attempts = attempts ?? errors.length;
  }
}

/**
 * Where {@linkcode retry} stands, passed to `retryIf`, `onRetry` and
 * `retryAfter` — p-retry's attempt context.
 */
export interface RetryContext {
  /** The attempt that just failed, from 1. */
  readonly attempt: number;
  /** How many attempts are left after it (`Infinity` with `attempts: Infinity`). */
  readonly retriesLeft: number;
  /** Milliseconds since `retry` was called, on the `performance.now()` clock. */
  readonly elapsed: number;
}

/** Options for {@linkcode retry}. */
export interface RetryOptions {
  /** How many times to call `fn` in all, the first call included; 5 by default. */
  attempts?: number;
  /**
   * A total time budget, in milliseconds since `retry` was called: after a
   * failure, no wait starts that would end past it — `retry` throws
   * {@linkcode RetryError} instead (the "max elapsed time" of Google's
   * backoff). It does not cut an attempt short; wrap `retry` in `timeout`
   * for a hard limit. None by default.
   */
  maxElapsed?: number;
  /**
   * The backoff of the first retry, in milliseconds; 1000 by default. The
   * n-th retry's backoff is `min(maxDelay, minDelay * multiplier ** (n - 1))`.
   */
  minDelay?: number;
  /** The largest backoff, in milliseconds; 60 000 by default. */
  maxDelay?: number;
  /** How much the backoff grows from one retry to the next; 2 by default. */
  multiplier?: number;
  /**
   * `"full"` (the default) waits a random time between 0 and the backoff —
   * AWS's "full jitter", which spreads out clients that failed together;
   * `"none"` waits exactly the backoff.
   */
  jitter?: "full" | "none";
  /**
   * Whether an error is worth another attempt; `attempt` counts from 1. When
   * it returns false the error is thrown as it is, without more attempts.
   * Every error is retried by default (except cancellation of the caller).
   */
  retryIf?: (
    error: unknown,
    attempt: number,
    context: RetryContext,
  ) => boolean | PromiseLike<boolean>;
  /**
   * A time limit for each attempt, in milliseconds: when it passes, the
   * attempt's cancel scope is cancelled and the attempt fails with a
   * `TimeoutError` (retried like any other error). None by default.
   */
  attemptTimeout?: number;
  /**
   * Called before each wait with the error, the attempt that failed (from 1)
   * and the delay chosen, in milliseconds; awaited when it returns a promise.
   */
  onRetry?: (
    error: unknown,
    attempt: number,
    delay: number,
    context: RetryContext,
  ) => void | PromiseLike<void>;
  /**
   * Lets the caller dictate the next delay, in milliseconds, from the error
   * (an HTTP client reads `Retry-After` here); used as it is, without jitter
   * or `maxDelay`. Return `undefined` for the usual backoff.
   */
  retryAfter?: (
    error: unknown,
    attempt: number,
    context: RetryContext,
  ) => number | undefined;
  /** The source of jitter, a function returning numbers in [0, 1); `Math.random` by default. */
  random?: () => number;
  /**
   * Cancels the retries, during an attempt or a wait; `retry` rejects with
   * the signal's reason (a plain abort becomes a `CancelledError`).
   */
  signal?: AbortSignal;
}

function checkNumber(
  name: string,
  value: unknown,
  ok: (n: number) => boolean,
  rule: string,
): void {
  if (typeof value !== "number" || !ok(value)) {
    throw new RangeError(
      `Cannot retry: '${name}' must be ${rule}, got ${String(value)}`,
    );
  }
}

function checkFunction(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw new TypeError(
      `Cannot retry: '${name}' must be a function, got ${typeof value}`,
    );
  }
}

/**
 * Calls `fn` until it succeeds, waiting longer after each failure —
 * exponential backoff with full jitter, like tenacity's `retry` or
 * `backoff.on_exception`. `fn` receives the attempt number (from 1) and runs
 * in its own cancel scope, limited by `attemptTimeout`. There is no wait after
 * the last attempt; when every attempt failed, {@linkcode RetryError} carries
 * all their errors. Cancellation of the caller (the ambient scope or
 * `options.signal`) is honoured during attempts and waits and is never
 * retried.
 *
 * @example Retry a flaky call
 * ```ts
 * import { retry } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const value = await retry(() => {
 *   if (++calls < 3) throw new Error("flaky");
 *   return "ok";
 * }, { minDelay: 1, jitter: "none" });
 * assert.equal(value, "ok");
 * assert.equal(calls, 3);
 * ```
 *
 * @example Stop early on errors that will not heal
 * ```ts
 * import { retry } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * await assert.rejects(
 *   retry(() => {
 *     calls++;
 *     throw new TypeError("a bug, not an outage");
 *   }, { minDelay: 1, retryIf: (error) => !(error instanceof TypeError) }),
 *   TypeError,
 * );
 * assert.equal(calls, 1);
 * ```
 *
 * @example A virtual 30-second backoff under FakeTime
 * ```ts
 * import { retry } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime({ autoAdvance: true });
 * const start = time.now;
 * let calls = 0;
 * await retry(() => {
 *   if (++calls < 4) throw new Error("busy");
 * }, { minDelay: 10_000, jitter: "none" });
 * assert.equal(time.now - start, 10_000 + 20_000 + 40_000);
 * ```
 *
 * @example A total time budget, and the attempt context
 * ```ts
 * import { retry, RetryError } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using _time = new FakeTime({ autoAdvance: true });
 * const log: string[] = [];
 * const error = await retry(() => {
 *   throw new Error("busy");
 * }, {
 *   attempts: Infinity,
 *   minDelay: 1000,
 *   jitter: "none",
 *   maxElapsed: 5000,
 *   onRetry: (_error, _attempt, delay, { attempt, elapsed }) => {
 *     log.push(`attempt ${attempt} failed at ${elapsed} ms, next in ${delay}`);
 *   },
 * }).catch((e) => e);
 * assert.ok(error instanceof RetryError);
 * assert.equal(error.attempts, 3); // at 0, 1000 and 3000; 3000 + 4000 > 5000
 * assert.deepEqual(log, [
 *   "attempt 1 failed at 0 ms, next in 1000",
 *   "attempt 2 failed at 1000 ms, next in 2000",
 * ]);
 * ```
 *
 * @param fn The operation; it receives the attempt number, from 1.
 * @param options Attempts, backoff, jitter, filters, hooks and cancellation.
 * @returns `fn`'s first successful result.
 */
export async function retry<T>(
  fn: (attempt: number) => T | PromiseLike<T>,
  options?: RetryOptions,
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot retry: 'fn' must be a function, got ${typeof fn}`,
    );
  }
  const attempts = options?.attempts ?? 5;
  const minDelay = options?.minDelay ?? 1000;
  const maxDelay = options?.maxDelay ?? 60_000;
  const multiplier = options?.multiplier ?? 2;
  const jitter = options?.jitter ?? "full";
  const attemptTimeout = options?.attemptTimeout ?? Infinity;
  const maxElapsed = options?.maxElapsed ?? Infinity;
  checkNumber(
    "attempts",
    attempts,
    (n) => n >= 1 && (Number.isInteger(n) || n === Infinity),
    "an integer >= 1 (or Infinity)",
  );
  checkNumber(
    "minDelay",
    minDelay,
    (n) => n >= 0 && Number.isFinite(n),
    "a finite number >= 0",
  );
  checkNumber(
    "maxDelay",
    maxDelay,
    (n) => n >= minDelay && Number.isFinite(n),
    `a finite number >= minDelay (${minDelay})`,
  );
  checkNumber(
    "multiplier",
    multiplier,
    (n) => n >= 1 && Number.isFinite(n),
    "a finite number >= 1",
  );
  if (jitter !== "full" && jitter !== "none") {
    throw new RangeError(
      `Cannot retry: 'jitter' must be "full" or "none", got ${String(jitter)}`,
    );
  }
  checkNumber(
    "attemptTimeout",
    attemptTimeout,
    (n) => n > 0,
    "a number > 0 (or Infinity)",
  );
  checkNumber(
    "maxElapsed",
    maxElapsed,
    (n) => n >= 0,
    "a number >= 0 (or Infinity)",
  );
  const { retryIf, onRetry, retryAfter, signal } = options ?? {};
  const random = options?.random ?? Math.random;
  checkFunction("retryIf", retryIf);
  checkFunction("onRetry", onRetry);
  checkFunction("retryAfter", retryAfter);
  checkFunction("random", random);
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot retry: 'signal' must be an AbortSignal, got ${typeof signal}`,
    );
  }

  const delayAfter = (
    error: unknown,
    attempt: number,
    context: RetryContext,
  ): number => {
    const dictated = retryAfter?.(error, attempt, context);
    if (dictated !== undefined) {
      checkNumber(
        "retryAfter",
        dictated,
        (n) => n >= 0 && Number.isFinite(n),
        "a function returning a finite number >= 0 or undefined",
      );
      return dictated;
    }
    // 0 * multiplier ** 1024 would be 0 * Infinity = NaN.
    const backoff = minDelay === 0
      ? 0
      : Math.min(maxDelay, minDelay * multiplier ** (attempt - 1));
    if (jitter === "none") return backoff;
    const r = random();
    if (typeof r !== "number" || !(r >= 0 && r < 1)) {
      throw new RangeError(
        `Cannot retry: 'random' must return a number in [0, 1), got ${
          String(r)
        }`,
      );
    }
    return r * backoff;
  };

  const started = performance.now();
  const loop = async (): Promise<T> => {
    const errors: unknown[] = [];
    const scope = currentScope(); // ours when there is a signal
    for (let attempt = 1;; attempt++) {
      if (scope?.cancelled) throw scope.reason;
      try {
        return attemptTimeout === Infinity
          ? await fn(attempt)
          : await timeout(attemptTimeout, () => fn(attempt));
      } catch (error) {
        // The caller's cancellation is not a failure of the attempt: rethrow
        // it (the signal's reason), whatever the attempt failed with.
        if (scope?.cancelled) throw scope.reason;
        if (errors.length === KEPT_ERRORS) errors.shift();
        errors.push(error);
        const context: RetryContext = {
          attempt,
          retriesLeft: attempts - attempt,
          elapsed: performance.now() - started,
        };
        if (
          retryIf !== undefined && !(await retryIf(error, attempt, context))
        ) {
          throw error;
        }
        if (attempt >= attempts) {
          throw new RetryError(
            `Cannot retry any more: all ${attempt} attempts failed, got ${
              describe(error)
            } from the last`,
            errors,
            attempt,
          );
        }
        const delay = delayAfter(error, attempt, context);
        if (performance.now() - started + delay > maxElapsed) {
          throw new RetryError(
            `Cannot retry any more: the time budget of ${maxElapsed} ms would be spent before attempt ${
              attempt + 1
            }, got ${describe(error)} from attempt ${attempt}`,
            errors,
            attempt,
          );
        }
        if (onRetry !== undefined) {
          await onRetry(error, attempt, delay, context);
        }
        await sleep(delay);
      }
    }
  };

  if (signal === undefined) return await loop();
  // The signal cancels a scope around the whole loop; a scope that only a
  // signal cancels rethrows the cancellation instead of swallowing it.
  return (await new CancelScope({ signal }).run(loop)) as T;
}

// Never throws: an error may be `Object.create(null)` or have a throwing
// `toString`, and the message must not hide the real error.
function describe(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}
