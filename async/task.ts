import {
  CancelScope,
  currentTaskScope,
  enterScope,
  exitScope,
  isCancellationIn,
  isThenable,
  setOwner,
  taskScope,
} from "./_scope.ts";
import { suspend } from "./cancel_scope.ts";
import { reportException, swapExceptionHandler } from "./_report.ts";
import { hooks as debugHooks } from "./_debug.ts";

/** Options for {@linkcode createTask}. */
export interface TaskOptions {
  /** A name for error reports and debugging; `Task-N` by default. */
  name?: string;
  /** Cancels the task when aborted. */
  signal?: AbortSignal;
}

/** What {@linkcode setExceptionHandler}'s handler receives. */
export interface ExceptionContext {
  /** What happened, e.g. "Task exception was never retrieved". */
  message: string;
  /** The error. */
  error: unknown;
  /** The name of the task concerned, if any. */
  taskName?: string;
}

/** Receives errors that nobody else could be given. */
export type ExceptionHandler = (context: ExceptionContext) => void;

/**
 * Sets where errors that nobody retrieved are reported — asyncio's
 * `loop.set_exception_handler`. The default prints them with
 * `console.error`. Pass `undefined` to restore the default.
 *
 * @example Collect unretrieved task errors
 * ```ts
 * import { setExceptionHandler, type ExceptionContext } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const seen: ExceptionContext[] = [];
 * const previous = setExceptionHandler((context) => seen.push(context));
 * setExceptionHandler(previous);
 * assert.equal(seen.length, 0);
 * ```
 *
 * @param handler The new handler, or `undefined` for the default.
 * @returns The handler that was in place.
 */
export function setExceptionHandler(
  handler: ExceptionHandler | undefined,
): ExceptionHandler {
  if (handler !== undefined && typeof handler !== "function") {
    throw new TypeError(
      `Cannot set the exception handler: it must be a function, got ${typeof handler}`,
    );
  }
  return swapExceptionHandler(handler);
}

// Like asyncio, a failed task whose error nobody looked at is reported when
// the task is garbage-collected: only then is it sure that nobody will.
const unretrieved = new FinalizationRegistry<ExceptionContext>(
  reportException,
);

// The ready queue: tasks start in FIFO order on a later microtask
// (asyncio's call_soon). Each task gets a microtask of its own, queued where
// it was created: the microtask carries the creator's async context, so a
// task sees the AsyncLocalStorage values of the code that made it (asyncio
// copies contextvars the same way). One drain per batch would start every
// task of the batch in the first creator's context. A reaction of a settled
// promise with one shared handler costs less than queueMicrotask here; the
// handlers run in queue order, so each takes the task at the head.
let ready: (Task<unknown> | undefined)[] = [];
let head = 0;
const settled = Promise.resolve();

function startNext(): void {
  const task = ready[head]!;
  ready[head++] = undefined;
  if (head === ready.length) {
    ready.length = 0;
    head = 0;
  } else if (head > 1024 && head * 2 > ready.length) {
    ready = ready.slice(head);
    head = 0;
  }
  Task[startTask](task);
}

const startTask: unique symbol = Symbol("aio.startTask");

// A task's state bits, in one field: a program may hold a hundred thousand
// tasks, and each field costs 8 bytes of every one.
const DONE = 1;
const FAILED = 2;
const CANCELLED = 4;
const RETRIEVED = 8;

let taskCount = 0;
const noop = () => {};

/**
 * A function running concurrently, as a unit that can be awaited and
 * cancelled — asyncio's `Task`. Made by {@linkcode createTask} or
 * `TaskGroup.createTask`; it starts on the next microtask, inside its own
 * {@linkcode CancelScope} nested in the scope that created it.
 *
 * Awaiting a task gives its result or rethrows its error; a cancelled task
 * rejects with {@linkcode CancelledError}.
 *
 * @example Usage
 * ```ts
 * import { createTask, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const task = createTask(async () => {
 *   await sleep(1);
 *   return 42;
 * }, { name: "answer" });
 * assert.equal(task.done(), false);
 * assert.equal(await task, 42);
 * assert.equal(task.result(), 42);
 * assert.equal(task.name, "answer");
 * ```
 *
 * @typeParam T The result type.
 */
export class Task<T> implements PromiseLike<T> {
  #name: string | number;
  #scope: CancelScope;
  #flags = 0;
  // The function until the task starts, then its result or error.
  #value: unknown;
  #callbacks: ((task: Task<T>) => void)[] | undefined = undefined;
  #owner: ((task: Task<T>) => void) | undefined = undefined;
  // Made only when someone awaits the task.
  #deferred: PromiseWithResolvers<T> | undefined = undefined;

  /**
   * Makes and schedules a task; {@linkcode createTask} is the usual way.
   *
   * @param fn The function to run; it receives the task's `AbortSignal` when
   * it declares a parameter (the signal is made only then).
   * @param options Name and cancellation.
   * @param parent The scope to nest the task's scope in; the ambient one by
   * default.
   */
  constructor(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: TaskOptions,
    parent?: CancelScope,
  ) {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot create a task: 'fn' must be a function, got ${typeof fn}`,
      );
    }
    const name = options?.name;
    if (name !== undefined && typeof name !== "string") {
      throw new TypeError(
        `Cannot create a task: 'name' must be a string, got ${typeof name}`,
      );
    }
    const scopeOptions = options?.signal === undefined
      ? undefined
      : { signal: options.signal };
    this.#scope = CancelScope[taskScope](parent, scopeOptions);
    // The default name is made on demand: formatting it costs more than
    // the rest of a trivial task.
    this.#name = name ?? ++taskCount;
    // Debug mode watches the task (one variable read while it is off).
    this.#value = debugHooks === undefined ? fn : debugHooks.task(this, fn);
    ready.push(this as Task<unknown>);
    settled.then(startNext);
  }

  /** @ignore Sets the one callback of the group or set that owns the task. */
  [setOwner](callback: (task: Task<T>) => void): void {
    this.#owner = callback;
  }

  // Static, and called with the task as an argument: an error made by `fn`
  // keeps the frames of its stack alive, and a frame whose receiver were the
  // task would keep the task from ever being collected (and reported).
  /** @ignore */
  static [startTask](task: Task<unknown>): void {
    const scope = task.#scope;
    if (scope.cancelled) {
      // Cancelled before it ran: like asyncio, the function never starts.
      task.#finish(true, scope.reason);
      return;
    }
    let result: unknown;
    try {
      result = scope[enterScope](Task.#run, task);
    } catch (error) {
      task.#finish(true, error);
      return;
    }
    try {
      if (result instanceof Promise) {
        // Subscribed to from here, outside the task's context: the reaction
        // would otherwise keep the task's context alive while it waits.
        result.then(
          (value) => task.#finish(false, value),
          (error) => task.#finish(true, error),
        );
      } else if (isThenable(result)) {
        // Another task, say: subscribe inside the scope, so that its await
        // sees this task's cancellation.
        scope[enterScope](Task.#adopt, [task, result] as const);
      } else {
        task.#finish(false, result);
      }
    } catch (error) {
      // A `then` (or a `then` getter) that throws fails this task only: it
      // must not escape into the ready queue.
      task.#finish(true, error);
    }
  }

  static #adopt(
    [task, thenable]: readonly [Task<unknown>, PromiseLike<unknown>],
  ): void {
    thenable.then(
      (value) => task.#finish(false, value),
      (error) => task.#finish(true, error),
    );
  }

  static #run(task: Task<unknown>): unknown {
    const fn = task.#value as (signal: AbortSignal) => unknown;
    task.#value = undefined;
    return fn((fn.length > 0 ? task.#scope.signal : undefined) as AbortSignal);
  }

  #finish(failed: boolean, value: unknown): void {
    // A thenable may call back more than once, or throw after calling back.
    let flags = this.#flags;
    if ((flags & DONE) !== 0) return;
    flags |= DONE;
    this.#scope[exitScope]();
    this.#value = value;
    if (failed) {
      flags |= FAILED;
      if (isCancellationIn(value, this.#scope)) flags |= CANCELLED;
    }
    this.#flags = flags;
    const deferred = this.#deferred;
    if (deferred !== undefined) {
      if (failed) deferred.reject(value);
      else deferred.resolve(value as T);
    } else if (failed && (flags & (CANCELLED | RETRIEVED)) === 0) {
      // Formatting the stack now drops the frames the error would hold.
      if (value instanceof Error) void value.stack;
      unretrieved.register(this, {
        message: "Task exception was never retrieved",
        error: value,
        taskName: this.name,
      }, this);
    }
    const owner = this.#owner;
    if (owner !== undefined) {
      this.#owner = undefined;
      this.#call(owner);
    }
    const callbacks = this.#callbacks;
    if (callbacks !== undefined) {
      this.#callbacks = undefined;
      for (let i = 0; i < callbacks.length; i++) this.#call(callbacks[i]);
    }
  }

  /** The task's name, for error reports and debugging. */
  get name(): string {
    const name = this.#name;
    return typeof name === "number" ? `Task-${name}` : name;
  }

  #call(callback: (task: Task<T>) => void): void {
    try {
      callback(this);
    } catch (error) {
      reportException({
        message: "A task's done callback threw",
        error,
        taskName: this.name,
      });
    }
  }

  #retrieve(): void {
    const flags = this.#flags;
    if ((flags & RETRIEVED) !== 0) return;
    this.#flags = flags | RETRIEVED;
    if ((flags & FAILED) !== 0) unretrieved.unregister(this);
  }

  /**
   * Makes `await task` work: settles with the task's result or error. Like
   * every await of this library, it rejects at once if the awaiting code's
   * scope is cancelled (the task itself goes on).
   *
   * @param onfulfilled Called with the result.
   * @param onrejected Called with the error.
   * @returns A promise of what the callback returns.
   */
  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.#retrieve();
    const done = (this.#flags & DONE) !== 0;
    if (!done && currentTaskScope() === this.#scope) {
      return Promise.reject(
        new Error(
          `Cannot await task '${this.name}': a task cannot await on itself`,
        ),
      ).then(onfulfilled, onrejected);
    }
    let deferred = this.#deferred;
    if (deferred === undefined) {
      deferred = this.#deferred = Promise.withResolvers<T>();
      if (done) {
        if ((this.#flags & FAILED) !== 0) deferred.reject(this.#value);
        else deferred.resolve(this.#value as T);
      }
      // An awaiter cancelled before it subscribed must not leave the
      // task's failure unhandled.
      deferred.promise.catch(noop);
    }
    const promise = deferred.promise;
    return suspend<T>((resolve, reject) => {
      promise.then(resolve, reject);
    }).then(onfulfilled, onrejected);
  }

  /**
   * Like `Promise.prototype.catch`, so a task can stand where a promise is
   * expected.
   *
   * @param onrejected Called with the error.
   * @returns A promise of the result or of what the callback returns.
   */
  catch<R = never>(
    onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null,
  ): Promise<T | R> {
    return this.then(undefined, onrejected);
  }

  /**
   * Like `Promise.prototype.finally`.
   *
   * @param onfinally Called when the task settles.
   * @returns A promise that settles like the task.
   */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onfinally);
  }

  /** Whether the task has finished: returned, thrown or been cancelled. */
  done(): boolean {
    return (this.#flags & DONE) !== 0;
  }

  /** Whether the task finished by cancellation. */
  cancelled(): boolean {
    return (this.#flags & CANCELLED) !== 0;
  }

  /**
   * Asks the task to stop: its scope is cancelled, so its pending and later
   * awaits reject with {@linkcode CancelledError}. A task that has not
   * started never runs. Returns `false` if the task is already done.
   *
   * @param reason A message, or an error of your own to reject with.
   * @returns Whether the request was made.
   */
  cancel(reason?: unknown): boolean {
    if ((this.#flags & DONE) !== 0) return false;
    this.#scope.cancel(reason ?? `Task '${this.name}' was cancelled`);
    return true;
  }

  /**
   * The task's result. Throws the task's error if it failed,
   * {@linkcode CancelledError} if it was cancelled, and an `Error` if it is
   * not done yet.
   *
   * @returns The value `fn` returned.
   */
  result(): T {
    this.#assertDone("result");
    this.#retrieve();
    if ((this.#flags & FAILED) !== 0) throw this.#value;
    return this.#value as T;
  }

  /**
   * The task's error, or `undefined` if it succeeded. Throws
   * {@linkcode CancelledError} if it was cancelled, and an `Error` if it is
   * not done yet.
   *
   * @returns The error `fn` threw, if any.
   */
  exception(): unknown {
    this.#assertDone("exception");
    this.#retrieve();
    const flags = this.#flags;
    if ((flags & CANCELLED) !== 0) throw this.#value;
    return (flags & FAILED) !== 0 ? this.#value : undefined;
  }

  /**
   * Calls `callback(task)` when the task is done — at once (on the next
   * microtask) if it already is.
   *
   * @param callback Receives the task.
   */
  addDoneCallback(callback: (task: Task<T>) => void): void {
    if (typeof callback !== "function") {
      throw new TypeError(
        `Cannot add a done callback: it must be a function, got ${typeof callback}`,
      );
    }
    if ((this.#flags & DONE) !== 0) {
      queueMicrotask(() => this.#call(callback));
    } else {
      (this.#callbacks ??= []).push(callback);
    }
  }

  /**
   * Removes every registration of `callback`.
   *
   * @param callback A callback given to {@linkcode Task.addDoneCallback}.
   * @returns How many were removed.
   */
  removeDoneCallback(callback: (task: Task<T>) => void): number {
    const callbacks = this.#callbacks;
    if (callbacks === undefined) return 0;
    const kept = callbacks.filter((c) => c !== callback);
    this.#callbacks = kept;
    return callbacks.length - kept.length;
  }

  #assertDone(what: string): void {
    if ((this.#flags & DONE) === 0) {
      throw new Error(
        `Cannot get the ${what} of task '${this.name}': it is not done yet; await it first`,
      );
    }
  }

  /** @ignore */
  get [Symbol.toStringTag](): string {
    return "Task";
  }
}

/**
 * Starts `fn` concurrently and returns its {@linkcode Task} — asyncio's
 * `asyncio.create_task`. The task's scope is nested in the caller's, so
 * cancelling the enclosing scope (a TaskGroup, a timeout, `run`) cancels the
 * task too. Keep a reference and await it, or use a `TaskGroup` or
 * `TaskSet`.
 *
 * @example Run two things at once
 * ```ts
 * import { createTask, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const a = createTask(async () => {
 *   await sleep(5);
 *   return "a";
 * });
 * const b = createTask(async () => {
 *   await sleep(5);
 *   return "b";
 * });
 * assert.deepEqual([await a, await b], ["a", "b"]);
 * ```
 *
 * @param fn The function to run; it receives the task's `AbortSignal` if it
 * declares a parameter.
 * @param options Name and cancellation.
 * @returns The task.
 */
export function createTask<T>(
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  options?: TaskOptions,
): Task<T> {
  return new Task(fn, options);
}
