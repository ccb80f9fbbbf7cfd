import { shield, type SignalOptions, suspend } from "./cancel_scope.ts";
import { createTask, Task } from "./task.ts";
import { timeout } from "./timeout.ts";
import { isThenable } from "./_scope.ts";
import { CallbackTimer, schedule, unschedule } from "./_timers.ts";

/** Something {@linkcode gather} can run or wait for. */
export type Awaitable<T> =
  | Task<T>
  | PromiseLike<T>
  | ((signal: AbortSignal) => T | PromiseLike<T>);

/** The result type of an {@linkcode Awaitable}. */
export type AwaitableResult<A> = A extends Task<infer T> ? T
  // deno-lint-ignore no-explicit-any
  : A extends (...args: any[]) => infer R ? Awaited<R>
  : Awaited<A>;

/** The results of a {@linkcode gather} call, in order. */
export type GatherResults<A extends readonly unknown[]> = {
  -readonly [K in keyof A]: AwaitableResult<A[K]>;
};

/** Options for {@linkcode gather}. */
export interface GatherOptions {
  /**
   * When true, errors are returned in the results instead of rejecting
   * (asyncio's `return_exceptions=True`).
   */
  returnExceptions?: boolean;
}

function isOptions(value: unknown): value is GatherOptions {
  return value !== null && typeof value === "object" &&
    !(value instanceof Task) &&
    typeof (value as PromiseLike<unknown>).then !== "function";
}

function isAwaitable(item: unknown): boolean {
  return item instanceof Task || typeof item === "function" || isThenable(item);
}

function notAwaitable(what: string, item: unknown): TypeError {
  return new TypeError(
    `Cannot ${what}: expected a Task, a promise or a function, got ${
      item === null ? "null" : typeof item
    }`,
  );
}

// `item` is known to be awaitable.
function toTask<T>(item: Awaitable<T>): Task<T> {
  if (item instanceof Task) return item;
  if (typeof item === "function") return createTask(item);
  return createTask(() => item);
}

function toTasks<T>(items: Iterable<Task<T>>, what: string): Task<T>[] {
  if (
    items === null || typeof items !== "object" ||
    typeof (items as Iterable<Task<T>>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot ${what}: 'tasks' must be an iterable of Tasks, got ${typeof items}`,
    );
  }
  const tasks = [...items];
  for (const task of tasks) {
    if (!(task instanceof Task)) {
      throw new TypeError(
        `Cannot ${what}: every item must be a Task (see createTask), got ${typeof task}`,
      );
    }
  }
  return tasks;
}

/**
 * Runs awaitables concurrently and returns their results in order —
 * asyncio's `gather`. Functions are started as tasks; tasks and promises are
 * awaited. Like asyncio, the first failure rejects the gather but does not
 * cancel the others; with `{ returnExceptions: true }` errors are returned
 * in place of results. If the awaiting scope is cancelled, every task of the
 * gather is cancelled.
 *
 * @example Usage
 * ```ts
 * import { gather, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await gather(
 *   async () => {
 *     await sleep(5);
 *     return 1;
 *   },
 *   async () => "two",
 * );
 * assert.equal(a, 1);
 * assert.equal(b, "two");
 * ```
 *
 * @example Collect errors instead of failing
 * ```ts
 * import { gather } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const results = await gather(
 *   async () => 1,
 *   async () => {
 *     throw new Error("boom");
 *   },
 *   { returnExceptions: true },
 * );
 * assert.equal(results[0], 1);
 * assert.ok(results[1] instanceof Error);
 * ```
 *
 * @param items The awaitables, optionally followed by options.
 * @returns The results, in the order given.
 */
export function gather<A extends readonly Awaitable<unknown>[]>(
  ...items: A
): Promise<GatherResults<A>>;
/**
 * Runs awaitables concurrently, returning errors in place of results.
 *
 * @param items The awaitables, followed by `{ returnExceptions: true }`.
 * @returns The results or errors, in the order given.
 */
export function gather<A extends readonly Awaitable<unknown>[]>(
  ...items: [...A, GatherOptions]
): Promise<{ -readonly [K in keyof A]: AwaitableResult<A[K]> | Error }>;
export function gather(
  ...items: unknown[]
): Promise<unknown[]> {
  let returnExceptions = false;
  if (items.length > 0 && isOptions(items[items.length - 1])) {
    returnExceptions = (items.pop() as GatherOptions).returnExceptions === true;
  }
  // Every item is checked before any is started: a bad one must not leave
  // the others running as orphans.
  for (const item of items) {
    if (!isAwaitable(item)) {
      return Promise.reject(notAwaitable("gather", item));
    }
  }
  const tasks = items.map((item) => toTask(item as Awaitable<unknown>));
  return suspend<unknown[]>((resolve, reject) => {
    const results = new Array(tasks.length);
    let remaining = tasks.length;
    if (remaining === 0) {
      resolve(results);
      return;
    }
    tasks.forEach((task, i) =>
      task.addDoneCallback(() => {
        try {
          results[i] = task.result();
        } catch (error) {
          if (!returnExceptions) reject(error);
          results[i] = error;
        }
        if (--remaining === 0) resolve(results);
      })
    );
    return () => {
      for (const task of tasks) task.cancel();
    };
  });
}

/** Options for {@linkcode wait}. */
export interface WaitOptions extends SignalOptions {
  /** When to return; `"ALL_COMPLETED"` by default. */
  returnWhen?: "FIRST_COMPLETED" | "FIRST_EXCEPTION" | "ALL_COMPLETED";
  /** Return after this many milliseconds even if the condition is not met. */
  timeout?: number;
}

/** What {@linkcode wait} returns. */
export interface WaitResult<T> {
  /** The tasks that are done. */
  done: Set<Task<T>>;
  /** The tasks that are not. */
  pending: Set<Task<T>>;
}

/**
 * Waits until some or all tasks are done — asyncio's `wait`. Never cancels
 * the tasks and never throws on timeout: it reports which are done and which
 * are pending.
 *
 * @example Wait for the first to finish
 * ```ts
 * import { createTask, sleep, wait } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const fast = createTask(() => sleep(1));
 * const slow = createTask(() => sleep(60_000));
 * const { done, pending } = await wait([fast, slow], {
 *   returnWhen: "FIRST_COMPLETED",
 * });
 * assert.ok(done.has(fast) && pending.has(slow));
 * slow.cancel();
 * ```
 *
 * @param tasks The tasks; at least one.
 * @param options The condition, a timeout and cancellation.
 * @returns The done and pending tasks.
 */
export function wait<T>(
  tasks: Iterable<Task<T>>,
  options?: WaitOptions,
): Promise<WaitResult<T>> {
  try {
    return waitChecked(toTasks(tasks, "wait"), options);
  } catch (error) {
    return Promise.reject(error);
  }
}

function waitChecked<T>(
  list: Task<T>[],
  options: WaitOptions | undefined,
): Promise<WaitResult<T>> {
  if (list.length === 0) {
    throw new RangeError("Cannot wait: no tasks were given, got 0");
  }
  const returnWhen = options?.returnWhen ?? "ALL_COMPLETED";
  if (
    returnWhen !== "FIRST_COMPLETED" && returnWhen !== "FIRST_EXCEPTION" &&
    returnWhen !== "ALL_COMPLETED"
  ) {
    throw new TypeError(
      `Cannot wait: 'returnWhen' must be FIRST_COMPLETED, FIRST_EXCEPTION or ALL_COMPLETED, got ${returnWhen}`,
    );
  }
  const ms = options?.timeout;
  if (ms !== undefined && (typeof ms !== "number" || !(ms >= 0))) {
    throw new RangeError(
      `Cannot wait: 'timeout' must be a number >= 0, got ${ms}`,
    );
  }
  const split = (): WaitResult<T> => {
    const done = new Set<Task<T>>();
    const pending = new Set<Task<T>>();
    for (const task of list) (task.done() ? done : pending).add(task);
    return { done, pending };
  };
  const satisfied = (): boolean => {
    let doneCount = 0;
    for (const task of list) {
      if (!task.done()) continue;
      doneCount++;
      if (returnWhen === "FIRST_COMPLETED") return true;
      if (
        returnWhen === "FIRST_EXCEPTION" && !task.cancelled() &&
        task.exception() !== undefined
      ) return true;
    }
    return doneCount === list.length;
  };
  return suspend<WaitResult<T>>((resolve) => {
    if (satisfied()) {
      resolve(split());
      return;
    }
    let live = true;
    let timer: CallbackTimer | undefined;
    // Ends the wait's hold on the tasks: a long task must not collect a
    // callback per wait that gave up on it.
    const stop = () => {
      live = false;
      if (timer !== undefined) unschedule(timer);
      for (const task of list) if (!task.done()) task.removeDoneCallback(check);
    };
    const finish = () => {
      if (!live) return;
      stop();
      resolve(split());
    };
    const check = () => {
      if (live && satisfied()) finish();
    };
    for (const task of list) if (!task.done()) task.addDoneCallback(check);
    if (ms !== undefined && ms !== Infinity) {
      timer = new CallbackTimer(finish);
      schedule(timer, ms);
    }
    return stop;
  }, options);
}

/**
 * Yields the given tasks as they finish, in completion order — asyncio 3.13's
 * `as_completed` used with `async for`. Awaiting a yielded task gives its
 * result or error.
 *
 * @example Usage
 * ```ts
 * import { asCompleted, createTask, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const slow = createTask(async () => {
 *   await sleep(20);
 *   return "slow";
 * });
 * const fast = createTask(async () => {
 *   await sleep(1);
 *   return "fast";
 * });
 * const order: string[] = [];
 * for await (const task of asCompleted([slow, fast])) order.push(await task);
 * assert.deepEqual(order, ["fast", "slow"]);
 * ```
 *
 * @param tasks The tasks.
 * @param options Cancellation of the waits between tasks.
 * @returns An async iterator of the tasks.
 */
export function asCompleted<T>(
  tasks: Iterable<Task<T>>,
  options?: SignalOptions,
): AsyncIterableIterator<Task<T>> {
  const list = toTasks(tasks, "iterate as completed");
  // Finished tasks no next() has taken yet, and the next() calls waiting
  // for one, in FIFO order: a finished task goes straight to the first.
  const finished: Task<T>[] = [];
  // (A task is handed over in a box: resolving with a task itself would
  // adopt it, and hand out its result instead.)
  const line: ((box: [Task<T>]) => void)[] = [];
  for (const task of list) {
    task.addDoneCallback((t) => {
      const take = line.shift();
      if (take === undefined) finished.push(t);
      else take([t]);
    });
  }
  let claimed = 0;
  // A hand-written iterator, not an async generator: a generator's `yield`
  // would await the task and hand out its result instead of the task.
  return {
    async next(): Promise<IteratorResult<Task<T>>> {
      if (claimed === list.length) return { done: true, value: undefined };
      claimed++;
      try {
        // Through suspend even when a task is ready: a cancelled scope
        // rejects every await, fast path or not.
        const [task] = await suspend<[Task<T>]>((resolve) => {
          if (finished.length > 0) {
            resolve([finished.shift()!]);
            return;
          }
          line.push(resolve);
          return () => {
            const i = line.indexOf(resolve);
            if (i >= 0) line.splice(i, 1);
          };
        }, options);
        return { done: false, value: task };
      } catch (error) {
        claimed--;
        throw error;
      }
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * Waits for an awaitable with a time limit — asyncio's `wait_for`. A
 * function runs in a scope that the limit cancels; a task is cancelled on
 * expiry (and awaited until it has ended); a plain promise cannot be
 * stopped, so it is abandoned: it goes on, and its outcome is dropped. On
 * expiry a {@linkcode TimeoutError} is thrown. If the awaiting code is
 * cancelled, a task given here is cancelled too (asyncio does the same).
 *
 * @example Usage
 * ```ts
 * import { createTask, sleep, TimeoutError, waitFor } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * assert.equal(await waitFor(async () => "quick", 1000), "quick");
 * await assert.rejects(waitFor(() => sleep(60_000), 5), TimeoutError);
 * const task = createTask(() => sleep(60_000));
 * await assert.rejects(waitFor(task, 5), TimeoutError);
 * assert.ok(task.cancelled());
 * ```
 *
 * @param aw The work: a function, a task or a promise.
 * @param ms The limit in milliseconds; `Infinity` for none.
 * @returns The result.
 */
export async function waitFor<T>(
  aw: (() => T | PromiseLike<T>) | Task<T> | PromiseLike<T>,
  ms: number,
): Promise<T> {
  if (typeof aw === "function") return await timeout(ms, aw);
  if (!isAwaitable(aw)) throw notAwaitable("wait for", aw);
  if (!(aw instanceof Task)) {
    const promise = aw;
    // A cancellable wait on the promise: expiry abandons it.
    return await timeout(ms, () =>
      suspend<T>((resolve, reject) => {
        promise.then(resolve, reject);
      }));
  }
  const task = aw;
  try {
    return await timeout(ms, () => task);
  } catch (error) {
    if (!task.done()) {
      // Timed out or cancelled from outside: stop the task, and like
      // asyncio wait for it to really end before going on.
      task.cancel();
      await shield(() => task.then(undefined, () => {}));
    }
    throw error;
  }
}
