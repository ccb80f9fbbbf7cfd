import { checkpoint, type SignalOptions } from "./cancel_scope.ts";
import {
  addListener,
  type CancelScope,
  currentScope,
  removeListener,
  toCancelError,
} from "./_scope.ts";
import { schedule, Timer, unschedule } from "./_timers.ts";

/** Options for {@linkcode sleep}. */
export interface SleepOptions extends SignalOptions {
  /**
   * When false, the sleep does not keep the process alive: a program whose
   * only pending work is such a sleep exits (Node's `timer.unref()`). `true`
   * by default.
   */
  persistent?: boolean;
}

// One object per sleep: it is the heap entry, the scope's cancel listener
// and the signal's event listener at once.
class Sleeper extends Timer {
  #resolve: () => void;
  #reject: (error: unknown) => void;
  #scope: CancelScope | undefined;
  #signal: AbortSignal | undefined;

  constructor(
    resolve: () => void,
    reject: (error: unknown) => void,
    scope: CancelScope | undefined,
    signal: AbortSignal | undefined,
  ) {
    super();
    this.#resolve = resolve;
    this.#reject = reject;
    this.#scope = scope;
    this.#signal = signal;
  }

  fire(): void {
    this.#detach();
    this.#resolve();
  }

  onCancel(error: unknown): void {
    unschedule(this);
    this.#detach();
    this.#reject(error);
  }

  handleEvent(): void {
    this.onCancel(toCancelError(this.#signal!.reason));
  }

  #detach(): void {
    this.#scope?.[removeListener](this);
    this.#signal?.removeEventListener("abort", this);
  }
}

/**
 * Waits `ms` milliseconds without blocking the event loop — asyncio's
 * `asyncio.sleep`. `sleep(0)` yields one turn of the event loop, like
 * {@linkcode checkpoint}. Rejects with {@linkcode CancelledError} if the enclosing
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
 * @example A sleep that does not keep the program alive
 * ```ts
 * import { sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const stop = new AbortController();
 * // A watchdog: alone, it would not keep the process from exiting.
 * const watchdog = sleep(60_000, { persistent: false, signal: stop.signal });
 * await sleep(1);
 * stop.abort();
 * await assert.rejects(watchdog);
 * ```
 *
 * @param ms How long to wait, in milliseconds; a finite number ≥ 0.
 * @param options Cancellation, and whether the sleep keeps the process alive.
 * @returns A promise that resolves after `ms` milliseconds.
 */
export function sleep(ms: number, options?: SleepOptions): Promise<void> {
  if (typeof ms !== "number" || !(ms >= 0) || !Number.isFinite(ms)) {
    return Promise.reject(
      new RangeError(
        `Cannot sleep: 'ms' must be a finite number >= 0, got ${
          typeof ms === "number" ? ms : typeof ms
        }`,
      ),
    );
  }
  const persistent = options?.persistent ?? true;
  if (typeof persistent !== "boolean") {
    return Promise.reject(
      new TypeError(
        `Cannot sleep: 'persistent' must be a boolean, got ${typeof persistent}`,
      ),
    );
  }
  // Like asyncio.sleep(0): one turn of the event loop, not a timer (nested
  // zero timers are clamped to 4 ms, and a fake clock must not stop it).
  if (ms === 0) return checkpoint(options);
  const signal = options?.signal;
  if (signal !== undefined) {
    if (!(signal instanceof AbortSignal)) {
      return Promise.reject(
        new TypeError(
          `Cannot sleep: 'signal' must be an AbortSignal, got ${typeof signal}`,
        ),
      );
    }
    if (signal.aborted) return Promise.reject(toCancelError(signal.reason));
  }
  const scope = currentScope();
  if (scope?.cancelled) return Promise.reject(scope.reason);
  return new Promise<void>((resolve, reject) => {
    const sleeper = new Sleeper(resolve, reject, scope, signal);
    schedule(sleeper, ms, persistent);
    scope?.[addListener](sleeper);
    signal?.addEventListener("abort", sleeper, { once: true });
  });
}
