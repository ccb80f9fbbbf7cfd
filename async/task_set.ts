import { suspend } from "./cancel_scope.ts";
import { CancelScope, currentScope, exitScope, setOwner } from "./_scope.ts";
import { reportException } from "./_report.ts";
import { registerResource, resourceClosed } from "./_debug.ts";
import { Task, type TaskOptions } from "./task.ts";

/** Options for {@linkcode TaskSet}. */
export interface TaskSetOptions {
  /**
   * Receives the error of every task that fails (not by cancellation). By
   * default errors go to the exception handler (see `setExceptionHandler`).
   */
  onError?: (error: unknown, task: Task<unknown>) => void;
  /**
   * The scope whose cancellation reaches the set's tasks: the ambient one
   * where the set is made by default; `null` for none (a long-lived owner's
   * background work, which only the owner's disposal stops).
   */
  parent?: CancelScope | null;
}

/**
 * Fire-and-forget tasks done right — the `background_tasks` set of asyncio's
 * docs, as a class. It keeps strong references to its tasks until they end,
 * reports their errors, and `await using` cancels and awaits what is left.
 *
 * @example Usage
 * ```ts
 * import { sleep, TaskSet } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * {
 *   await using tasks = new TaskSet();
 *   const quick = tasks.createTask(async () => {
 *     await sleep(1);
 *     log.push("quick one done");
 *   });
 *   tasks.createTask(() => sleep(60_000)); // cancelled at the end of the block
 *   await quick;
 *   assert.equal(tasks.size, 1); // the set let go of the finished task
 * }
 * assert.deepEqual(log, ["quick one done"]);
 * ```
 */
export class TaskSet implements AsyncDisposable, Iterable<Task<unknown>> {
  // The tasks run in this scope, made where the set was: an owner's
  // background work belongs to the owner, not to the caller of createTask.
  #scope: CancelScope;
  #tasks = new Set<Task<unknown>>();
  #closed = false;
  #onError: ((error: unknown, task: Task<unknown>) => void) | undefined;
  #idle: (() => void)[] = [];
  // Disposal or join awaited from one of the set's own tasks: it waits for
  // the others only (waiting for itself would never end).
  #lastOne: (() => void)[] = [];
  #done = (task: Task<unknown>): void => {
    this.#tasks.delete(task);
    if (!task.cancelled()) {
      let failed = false;
      let error: unknown;
      try {
        task.result();
      } catch (e) {
        failed = true;
        error = e;
      }
      if (failed) {
        if (this.#onError === undefined) {
          reportException({
            message: "A task of a TaskSet failed",
            error,
            taskName: task.name,
          });
        } else {
          try {
            this.#onError(error, task);
          } catch (e) {
            reportException({ message: "TaskSet's onError threw", error: e });
          }
        }
      }
    }
    const size = this.#tasks.size;
    if (size <= 1 && this.#lastOne.length > 0) {
      const lastOne = this.#lastOne;
      this.#lastOne = [];
      for (const resolve of lastOne) resolve();
    }
    if (size === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
      if (this.#closed) this.#scope[exitScope]();
    }
  };

  /**
   * Makes an empty set. Its tasks run in a scope nested in the ambient one
   * here, where the set is made (or in `options.parent`): cancelling that
   * scope cancels them, the scope of the code that calls `createTask` does
   * not.
   *
   * @param options Where task errors go, and the parent scope.
   */
  constructor(options?: TaskSetOptions) {
    const onError = options?.onError;
    if (onError !== undefined && typeof onError !== "function") {
      throw new TypeError(
        `Cannot create a TaskSet: 'onError' must be a function, got ${typeof onError}`,
      );
    }
    const parent = options?.parent;
    if (
      parent !== undefined && parent !== null &&
      !(parent instanceof CancelScope)
    ) {
      throw new TypeError(
        `Cannot create a TaskSet: 'parent' must be a CancelScope or null, got ${typeof parent}`,
      );
    }
    this.#onError = onError;
    this.#scope = new CancelScope(
      parent === undefined ? undefined : { parent },
    );
    registerResource(this, "TaskSet"); // debug mode's unclosed report
  }

  /** How many tasks are still running. */
  get size(): number {
    return this.#tasks.size;
  }

  /**
   * Starts `fn` as a task held by this set until it ends.
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
    if (this.#closed) {
      throw new Error(
        "Cannot create a task: the TaskSet is disposed; make a new one",
      );
    }
    const task = new Task(fn, options, this.#scope);
    this.#tasks.add(task as Task<unknown>);
    task[setOwner](this.#done as (task: Task<T>) => void);
    return task;
  }

  /**
   * Cancels every running task.
   *
   * @param reason A message for the cancellation.
   */
  cancelAll(reason?: string): void {
    for (const task of this.#tasks) task.cancel(reason);
  }

  /**
   * Waits until no task is running (tasks started meanwhile count too);
   * called from one of the set's tasks, until no other one is.
   *
   * @returns A promise that resolves when the set is empty.
   */
  join(): Promise<void> {
    // From one of the set's own tasks, "no task running" means no other.
    const own = this.#inOwnTask();
    return suspend<void>((resolve) => {
      if (this.#tasks.size <= (own ? 1 : 0)) {
        resolve();
        return;
      }
      const line = own ? this.#lastOne : this.#idle;
      line.push(resolve);
      return () => {
        const i = line.indexOf(resolve);
        if (i >= 0) line.splice(i, 1);
      };
    });
  }

  /** Iterates over the running tasks. */
  [Symbol.iterator](): Iterator<Task<unknown>> {
    return this.#tasks.values();
  }

  /**
   * Closes the set, cancels what runs and waits for it to end. Called from
   * one of the set's own tasks, it waits for the others and leaves the
   * caller's task cancelled.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    resourceClosed(this);
    this.#scope.cancel("The TaskSet was disposed");
    const size = this.#tasks.size;
    if (size === 0) {
      this.#scope[exitScope]();
      return;
    }
    // Not cancellable: disposal must not leave tasks behind.
    if (this.#inOwnTask()) {
      if (size > 1) {
        await new Promise<void>((resolve) => this.#lastOne.push(resolve));
      }
    } else {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
  }

  #inOwnTask(): boolean {
    for (let s = currentScope(); s !== undefined; s = s.parent) {
      if (s === this.#scope) return true;
    }
    return false;
  }
}
