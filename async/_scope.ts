// The cancel-scope core: the ambient scope, its tree and its state machine.
// Private to async/; cancel_scope.ts re-exports the public parts.
import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Raised inside a cancelled scope by every await of this library — asyncio's
 * `asyncio.CancelledError`, Trio's `Cancelled`. Let it propagate: the scope
 * that owns the cancellation catches it.
 *
 * @example Usage
 * ```ts
 * import { CancelledError, createTask, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const task = createTask(() => sleep(10_000));
 * task.cancel();
 * await assert.rejects(task, CancelledError);
 * ```
 */
export class CancelledError extends Error {
  /**
   * Makes a cancellation error.
   *
   * @param message What was cancelled and why.
   * @param options The `cause`, if any.
   */
  constructor(message = "The operation was cancelled", options?: ErrorOptions) {
    super(message, options);
    this.name = "CancelledError";
  }
}

const storage = new AsyncLocalStorage<CancelScope>();

/** A pending await's hook: called once with the error it must reject with. */
export type CancelListener = (error: unknown) => void;

/** @ignore Runs `fn(arg)` with this scope as the ambient one (no checks). */
export const enterScope: unique symbol = Symbol("aio.enterScope");
/** @ignore Ends the scope's life: clears its timer, detaches it from its parent. */
export const exitScope: unique symbol = Symbol("aio.exitScope");
/** @ignore Makes a scope nested in a given parent instead of the ambient one. */
export const childOf: unique symbol = Symbol("aio.childOf");
/** @ignore Registers a pending await to be told of cancellation. */
export const addListener: unique symbol = Symbol("aio.addListener");
/** @ignore Unregisters a pending await. */
export const removeListener: unique symbol = Symbol("aio.removeListener");

/** The scope the calling code runs in, or `undefined` outside every scope. */
export function currentScope(): CancelScope | undefined {
  return storage.getStore();
}

/**
 * Turns a cancellation reason into what awaits reject with: a
 * {@linkcode CancelledError} for no reason, a message or a plain
 * `AbortError`; the reason itself when the user gave an error of their own.
 */
export function toCancelError(reason: unknown): unknown {
  if (reason === undefined) return new CancelledError();
  if (typeof reason === "string") return new CancelledError(reason);
  if (reason instanceof CancelledError) return reason;
  if (
    reason instanceof DOMException && reason.name === "AbortError"
  ) {
    return new CancelledError(reason.message || undefined, { cause: reason });
  }
  return reason;
}

/** Options for {@linkcode CancelScope}. */
export interface CancelScopeOptions {
  /**
   * When to cancel the scope by itself, on the `performance.now()` clock;
   * `Infinity` (the default) for never.
   */
  deadline?: number;
  /** When true, cancellation of enclosing scopes does not reach this one. */
  shield?: boolean;
  /** Cancels the scope when aborted; awaits inside reject with its reason. */
  signal?: AbortSignal;
}

const enum State {
  Created,
  Entered,
  Exited,
}

/**
 * A region of code that can be cancelled as a whole — Trio's `CancelScope`,
 * the machinery behind asyncio's `timeout` and `TaskGroup`. Scopes nest:
 * each one is made inside the ambient scope of the code that creates it, and
 * cancelling a scope cancels every scope nested in it (except shielded ones).
 *
 * Cancellation is level-triggered: once the scope is cancelled, every await
 * of this library inside it rejects at once, until the scope exits.
 *
 * @example Cancel a region of code from outside it
 * ```ts
 * import { CancelScope, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const scope = new CancelScope();
 * const done = scope.run(async () => {
 *   await sleep(60_000);
 *   return "slept";
 * });
 * scope.cancel();
 * assert.equal(await done, undefined);
 * assert.ok(scope.cancelledCaught);
 * ```
 */
export class CancelScope {
  #parent: CancelScope | undefined;
  #shield: boolean;
  #state = State.Created;
  #cancelled = false;
  #cancelCalled = false;
  #caught = false;
  #error: unknown = undefined;
  // Pending awaits and nested scopes to tell on cancellation. Made on demand.
  #listeners: Set<CancelListener | CancelScope> | undefined = undefined;
  // Nested scopes still alive; a scope stays attached to its parent until it
  // has exited and all of them have gone, so outer cancellation reaches them.
  #children = 0;
  #attached = false;
  #deadline = Infinity;
  #expired = false;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  #signal: AbortSignal | undefined = undefined;
  #onAbort: (() => void) | undefined = undefined;
  static #nextParent: CancelScope | undefined = undefined;

  /** @ignore */
  static [childOf](
    parent: CancelScope,
    options?: CancelScopeOptions,
  ): CancelScope {
    CancelScope.#nextParent = parent;
    return new CancelScope(options);
  }

  /**
   * Makes a scope nested in the ambient one. It starts counting its deadline
   * at once.
   *
   * @param options Deadline, shield and an external signal.
   */
  constructor(options?: CancelScopeOptions) {
    let parent = CancelScope.#nextParent;
    if (parent === undefined) parent = storage.getStore();
    else CancelScope.#nextParent = undefined;
    const deadline = options?.deadline ?? Infinity;
    if (typeof deadline !== "number" || Number.isNaN(deadline)) {
      throw new TypeError(
        `Cannot create a CancelScope: 'deadline' must be a number, got ${deadline}`,
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(
        `Cannot create a CancelScope: 'signal' must be an AbortSignal, got ${typeof signal}`,
      );
    }
    this.#shield = options?.shield === true;
    this.#parent = parent;
    if (parent !== undefined && !this.#shield) {
      parent.#adopt(this);
    }
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#propagate(toCancelError(signal.reason));
      } else {
        this.#signal = signal;
        this.#onAbort = () => this.#propagate(toCancelError(signal.reason));
        signal.addEventListener("abort", this.#onAbort, { once: true });
      }
    }
    if (deadline !== Infinity) this.deadline = deadline;
  }

  /** The scope this one was made in, if any. */
  get parent(): CancelScope | undefined {
    return this.#parent;
  }

  /** Whether outer cancellation is kept out of this scope. */
  get shield(): boolean {
    return this.#shield;
  }

  /** Whether awaits in this scope reject now (its own cancel or an outer one). */
  get cancelled(): boolean {
    return this.#cancelled;
  }

  /** Whether {@linkcode CancelScope.cancel} was called or the deadline passed. */
  get cancelCalled(): boolean {
    return this.#cancelCalled;
  }

  /** Whether {@linkcode CancelScope.run} swallowed this scope's own cancellation. */
  get cancelledCaught(): boolean {
    return this.#caught;
  }

  /** The error awaits in this scope reject with, once it is cancelled. */
  get reason(): unknown {
    return this.#error;
  }

  /**
   * When the scope cancels itself, on the `performance.now()` clock.
   * Setting it moves the deadline; `Infinity` removes it.
   */
  get deadline(): number {
    return this.#deadline;
  }

  set deadline(value: number) {
    if (typeof value !== "number" || Number.isNaN(value)) {
      throw new TypeError(
        `Cannot set the deadline: it must be a number, got ${value}`,
      );
    }
    this.#deadline = value;
    this.#clearTimer();
    if (this.#cancelled || this.#state === State.Exited) return;
    if (value !== Infinity) this.#armTimer();
  }

  /**
   * Moves the deadline to `ms` milliseconds from now.
   *
   * @param ms A number ≥ 0, or `Infinity` for no deadline.
   */
  reschedule(ms: number): void {
    if (!(ms >= 0)) {
      throw new RangeError(
        `Cannot reschedule the scope: 'ms' must be a number >= 0, got ${ms}`,
      );
    }
    this.deadline = performance.now() + ms;
  }

  /** Whether the deadline passed and cancelled the scope. */
  expired(): boolean {
    return this.#expired;
  }

  /**
   * Whether this scope, and not an enclosing one, is why awaits inside it
   * reject: its own `cancel()` or deadline, with no outer cancellation.
   */
  ownsCancellation(): boolean {
    if (!this.#cancelCalled) return false;
    const parent = this.#parent;
    return this.#shield || parent === undefined || !parent.#cancelled;
  }

  /**
   * An `AbortSignal` that aborts when the scope is cancelled, for `fetch` and
   * other APIs that take one. Made on first use.
   */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#cancelled) this.#controller.abort(this.#error);
    }
    return this.#controller.signal;
  }

  /**
   * Cancels the scope: every pending and later await inside it rejects with
   * {@linkcode CancelledError} (or with `reason`, when it is an error of the
   * caller's own). Idempotent.
   *
   * @param reason A message, or the error awaits should reject with.
   */
  cancel(reason?: unknown): void {
    if (this.#state === State.Exited) return;
    this.#cancelCalled = true;
    this.#propagate(toCancelError(reason));
  }

  /**
   * Runs `fn` inside this scope, like Trio's `with CancelScope():`. If `fn`
   * rejects with a {@linkcode CancelledError} that this scope's own
   * cancellation caused, the error is swallowed and the result is
   * `undefined`. A scope runs once.
   *
   * @param fn The code to run; it receives the scope.
   * @returns `fn`'s result, or `undefined` when the scope cancelled it.
   */
  async run<T>(
    fn: (scope: CancelScope) => T | PromiseLike<T>,
  ): Promise<T | undefined> {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot run the scope: 'fn' must be a function, got ${typeof fn}`,
      );
    }
    if (this.#state !== State.Created) {
      throw new Error(
        "Cannot run the scope: a CancelScope runs once; make a new one",
      );
    }
    try {
      return await this[enterScope](fn, this);
    } catch (error) {
      if (error instanceof CancelledError && this.ownsCancellation()) {
        this.#caught = true;
        return undefined;
      }
      throw error;
    } finally {
      this[exitScope]();
    }
  }

  /** @ignore */
  [enterScope]<A, R>(fn: (arg: A) => R, arg: A): R {
    this.#state = State.Entered;
    return storage.run(this, fn, arg);
  }

  /** @ignore */
  [exitScope](): void {
    if (this.#state === State.Exited) return;
    this.#state = State.Exited;
    this.#clearTimer();
    if (this.#onAbort !== undefined) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
      this.#onAbort = undefined;
      this.#signal = undefined;
    }
    if (this.#children === 0) this.#detach();
  }

  /** @ignore */
  [addListener](listener: CancelListener): void {
    (this.#listeners ??= new Set()).add(listener);
  }

  /** @ignore */
  [removeListener](listener: CancelListener): void {
    this.#listeners?.delete(listener);
  }

  #adopt(child: CancelScope): void {
    (this.#listeners ??= new Set()).add(child);
    this.#children++;
    child.#attached = true;
    if (this.#cancelled) child.#propagate(this.#error);
  }

  #detach(): void {
    if (!this.#attached) return;
    this.#attached = false;
    const parent = this.#parent!;
    parent.#listeners!.delete(this);
    if (--parent.#children === 0 && parent.#state === State.Exited) {
      parent.#detach();
    }
  }

  #propagate(error: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#error = error;
    this.#clearTimer();
    this.#controller?.abort(error);
    const listeners = this.#listeners;
    if (listeners === undefined) return;
    for (const listener of listeners) {
      if (listener instanceof CancelScope) listener.#propagate(error);
      else listener(error);
    }
  }

  #armTimer(): void {
    const delay = Math.max(0, this.#deadline - performance.now());
    // Looked up on each call so that a fake clock installed later applies.
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (performance.now() < this.#deadline) {
        this.#armTimer(); // a timer may fire a hair early; wait out the rest
        return;
      }
      this.#expired = true;
      this.#cancelCalled = true;
      this.#propagate(new CancelledError("Cancelled: the deadline passed"));
    }, Math.min(delay, 2 ** 31 - 1));
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
