// The cancel-scope core: the ambient scope, its tree and its state machine.
// Private to async/; cancel_scope.ts re-exports the public parts.
import { AsyncLocalStorage } from "node:async_hooks";
import { CallbackTimer, schedule, unschedule } from "./_timers.ts";

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

/**
 * A pending await's hook: called once with the error it must reject with.
 * An object form saves a closure on hot paths.
 */
export type CancelListener =
  | ((error: unknown) => void)
  | { onCancel(error: unknown): void };

/** @ignore Runs `fn(arg)` with this scope as the ambient one (no checks). */
export const enterScope: unique symbol = Symbol("aio.enterScope");
/**
 * @ignore Runs `fn(arg)` in the scope and awaits its result there too, so
 * that a thenable it returns (a task, say) is waited for with this scope's
 * cancellation — or shield — in force.
 */
export const awaitInScope: unique symbol = Symbol("aio.awaitInScope");
/** @ignore Ends the scope's life: clears its timer, detaches it from its parent. */
export const exitScope: unique symbol = Symbol("aio.exitScope");
/**
 * @ignore Makes a task's scope: nested in a given parent (the ambient scope
 * for `undefined`), and marked as a task's for {@linkcode currentTaskScope}.
 */
export const taskScope: unique symbol = Symbol("aio.taskScope");
const taskOf: unique symbol = Symbol("aio.taskOf");
/** @ignore Registers a pending await to be told of cancellation. */
export const addListener: unique symbol = Symbol("aio.addListener");
/** @ignore Unregisters a pending await. */
export const removeListener: unique symbol = Symbol("aio.removeListener");
/** @ignore Lets a TaskGroup or TaskSet hear of its task's end cheaply. */
export const setOwner: unique symbol = Symbol("aio.setOwner");

function notify(listener: CancelListener, error: unknown): void {
  if (typeof listener === "function") listener(error);
  else listener.onCancel(error);
}

// The pending awaits of a scope that has more than one. Waits mostly end in
// the order they began (a FIFO of lock or queue waiters), so removal is O(1)
// at either end: a head offset instead of `shift` (which copies a large
// array), `pop` at the tail, and a hole elsewhere.
class ListenerList {
  #items: (CancelListener | undefined)[] = [];
  #head = 0;
  #live = 0;

  add(listener: CancelListener): void {
    this.#items.push(listener);
    this.#live++;
  }

  /** Removes `listener`; returns whether the list is now empty. */
  remove(listener: CancelListener): boolean {
    const items = this.#items;
    let i: number;
    if (items[this.#head] === listener) i = this.#head;
    else if (items[items.length - 1] === listener) i = items.length - 1;
    else {
      i = items.indexOf(listener, this.#head);
      if (i < 0) return false;
    }
    items[i] = undefined;
    if (--this.#live === 0) {
      items.length = 0;
      this.#head = 0;
      return true;
    }
    while (items[this.#head] === undefined) this.#head++;
    while (items[items.length - 1] === undefined) items.pop();
    if (this.#head > 1024 && this.#head * 2 > items.length) {
      this.#items = items.slice(this.#head);
      this.#head = 0;
    }
    return false;
  }

  notifyAll(error: unknown): void {
    const items = this.#items;
    for (let i = this.#head; i < items.length; i++) {
      const listener = items[i];
      if (listener !== undefined) notify(listener, error);
    }
  }
}

/** The scope the calling code runs in, or `undefined` outside every scope. */
export function currentScope(): CancelScope | undefined {
  return storage.getStore();
}

/** The scope of the task the calling code runs in, if any. */
export function currentTaskScope(): CancelScope | undefined {
  return CancelScope[taskOf](storage.getStore());
}

/**
 * Calls `fn(arg)` outside every scope: for the undo of a cancelled wait, so
 * that the work it starts (a cancel request, say) is not itself cancelled by
 * whatever scope the canceller runs in.
 */
export function runOutside<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R {
  return storage.exit(fn, a, b);
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

// What a waiter is resolved with to make its promise reject: keeping a
// thenable costs a microtask on that rare path, keeping every waiter's
// reject function would cost memory on every wait.
class Rejection implements PromiseLike<never> {
  #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }
  // deno-lint-ignore no-explicit-any
  then(_onfulfilled?: unknown, onrejected?: (error: unknown) => any): any {
    onrejected?.(this.#error);
  }
}

/** What to resolve a waiter with so that its promise rejects with `error`. */
export function rejection(error: unknown): PromiseLike<never> {
  return new Rejection(error);
}

/** Whether `value` is a thenable: what a promise would adopt, not hold. */
export function isThenable<T>(value: unknown): value is PromiseLike<T> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as PromiseLike<T>).then === "function";
}

/**
 * Whether `error` is a cancellation rather than a failure, seen from
 * `scope`: a {@linkcode CancelledError}, or the very reason `scope` rejects
 * its awaits with (a user's abort reason).
 */
export function isCancellationIn(
  error: unknown,
  scope: CancelScope | undefined,
): boolean {
  return error instanceof CancelledError ||
    (scope !== undefined && scope.cancelled && error === scope.reason);
}

/**
 * Whether `error` is a cancellation rather than a failure — what `TaskGroup`
 * asks of every error it sees: a {@linkcode CancelledError}, or the very
 * reason the ambient scope was cancelled with (an abort signal's reason, an
 * error given to `cancel()`). Catch-all handlers use it to let cancellation
 * through.
 *
 * @example Rethrow cancellations, handle failures
 * ```ts
 * import { createTask, isCancellation, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const seen: string[] = [];
 * const task = createTask(async () => {
 *   try {
 *     await sleep(60_000);
 *   } catch (error) {
 *     if (isCancellation(error)) throw error;
 *     seen.push("failure");
 *   }
 * });
 * task.cancel();
 * await assert.rejects(task);
 * assert.deepEqual(seen, []);
 * assert.equal(isCancellation(new Error("boom")), false);
 * ```
 *
 * @param error What was caught.
 * @returns Whether it is a cancellation to let propagate.
 */
export function isCancellation(error: unknown): boolean {
  return error instanceof CancelledError ||
    (liveCancelled !== 0 && isCancellationIn(error, storage.getStore()));
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
  /**
   * The scope to nest this one in: the ambient scope by default, `null` for
   * a root scope that no enclosing cancellation reaches — for a long-lived
   * owner (a pool, a session) whose background work must outlive the code
   * that happened to start it.
   */
  parent?: CancelScope | null;
}

// State bits of a scope, in one small integer to keep scopes small: a task
// has one, and a program may hold a hundred thousand.
const SHIELD = 1;
const ENTERED = 2;
const EXITED = 4;
const CANCELLED = 8;
const CANCEL_CALLED = 16;
const CAUGHT = 32;
const EXPIRED = 64;
const ATTACHED = 128;
const RELEASED = 256;
const TASK = 512;

// How many cancelled scopes are still live (not exited, or with scopes made
// in them still running). While it is 0, no code can be in a cancelled scope
// (but a stray promise chain of a scope that has ended), and the fast paths
// of every await skip the context lookup.
let liveCancelled = 0;

/**
 * Whether the ambient cancel scope is cancelled — the check an await of this
 * library makes on its fast path (a free lock, a non-empty queue), so that a
 * cancelled scope rejects it even there. Cheap while no scope anywhere is
 * cancelled: it then skips looking the ambient scope up.
 *
 * @example Usage
 * ```ts
 * import { ambientCancelled, CancelScope } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * assert.equal(ambientCancelled(), false);
 * const scope = new CancelScope();
 * await scope.run(() => {
 *   scope.cancel();
 *   assert.equal(ambientCancelled(), true);
 * });
 * ```
 *
 * @returns Whether awaits here must reject at once.
 */
export function ambientCancelled(): boolean {
  return liveCancelled !== 0 && storage.getStore()?.cancelled === true;
}

// What few scopes need (a deadline, a signal in or out) lives apart.
interface Extra {
  deadline: number;
  timer: CallbackTimer | undefined;
  controller: AbortController | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
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
  #flags = 0;
  #error: unknown = undefined;
  // Pending awaits to tell on cancellation: usually none or one.
  #listeners: CancelListener | ListenerList | undefined = undefined;
  // Nested scopes that need to hear of this one's cancellation, as an
  // intrusive list. A scope joins its parent's list only once it has
  // something to tell (a pending await, a signal, a child of its own), so a
  // task that never waits costs no list operation; it leaves on exit, or
  // when its last child has left.
  #firstChild: CancelScope | undefined = undefined;
  #prev: CancelScope | undefined = undefined;
  #next: CancelScope | undefined = undefined;
  #extra: Extra | undefined = undefined;
  // Scopes made in this one that have not ended yet; see `ambientCancelled`.
  #liveChildren = 0;
  static #nextParent: CancelScope | undefined = undefined;

  /** @ignore */
  static [taskScope](
    parent: CancelScope | undefined,
    options?: CancelScopeOptions,
  ): CancelScope {
    CancelScope.#nextParent = parent;
    const scope = new CancelScope(options);
    scope.#flags |= TASK;
    return scope;
  }

  /** @ignore The innermost task scope from `scope` outwards. */
  static [taskOf](scope: CancelScope | undefined): CancelScope | undefined {
    while (scope !== undefined && (scope.#flags & TASK) === 0) {
      scope = scope.#parent;
    }
    return scope;
  }

  /**
   * Makes a scope nested in the ambient one (or in `options.parent`; in none
   * for `parent: null`). It starts counting its deadline at once.
   *
   * @param options Deadline, shield, an external signal and the parent.
   */
  constructor(options?: CancelScopeOptions) {
    let parent = CancelScope.#nextParent;
    if (parent !== undefined) CancelScope.#nextParent = undefined;
    else if (options?.parent === undefined) parent = storage.getStore();
    else if (options.parent instanceof CancelScope) parent = options.parent;
    else if (options.parent !== null) {
      throw new TypeError(
        `Cannot create a CancelScope: 'parent' must be a CancelScope or null, got ${typeof options
          .parent}`,
      );
    }
    const deadline = options?.deadline ?? Infinity;
    if (typeof deadline !== "number") {
      throw new TypeError(
        `Cannot create a CancelScope: 'deadline' must be a number, got ${typeof deadline}`,
      );
    }
    if (Number.isNaN(deadline)) {
      throw new RangeError(
        "Cannot create a CancelScope: 'deadline' must be a time on the performance.now() clock, got NaN",
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new TypeError(
        `Cannot create a CancelScope: 'signal' must be an AbortSignal, got ${typeof signal}`,
      );
    }
    this.#parent = parent;
    if (parent !== undefined) parent.#liveChildren++;
    if (options === undefined) return;
    if (options.shield === true) this.#flags |= SHIELD;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#propagate(toCancelError(signal.reason));
      } else {
        const extra = this.#extras();
        extra.signal = signal;
        extra.onAbort = () => this.#propagate(toCancelError(signal.reason));
        signal.addEventListener("abort", extra.onAbort, { once: true });
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
    return (this.#flags & SHIELD) !== 0;
  }

  /** Whether awaits in this scope reject now (its own cancel or an outer one). */
  get cancelled(): boolean {
    if ((this.#flags & CANCELLED) !== 0) return true;
    if ((this.#flags & (ATTACHED | SHIELD)) !== 0) return false;
    // Not listening to the parent: ask it, and remember the answer.
    const parent = this.#parent;
    if (parent === undefined || !parent.cancelled) return false;
    this.#propagate(parent.#error);
    return true;
  }

  /** Whether {@linkcode CancelScope.cancel} was called or the deadline passed. */
  get cancelCalled(): boolean {
    return (this.#flags & CANCEL_CALLED) !== 0;
  }

  /** Whether {@linkcode CancelScope.run} swallowed this scope's own cancellation. */
  get cancelledCaught(): boolean {
    return (this.#flags & CAUGHT) !== 0;
  }

  /** The error awaits in this scope reject with, once it is cancelled. */
  get reason(): unknown {
    return this.cancelled ? this.#error : undefined;
  }

  /**
   * When the scope cancels itself, on the `performance.now()` clock.
   * Setting it moves the deadline; `Infinity` removes it.
   */
  get deadline(): number {
    return this.#extra?.deadline ?? Infinity;
  }

  set deadline(value: number) {
    if (typeof value !== "number") {
      throw new TypeError(
        `Cannot set the deadline: it must be a number, got ${typeof value}`,
      );
    }
    if (Number.isNaN(value)) {
      throw new RangeError(
        "Cannot set the deadline: it must be a time on the performance.now() clock, got NaN",
      );
    }
    const extra = this.#extras();
    extra.deadline = value;
    this.#clearTimer();
    if ((this.#flags & (CANCELLED | EXITED)) !== 0 || value === Infinity) {
      return;
    }
    // A deadline already passed cancels at once, not on the next timer
    // turn: every await inside must reject, fast paths included.
    if (value <= performance.now()) this.#expire();
    else this.#armTimer(extra);
  }

  /**
   * Moves the deadline to `ms` milliseconds from now.
   *
   * @param ms A number ≥ 0, or `Infinity` for no deadline.
   */
  reschedule(ms: number): void {
    if (typeof ms !== "number" || !(ms >= 0)) {
      throw new RangeError(
        `Cannot reschedule the scope: 'ms' must be a number >= 0, got ${ms}`,
      );
    }
    this.deadline = performance.now() + ms;
  }

  /** Whether the deadline passed and cancelled the scope. */
  expired(): boolean {
    return (this.#flags & EXPIRED) !== 0;
  }

  /**
   * Whether this scope, and not an enclosing one, is why awaits inside it
   * reject: its own `cancel()` or deadline, with no outer cancellation.
   */
  ownsCancellation(): boolean {
    if ((this.#flags & CANCEL_CALLED) === 0) return false;
    const parent = this.#parent;
    return (this.#flags & SHIELD) !== 0 || parent === undefined ||
      !parent.cancelled;
  }

  /**
   * An `AbortSignal` that aborts when the scope is cancelled, for `fetch` and
   * other APIs that take one. Made on first use.
   */
  get signal(): AbortSignal {
    const extra = this.#extras();
    if (extra.controller === undefined) {
      extra.controller = new AbortController();
      if (this.cancelled) extra.controller.abort(this.#error);
      else if ((this.#flags & EXITED) === 0) this.#attach();
    }
    return extra.controller.signal;
  }

  /**
   * Cancels the scope: every pending and later await inside it rejects with
   * {@linkcode CancelledError} (or with `reason`, when it is an error of the
   * caller's own). Idempotent.
   *
   * @param reason A message, or the error awaits should reject with.
   */
  cancel(reason?: unknown): void {
    if ((this.#flags & EXITED) !== 0) return;
    this.#flags |= CANCEL_CALLED;
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
    if ((this.#flags & (ENTERED | EXITED)) !== 0) {
      throw new Error(
        "Cannot run the scope: a CancelScope runs once; make a new one",
      );
    }
    try {
      return await this[awaitInScope](fn, this);
    } catch (error) {
      if (error instanceof CancelledError && this.ownsCancellation()) {
        this.#flags |= CAUGHT;
        return undefined;
      }
      throw error;
    } finally {
      this[exitScope]();
    }
  }

  /** @ignore */
  [enterScope]<A, R>(fn: (arg: A) => R, arg: A): R {
    this.#flags |= ENTERED;
    return storage.run(this, fn, arg);
  }

  /** @ignore */
  [awaitInScope]<A, R>(fn: (arg: A) => R | PromiseLike<R>, arg: A): Promise<R> {
    return this[enterScope](async (a: A) => await fn(a), arg);
  }

  /** @ignore */
  [exitScope](): void {
    if ((this.#flags & EXITED) !== 0) return;
    this.#flags |= EXITED;
    const extra = this.#extra;
    if (extra !== undefined) {
      this.#clearTimer();
      if (extra.onAbort !== undefined) {
        extra.signal!.removeEventListener("abort", extra.onAbort);
        extra.onAbort = undefined;
        extra.signal = undefined;
      }
    }
    if (this.#firstChild === undefined) this.#detach();
    if (this.#liveChildren === 0) this.#release();
  }

  // The scope has exited and every scope made in it has: nothing can run in
  // it any more (but strays), so it stops counting for `ambientCancelled`.
  #release(): void {
    if ((this.#flags & RELEASED) !== 0) return;
    this.#flags |= RELEASED;
    if ((this.#flags & CANCELLED) !== 0) liveCancelled--;
    const parent = this.#parent;
    if (
      parent !== undefined && --parent.#liveChildren === 0 &&
      (parent.#flags & EXITED) !== 0
    ) {
      parent.#release();
    }
  }

  /** @ignore */
  [addListener](listener: CancelListener): void {
    const listeners = this.#listeners;
    if (listeners === undefined) {
      this.#listeners = listener;
      this.#attach();
    } else if (listeners instanceof ListenerList) {
      listeners.add(listener);
    } else {
      const list = new ListenerList();
      list.add(listeners);
      list.add(listener);
      this.#listeners = list;
    }
  }

  /** @ignore */
  [removeListener](listener: CancelListener): void {
    const listeners = this.#listeners;
    if (listeners === listener) {
      this.#listeners = undefined;
    } else if (listeners instanceof ListenerList) {
      if (!listeners.remove(listener)) return;
      this.#listeners = undefined;
    } else {
      return;
    }
    // A wait left over in a scope that has exited (a stray promise chain)
    // re-attached it; let it go again once nothing is left to tell.
    if ((this.#flags & EXITED) !== 0 && this.#firstChild === undefined) {
      this.#detach();
    }
  }

  #extras(): Extra {
    return this.#extra ??= {
      deadline: Infinity,
      timer: undefined,
      controller: undefined,
      signal: undefined,
      onAbort: undefined,
    };
  }

  // Joins the parent's list (and, through it, every ancestor's) so that
  // outer cancellation reaches this scope's awaits and children.
  #attach(): void {
    const flags = this.#flags;
    if ((flags & (ATTACHED | SHIELD | CANCELLED)) !== 0) return;
    const parent = this.#parent;
    if (parent === undefined) return;
    if (parent.cancelled) {
      this.#propagate(parent.#error);
      return;
    }
    this.#flags = flags | ATTACHED;
    const first = parent.#firstChild;
    this.#next = first;
    if (first !== undefined) first.#prev = this;
    parent.#firstChild = this;
    parent.#attach();
  }

  #detach(): void {
    if ((this.#flags & ATTACHED) === 0) return;
    this.#flags &= ~ATTACHED;
    const parent = this.#parent!;
    const prev = this.#prev;
    const next = this.#next;
    if (prev === undefined) parent.#firstChild = next;
    else prev.#next = next;
    if (next !== undefined) next.#prev = prev;
    this.#prev = this.#next = undefined;
    if (
      parent.#firstChild === undefined && (parent.#flags & EXITED) !== 0
    ) {
      parent.#detach();
    }
  }

  #propagate(error: unknown): void {
    if ((this.#flags & CANCELLED) !== 0) return;
    this.#flags |= CANCELLED;
    if ((this.#flags & RELEASED) === 0) liveCancelled++;
    this.#error = error;
    const extra = this.#extra;
    if (extra !== undefined) {
      this.#clearTimer();
      extra.controller?.abort(error);
    }
    const listeners = this.#listeners;
    if (listeners !== undefined) {
      this.#listeners = undefined;
      if (listeners instanceof ListenerList) listeners.notifyAll(error);
      else notify(listeners, error);
    }
    let child = this.#firstChild;
    while (child !== undefined) {
      const next = child.#next;
      child.#propagate(error);
      child = next;
    }
  }

  #armTimer(extra: Extra): void {
    const timer = extra.timer = new CallbackTimer(() => {
      extra.timer = undefined;
      this.#expire();
    });
    schedule(timer, Math.max(0, extra.deadline - performance.now()));
  }

  #expire(): void {
    this.#flags |= EXPIRED | CANCEL_CALLED;
    this.#propagate(new CancelledError("Cancelled: the deadline passed"));
  }

  #clearTimer(): void {
    const extra = this.#extra;
    if (extra?.timer !== undefined) {
      unschedule(extra.timer);
      extra.timer = undefined;
    }
  }
}
