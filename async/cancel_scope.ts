// Public face of the cancel-scope core: the scope class, the ambient queries,
// `shield`, `checkpoint` and `suspend`, the building block of every await.
import { clearImmediate, setImmediate } from "node:timers";
import {
  addListener,
  ambientCancelled,
  awaitInScope,
  CancelledError,
  CancelScope,
  type CancelScopeOptions,
  currentScope,
  exitScope,
  isCancellation,
  isThenable,
  rejection,
  removeListener,
  runOutside,
  toCancelError,
} from "./_scope.ts";
import { reportException } from "./_report.ts";

export {
  ambientCancelled,
  CancelledError,
  CancelScope,
  type CancelScopeOptions,
  currentScope,
  isCancellation,
};

/** Options shared by every await of this library. */
export interface SignalOptions {
  /**
   * Aborts the wait; it rejects with the signal's reason (a plain
   * `AbortError` becomes a {@linkcode CancelledError}).
   */
  signal?: AbortSignal;
}

const neverAborted = new AbortController().signal;

/**
 * An `AbortSignal` that aborts when the ambient cancel scope is cancelled, to
 * hand to `fetch` or any API that takes a signal. Outside every scope it is a
 * signal that never aborts.
 *
 * @example Hand the ambient cancellation to an API that takes a signal
 * ```ts
 * import { currentSignal, timeout, TimeoutError } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * await assert.rejects(
 *   timeout(10, () =>
 *     new Promise((_, reject) => {
 *       const signal = currentSignal();
 *       signal.addEventListener("abort", () => reject(signal.reason));
 *     })),
 *   TimeoutError,
 * );
 * ```
 *
 * @returns The current scope's signal.
 */
export function currentSignal(): AbortSignal {
  return currentScope()?.signal ?? neverAborted;
}

/**
 * Low-level: one cancellable wait, as one object — what every blocking await
 * of aio is made of. A subclass keeps its own state (a slot in a FIFO, a
 * payload) and says in {@linkcode Waiter.withdraw} how to leave its line when
 * the wait is cancelled; the waiter is its own cancel listener and abort
 * listener, so a blocked wait costs this object and its promise.
 *
 * Settle-once: after {@linkcode Waiter.resolve} or `reject`, cancellation no
 * longer applies; a cancellation that comes first calls `withdraw`, then
 * rejects the promise.
 *
 * Cancel = ask, then wait: when the operation a wait stands for cannot stop
 * at once (a query the server must confirm cancelled, a worker that must be
 * terminated), `withdraw` returns a promise of its end — Trio's `abort_fn`
 * answering "not yet". The wait is then *cancelling*: `resolve`/`reject` are
 * ignored, and the promise rejects with the cancellation error only once that
 * promise settles (either way). So a task, and the TaskGroup around it, ends
 * only once the work underneath has really stopped.
 *
 * @example A wait that a producer hands a value to
 * ```ts
 * import { Waiter } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const line: Waiter<number>[] = [];
 * class Getter extends Waiter<number> {
 *   protected withdraw(): void {
 *     line.splice(line.indexOf(this), 1); // leave the line: lose nothing
 *   }
 * }
 * const getter = new Getter();
 * line.push(getter);
 * const value = getter.wait();
 * line.shift()!.resolve(7);
 * assert.equal(await value, 7);
 * ```
 *
 * @typeParam T The value the wait ends with.
 */
export abstract class Waiter<T> implements EventListenerObject {
  // Only the resolve function is kept (a rejection resolves with a thenable
  // that rejects), and the scope and signal share one field: a blocked wait
  // is small — these two fields and the promise.
  #resolve: ((value: T | PromiseLike<T>) => void) | undefined = undefined;
  #source: CancelScope | AbortSignal | [CancelScope, AbortSignal] | undefined =
    undefined;

  /**
   * Starts the wait in the ambient scope; rejects at once if that scope is
   * cancelled or `options.signal` is aborted (then `withdraw` is not called:
   * put the waiter in its line only after calling `wait`).
   *
   * @param options Cancellation.
   * @returns A promise of the value passed to `resolve`.
   */
  wait(options?: SignalOptions): Promise<T> {
    const signal = options?.signal;
    if (signal !== undefined) {
      if (!(signal instanceof AbortSignal)) {
        return Promise.reject(
          new TypeError(
            `Cannot wait: 'signal' must be an AbortSignal, got ${typeof signal}`,
          ),
        );
      }
      if (signal.aborted) return Promise.reject(toCancelError(signal.reason));
    }
    const scope = currentScope();
    if (scope?.cancelled) return Promise.reject(scope.reason);
    const promise = new Promise<T>((resolve) => {
      this.#resolve = resolve;
    });
    if (scope !== undefined) {
      scope[addListener](this);
      this.#source = signal === undefined ? scope : [scope, signal];
    } else {
      this.#source = signal;
    }
    signal?.addEventListener("abort", this, { once: true });
    return promise;
  }

  /** Whether the wait is still pending (not settled, not cancelled). */
  get pending(): boolean {
    return this.#resolve !== undefined;
  }

  /**
   * Ends the wait with `value`. Returns `false` (and does nothing) if it
   * already ended.
   *
   * @param value The value.
   * @returns Whether this call ended the wait.
   */
  resolve(value: T): boolean {
    const resolve = this.#resolve;
    if (resolve === undefined) return false;
    this.#end();
    resolve(value);
    return true;
  }

  /**
   * Ends the wait with an error. Returns `false` if it already ended.
   *
   * @param error The error.
   * @returns Whether this call ended the wait.
   */
  reject(error: unknown): boolean {
    const resolve = this.#resolve;
    if (resolve === undefined) return false;
    this.#end();
    resolve(rejection(error));
    return true;
  }

  /**
   * Called once, synchronously, when the wait is cancelled before it ended:
   * leave the line, so that what would have been handed to this waiter goes
   * to the next one. It runs outside every cancel scope, so that awaits it
   * starts are not cancelled in turn. Return a promise when the operation
   * stops only later: the wait rejects once it settles.
   *
   * @param error What the wait is about to reject with.
   * @returns Nothing, or a promise of the operation's end.
   */
  protected abstract withdraw(error: unknown): void | PromiseLike<unknown>;

  /** @ignore The scope's cancel listener. */
  onCancel(error: unknown): void {
    const resolve = this.#resolve;
    if (resolve === undefined) return;
    this.#end();
    let stopped: unknown;
    try {
      stopped = runOutside(Waiter.#withdraw, this as Waiter<unknown>, error);
    } catch (e) {
      // A broken withdrawal must not keep the wait from ending.
      reportException({
        message: "A cancelled wait's withdraw threw",
        error: e,
      });
    }
    const rejected = rejection(error);
    if (isThenable(stopped)) {
      const end = () => resolve(rejected);
      try {
        stopped.then(end, end);
      } catch {
        end();
      }
    } else {
      resolve(rejected);
    }
  }

  static #withdraw(waiter: Waiter<unknown>, error: unknown): unknown {
    return waiter.withdraw(error);
  }

  /** @ignore The signal's abort listener. */
  handleEvent(): void {
    const source = this.#source;
    const signal = Array.isArray(source) ? source[1] : source as AbortSignal;
    this.onCancel(toCancelError(signal.reason));
  }

  #end(): void {
    this.#resolve = undefined;
    const source = this.#source;
    if (source === undefined) return;
    this.#source = undefined;
    if (source instanceof AbortSignal) {
      source.removeEventListener("abort", this);
    } else if (Array.isArray(source)) {
      source[0][removeListener](this);
      source[1].removeEventListener("abort", this);
    } else {
      source[removeListener](this);
    }
  }
}

// suspend's waiter: the undo function `setup` returned is its withdrawal.
class SetupWaiter<T> extends Waiter<T> {
  undo: Undo = undefined;
  protected withdraw(error: unknown): void | PromiseLike<unknown> {
    // Any thenable the undo returns is waited for; other values are ignored.
    const undo = this.undo;
    if (typeof undo === "function") {
      return undo(error) as void | PromiseLike<unknown>;
    }
  }
}

/**
 * What {@linkcode suspend}'s `setup` returns: how to stop the wait on
 * cancellation, optionally with a promise of when it has really stopped.
 */
export type Undo = ((error: unknown) => unknown) | void;

/**
 * Low-level: a cancellable wait on a callback API. Returns a promise that
 * `setup` settles through `resolve`/`reject`, and that rejects instead when the
 * ambient scope is cancelled or `options.signal` aborts first — at once if
 * either already is. On cancellation, the function `setup` returned is called
 * first (synchronously, outside every scope) so the caller can withdraw its
 * waiter; once `resolve` or `reject` has been called, cancellation no longer
 * applies. For a hot path, subclass {@linkcode Waiter} instead: it saves the
 * closures.
 *
 * If the operation cannot stop at once, the undo function returns a promise
 * of its end (Trio's `abort_fn` answering "not yet"): the wait rejects only
 * once that promise settles, and `resolve`/`reject` are ignored meanwhile.
 *
 * @example A cancellable wait on a callback API
 * ```ts
 * import { suspend } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const value = await suspend<number>((resolve) => {
 *   const id = setTimeout(() => resolve(42), 1);
 *   return () => clearTimeout(id); // withdraws the timer on cancellation
 * });
 * assert.equal(value, 42);
 * ```
 *
 * @example Cancel = ask, then wait for the operation to stop
 * ```ts
 * import { CancelledError, createTask, sleep, suspend } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * const task = createTask(() =>
 *   suspend<void>(() => async () => {
 *     await sleep(5); // e.g. the server confirming the cancel request
 *     log.push("stopped");
 *   })
 * );
 * await sleep(1);
 * task.cancel();
 * await assert.rejects(task, CancelledError);
 * assert.deepEqual(log, ["stopped"]); // the task ended after the operation
 * ```
 *
 * @param setup Starts the wait; returns what to undo on cancellation.
 * @param options Cancellation.
 * @returns A promise of the value passed to `resolve`.
 */
export function suspend<T>(
  setup: (
    resolve: (value: T) => void,
    reject: (error: unknown) => void,
  ) => Undo,
  options?: SignalOptions,
): Promise<T> {
  const waiter = new SetupWaiter<T>();
  const promise = waiter.wait(options);
  if (!waiter.pending) return promise; // refused at once
  try {
    waiter.undo = setup(
      (value) => waiter.resolve(value),
      (error) => waiter.reject(error),
    );
  } catch (error) {
    waiter.reject(error);
  }
  return promise;
}

/**
 * Yields to the event loop once (timers and I/O get their turn), then goes on
 * — Trio's `checkpoint`, asyncio's `sleep(0)`. Rejects if the ambient scope
 * is cancelled, before or during the yield: call it in long CPU loops so that
 * they can be cancelled and timed out.
 *
 * @example Make a CPU loop cancellable
 * ```ts
 * import { checkpoint, moveOnAfter } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let rounds = 0;
 * await moveOnAfter(20, async () => {
 *   while (true) {
 *     rounds++;
 *     await checkpoint();
 *   }
 * });
 * assert.ok(rounds > 0);
 * ```
 *
 * @param options Cancellation.
 * @returns A promise that resolves after one turn of the event loop.
 */
export function checkpoint(options?: SignalOptions): Promise<void> {
  // setImmediate, not setTimeout(0): nested zero timers are clamped to 4 ms,
  // and a fake clock must not stop a checkpoint.
  const waiter = new Checkpoint();
  const promise = waiter.wait(options);
  if (waiter.pending) waiter.id = setImmediate(waiter.fire);
  return promise;
}

class Checkpoint extends Waiter<void> {
  id: ReturnType<typeof setImmediate> | undefined = undefined;
  fire = (): void => {
    this.resolve();
  };
  protected withdraw(): void {
    clearImmediate(this.id);
  }
}

/**
 * Runs `fn` where cancellation of enclosing scopes cannot reach it — Trio's
 * shielded scope, for cleanup that must finish (closing a connection, sending
 * a goodbye). Unlike asyncio's `shield`, the awaits inside really run to the
 * end; once `fn` is done, the enclosing scope's cancellation applies again.
 *
 * @example Cleanup that survives cancellation
 * ```ts
 * import { CancelledError, createTask, shield, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let cleaned = false;
 * const task = createTask(async () => {
 *   try {
 *     await sleep(60_000);
 *   } finally {
 *     await shield(async () => {
 *       await sleep(1); // would reject at once without the shield
 *       cleaned = true;
 *     });
 *   }
 * });
 * await sleep(1);
 * task.cancel();
 * await assert.rejects(task, CancelledError);
 * assert.ok(cleaned);
 * ```
 *
 * @param fn The code to protect; it receives its own (shielded) scope.
 * @returns `fn`'s result.
 */
export async function shield<T>(
  fn: (scope: CancelScope) => T | PromiseLike<T>,
): Promise<T> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot shield: 'fn' must be a function, got ${typeof fn}`,
    );
  }
  const scope = new CancelScope({ shield: true });
  try {
    return await scope[awaitInScope](fn, scope);
  } finally {
    scope[exitScope]();
  }
}
