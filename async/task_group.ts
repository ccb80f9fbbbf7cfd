import {
  awaitInScope,
  CancelledError,
  CancelScope,
  exitScope,
  isCancellationIn,
  setOwner,
} from "./_scope.ts";
import { Task, type TaskOptions } from "./task.ts";

/** What {@linkcode ExceptionGroup.split} and `subgroup` match errors with. */
export type ErrorMatcher =
  // deno-lint-ignore no-explicit-any
  | (abstract new (...args: any[]) => unknown)
  | ((error: unknown) => boolean);

function matcher(condition: ErrorMatcher): (error: unknown) => boolean {
  if (typeof condition !== "function") {
    throw new TypeError(
      `Cannot match errors: the condition must be an error class or a predicate, got ${typeof condition}`,
    );
  }
  const proto = condition.prototype;
  if (
    proto !== undefined &&
    (condition === Error || proto instanceof Error)
  ) {
    return (error) => error instanceof condition;
  }
  // A class is not a predicate: calling it without `new` would throw.
  if (/^class\b/.test(Function.prototype.toString.call(condition))) {
    throw new TypeError(
      `Cannot match errors: class ${
        condition.name || "(anonymous)"
      } does not extend Error; pass an Error class or a predicate`,
    );
  }
  return condition as (error: unknown) => boolean;
}

// For the group's message: whatever was thrown, even an object with no
// prototype (which String() cannot convert).
function describe(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/**
 * Several errors raised together — Python's `ExceptionGroup`. A
 * {@linkcode TaskGroup} throws one holding every error of its tasks that is
 * not a cancellation. It is an `AggregateError`; `split` and `subgroup` pick
 * errors out by class or predicate, looking into nested groups.
 *
 * @example Handle one kind of error, rethrow the rest
 * ```ts
 * import { ExceptionGroup } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const group = new ExceptionGroup("two failures", [
 *   new TypeError("bad type"),
 *   new RangeError("too big"),
 * ]);
 * const [types, rest] = group.split(TypeError);
 * assert.equal(types?.errors.length, 1);
 * assert.ok(rest?.errors[0] instanceof RangeError);
 * assert.equal(group.subgroup(SyntaxError), undefined);
 * ```
 */
export class ExceptionGroup extends AggregateError {
  /**
   * Makes a group.
   *
   * @param message What failed.
   * @param errors The errors; at least one.
   * @param options The `cause`, if any.
   */
  constructor(
    message: string,
    errors: Iterable<unknown>,
    options?: ErrorOptions,
  ) {
    const list = [...errors];
    if (list.length === 0) {
      throw new RangeError(
        "Cannot create an ExceptionGroup: it needs at least one error, got none",
      );
    }
    super(list, message, options);
    this.name = "ExceptionGroup";
  }

  /** The errors, by Python's name. */
  get exceptions(): readonly unknown[] {
    return this.errors;
  }

  /**
   * A group like this one (same message and cause) with other errors.
   *
   * @param errors The errors of the new group.
   * @returns The new group.
   */
  derive(errors: Iterable<unknown>): ExceptionGroup {
    return new ExceptionGroup(this.message, errors, { cause: this.cause });
  }

  /**
   * Splits the group in two: the errors that match `condition` and the rest,
   * keeping nested groups' shape. A side with no error is `undefined`.
   *
   * @param condition An error class or a predicate.
   * @returns `[match, rest]`.
   */
  split(
    condition: ErrorMatcher,
  ): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
    return this.#split(matcher(condition));
  }

  /**
   * The errors that match `condition`, as a group, or `undefined` if none.
   *
   * @param condition An error class or a predicate.
   * @returns The matching part.
   */
  subgroup(condition: ErrorMatcher): ExceptionGroup | undefined {
    return this.#split(matcher(condition))[0];
  }

  #split(
    match: (error: unknown) => boolean,
  ): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
    if (match(this)) return [this, undefined];
    const matched: unknown[] = [];
    const rest: unknown[] = [];
    for (const error of this.errors) {
      if (error instanceof ExceptionGroup) {
        const [m, r] = error.#split(match);
        if (m !== undefined) matched.push(m);
        if (r !== undefined) rest.push(r);
      } else if (match(error)) {
        matched.push(error);
      } else {
        rest.push(error);
      }
    }
    return [
      matched.length === 0 ? undefined : this.derive(matched),
      rest.length === 0 ? undefined : this.derive(rest),
    ];
  }
}

/** Options for {@linkcode TaskGroup}. */
export interface TaskGroupOptions {
  /** Cancels the group, like a cancellation from an enclosing scope. */
  signal?: AbortSignal;
}

const enum State {
  Created,
  Running,
  Closed,
}

/**
 * Structured concurrency — asyncio's `TaskGroup`, Trio's nursery. The body
 * and every task it starts run inside the group's cancel scope; the group
 * ends only when all of them have. If a task (or the body) fails, the group
 * cancels everything else, waits for it, and throws an
 * {@linkcode ExceptionGroup} of every error that is not a cancellation. If
 * the group is cancelled from outside and nothing failed, the cancellation is
 * rethrown as it is.
 *
 * @example Run tasks concurrently and collect their results
 * ```ts
 * import { sleep, TaskGroup } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const results = await TaskGroup.run(async (tg) => {
 *   const a = tg.createTask(async () => {
 *     await sleep(5);
 *     return 1;
 *   });
 *   const b = tg.createTask(async () => {
 *     await sleep(5);
 *     return 2;
 *   });
 *   return [await a, await b];
 * });
 * assert.deepEqual(results, [1, 2]);
 * ```
 *
 * @example One failure cancels the siblings
 * ```ts
 * import { ExceptionGroup, sleep, TaskGroup } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let siblingFinished = false;
 * await assert.rejects(
 *   TaskGroup.run((tg) => {
 *     tg.createTask(async () => {
 *       await sleep(60_000);
 *       siblingFinished = true;
 *     });
 *     tg.createTask(() => {
 *       throw new Error("boom");
 *     });
 *   }),
 *   (error) => error instanceof ExceptionGroup && error.errors.length === 1,
 * );
 * assert.equal(siblingFinished, false);
 * ```
 */
export class TaskGroup {
  #state = State.Created;
  #scope: CancelScope | undefined = undefined;
  #pending = 0;
  #bodyDone = false;
  #errors: unknown[] = [];
  // Where the body's own error is in `#errors`, to name it as the body's.
  #bodyErrorAt = -1;
  #idle: (() => void) | undefined = undefined;
  #childDone = (task: Task<unknown>): void => {
    if (!task.cancelled()) {
      try {
        task.result();
      } catch (error) {
        this.#fail(error, "Cancelled: another task of the TaskGroup failed");
      }
    }
    if (--this.#pending === 0 && this.#bodyDone) this.#close();
  };

  static #making = false;

  /**
   * Not for direct use: {@linkcode TaskGroup.run} makes a group and runs it,
   * the one way to use one (`async with TaskGroup() as tg:`). Throws a
   * TypeError when called otherwise.
   */
  constructor() {
    if (!TaskGroup.#making) {
      throw new TypeError(
        "Cannot create a TaskGroup with new: call TaskGroup.run(body) instead",
      );
    }
    TaskGroup.#making = false;
  }

  /**
   * Makes a group and runs `body` in it (Python's `async with TaskGroup() as
   * tg:`), then waits for every task of the group.
   *
   * @param body Starts tasks through `tg`; its result is the group's.
   * @param options An external signal.
   * @returns The body's result; `undefined` if `tg.cancel()` ended the group
   * before the body returned.
   */
  static run<T>(
    body: (tg: TaskGroup) => T | PromiseLike<T>,
    options?: TaskGroupOptions,
  ): Promise<T | undefined> {
    if (typeof body !== "function") {
      return Promise.reject(
        new TypeError(
          `Cannot run the TaskGroup: 'body' must be a function, got ${typeof body}`,
        ),
      );
    }
    const signal = options?.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      return Promise.reject(
        new TypeError(
          `Cannot run the TaskGroup: 'signal' must be an AbortSignal, got ${typeof signal}`,
        ),
      );
    }
    TaskGroup.#making = true;
    return new TaskGroup().#run(body, signal);
  }

  async #run<T>(
    body: (tg: TaskGroup) => T | PromiseLike<T>,
    signal: AbortSignal | undefined,
  ): Promise<T | undefined> {
    this.#state = State.Running;
    const scope = this.#scope = new CancelScope(
      signal === undefined ? undefined : { signal },
    );
    let result: T | undefined;
    let bodyFailed = false;
    let bodyError: unknown;
    try {
      result = await scope[awaitInScope](body, this);
    } catch (error) {
      bodyFailed = true;
      bodyError = error;
      if (!isCancellationIn(error, scope)) {
        this.#bodyErrorAt = this.#errors.length;
        this.#fail(error, "Cancelled: the body of the TaskGroup failed");
      }
    }
    this.#bodyDone = true;
    if (this.#pending > 0) {
      // Not cancellable: the children are cancelled with the group, and the
      // group must not end before they do.
      await new Promise<void>((resolve) => this.#idle = resolve);
    } else {
      this.#close();
    }
    scope[exitScope]();
    const errors = this.#errors;
    if (errors.length > 0) {
      throw new ExceptionGroup(
        `TaskGroup: ${errors.length} unhandled error${
          errors.length === 1 ? "" : "s"
        } (${
          errors.map((e, i) =>
            i === this.#bodyErrorAt ? `the body: ${describe(e)}` : describe(e)
          ).join("; ")
        })`,
        errors,
      );
    }
    if (scope.cancelled && !scope.ownsCancellation()) {
      // Cancelled from outside: rethrow that cancellation as it is.
      throw bodyFailed ? bodyError : scope.reason;
    }
    if (bodyFailed) {
      if (bodyError instanceof CancelledError && scope.ownsCancellation()) {
        return undefined;
      }
      throw bodyError;
    }
    return result;
  }

  /**
   * Starts `fn` as a task of this group. Its failure cancels the group.
   * Allowed until the group has closed: from the body, from its tasks, and
   * while the group waits for them.
   *
   * @param fn The function to run; it receives the task's `AbortSignal` if
   * it declares a parameter.
   * @param options Name and cancellation.
   * @returns The task.
   */
  createTask<T>(
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
    options?: TaskOptions,
  ): Task<T> {
    if (this.#state !== State.Running) {
      throw new Error(
        this.#state === State.Created
          ? "Cannot create a task: the TaskGroup is not running; use TaskGroup.run(body)"
          : "Cannot create a task: the TaskGroup has closed; create tasks while it runs",
      );
    }
    const task = new Task(fn, options, this.#scope);
    this.#pending++;
    task[setOwner](this.#childDone as (task: Task<T>) => void);
    return task;
  }

  /**
   * Starts `fn` as a task of this group and resolves once it calls
   * `started(value)` — Trio's `nursery.start`, for a server that must listen
   * before the body goes on. An error before `started` rejects `start()`
   * instead of failing the group; after it, errors fail the group as usual.
   *
   * @example Wait until a server is ready
   * ```ts
   * import { TaskGroup } from "@aio/std/async";
   * import assert from "node:assert/strict";
   *
   * await TaskGroup.run(async (tg) => {
   *   const port = await tg.start<number>(async (started) => {
   *     started(8080); // e.g. after the listener is bound
   *   });
   *   assert.equal(port, 8080);
   * });
   * ```
   *
   * @param fn The task; it calls `started(value)` once ready.
   * @param options Name of the task.
   * @returns The value passed to `started`.
   */
  start<T = void>(
    fn: (started: (value: T) => void) => unknown,
    options?: Omit<TaskOptions, "signal">,
  ): Promise<T> {
    if (typeof fn !== "function") {
      return Promise.reject(
        new TypeError(
          `Cannot start a task: 'fn' must be a function, got ${typeof fn}`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      let ready = false;
      const started = (value: T) => {
        if (ready) {
          throw new Error(
            "Cannot call started() twice: the task already reported it started",
          );
        }
        ready = true;
        resolve(value);
      };
      this.createTask(async () => {
        try {
          await fn(started);
        } catch (error) {
          if (ready) throw error;
          reject(error);
          return;
        }
        if (!ready) {
          reject(
            new Error(
              "Cannot start the task: it returned without calling started()",
            ),
          );
        }
      }, options);
    });
  }

  /**
   * Ends the group early without an error (asyncio 3.15's
   * `TaskGroup.cancel`): the body and every task are cancelled, and `run`
   * returns once they have finished.
   *
   * @param reason A message for the cancellation.
   */
  cancel(reason?: string): void {
    if (this.#state !== State.Running) return;
    // Always a CancelledError, even for an error given as the reason: it
    // ends the group quietly, not as a failure.
    this.#scope!.cancel(
      typeof reason === "string"
        ? reason
        : new CancelledError("The TaskGroup was cancelled", {
          cause: reason,
        }),
    );
  }

  #fail(error: unknown, why: string): void {
    this.#errors.push(error);
    this.#scope!.cancel(why);
  }

  #close(): void {
    this.#state = State.Closed;
    const idle = this.#idle;
    this.#idle = undefined;
    idle?.();
  }
}
