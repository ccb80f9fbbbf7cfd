// map(): p-map / @std's pooledMap, structured: the calls are tasks of one
// TaskGroup, so none outlives the map and a failure cancels the rest.
import { isCancellation, type SignalOptions, suspend } from "./cancel_scope.ts";
import type { Task } from "./task.ts";
import { ExceptionGroup, TaskGroup } from "./task_group.ts";
import { TaskSet } from "./task_set.ts";

/** Options for {@linkcode map}. */
export interface MapOptions extends SignalOptions {
  /**
   * How many calls may run at once: an integer ≥ 1, or `Infinity` (the
   * default). The items are pulled from the source only as slots free up.
   */
  concurrency?: number;
  /**
   * `true` (the default): the results are in the order of the items.
   * `false`: in the order the calls finished.
   */
  ordered?: boolean;
  /**
   * `false` (the default): the first failure cancels the calls still
   * running, no more items are taken, and `map` rejects with that error as
   * it is (p-map's `stopOnError`). `true`: every item is mapped, and if any
   * call failed `map` rejects with an {@linkcode ExceptionGroup} of all the
   * failures, in the order of the items.
   */
  keepGoing?: boolean;
}

type Source<T> =
  | { sync: true; it: Iterator<T> }
  | { sync: false; it: AsyncIterator<T> };

function sourceOf<T>(items: Iterable<T> | AsyncIterable<T>): Source<T> {
  const asyncIterator = (items as AsyncIterable<T>)?.[Symbol.asyncIterator];
  if (typeof asyncIterator === "function") {
    return { sync: false, it: asyncIterator.call(items) };
  }
  const iterator = (items as Iterable<T>)?.[Symbol.iterator];
  if (typeof iterator === "function") {
    return { sync: true, it: iterator.call(items) };
  }
  throw new TypeError(
    `Cannot map: 'items' must be an iterable or an async iterable, got ${
      items === null ? "null" : typeof items
    }`,
  );
}

/**
 * Calls `fn` on every item, at most `concurrency` calls at a time, and
 * returns the results in the order of the items — p-map's `pMap`, @std's
 * `pooledMap`, asyncio's "a TaskGroup and a Semaphore" pattern, as one
 * structured call. Each call is a task of one {@linkcode TaskGroup}: `map`
 * returns only when every call has ended, the first failure cancels the calls
 * still running (see `keepGoing` to map everything anyway), and cancelling
 * the caller cancels them all. Items come from an array, any iterable or an
 * async iterable (a stream, a queue), pulled only as slots free up, so a
 * huge or endless source is read at the pace of the work.
 *
 * @example Fetch pages, four at a time, results in order
 * ```ts
 * import { map, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let running = 0;
 * let most = 0;
 * const sizes = await map([1, 2, 3, 4, 5, 6, 7, 8], async (page) => {
 *   most = Math.max(most, ++running);
 *   await sleep(10 - page); // later pages finish first
 *   running--;
 *   return page * 100;
 * }, { concurrency: 4 });
 * assert.deepEqual(sizes, [100, 200, 300, 400, 500, 600, 700, 800]);
 * assert.equal(most, 4);
 * ```
 *
 * @example The first failure cancels the rest
 * ```ts
 * import { CancelledError, map, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const cancelled: number[] = [];
 * await assert.rejects(
 *   map([1, 2, 3], async (n) => {
 *     try {
 *       await sleep(n === 2 ? 1 : 60_000);
 *     } catch (error) {
 *       if (error instanceof CancelledError) cancelled.push(n);
 *       throw error;
 *     }
 *     throw new Error(`item ${n} failed`);
 *   }),
 *   /item 2 failed/,
 * );
 * assert.deepEqual(cancelled.sort(), [1, 3]);
 * ```
 *
 * @example Keep going, and get every failure
 * ```ts
 * import { ExceptionGroup, map } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const error = await map([1, 2, 3, 4], (n) => {
 *   if (n % 2 === 0) throw new Error(`${n} is even`);
 *   return n;
 * }, { keepGoing: true }).catch((e) => e);
 * assert.ok(error instanceof ExceptionGroup);
 * assert.deepEqual(error.errors.map((e) => e.message), ["2 is even", "4 is even"]);
 * ```
 *
 * @typeParam T The items' type.
 * @typeParam R What `fn` returns or resolves to.
 * @param items The items: an iterable or an async iterable.
 * @param fn Maps one item; it receives the item, its index and the signal of
 * its task.
 * @param options Concurrency, order, failure mode and cancellation.
 * @returns The results, in the order of the items (or of completion with
 * `ordered: false`).
 */
export async function map<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number, signal: AbortSignal) => R | PromiseLike<R>,
  options?: MapOptions,
): Promise<R[]> {
  const concurrency = checkOptions(fn, options);
  const ordered = options?.ordered ?? true;
  const keepGoing = options?.keepGoing ?? false;
  const signal = options?.signal;
  const source = sourceOf(items);

  const results: R[] = [];
  const failures: { index: number; error: unknown }[] = [];
  let first: { error: unknown } | undefined;
  let running = 0;
  let wake: (() => void) | undefined;
  let exhausted = false;

  const call = async (
    item: T,
    index: number,
    signal: AbortSignal,
  ): Promise<void> => {
    try {
      const value = await fn(item, index, signal);
      if (ordered) results[index] = value;
      else results.push(value);
    } catch (error) {
      if (isCancellation(error)) throw error;
      if (keepGoing) {
        failures.push({ index, error });
      } else {
        first ??= { error };
        throw error;
      }
    } finally {
      running--;
      const resolve = wake;
      wake = undefined;
      resolve?.();
    }
  };
  const slotFreed = (resolve: () => void) => {
    wake = resolve;
    return () => {
      wake = undefined;
    };
  };

  try {
    await TaskGroup.run(async (tg) => {
      for (let index = 0;; index++) {
        while (running >= concurrency) await suspend<void>(slotFreed);
        let next: IteratorResult<T>;
        try {
          next = source.sync ? source.it.next() : await source.it.next();
        } catch (error) {
          // A broken source: it is not asked to clean up (for-of's rule).
          exhausted = true;
          first ??= { error };
          throw error;
        }
        if (next.done) {
          exhausted = true;
          return;
        }
        running++;
        const item = next.value;
        tg.createTask((signal) => call(item, index, signal));
      }
    }, signal === undefined ? undefined : { signal });
  } catch (error) {
    // The first failure as it is, not wrapped in the group's ExceptionGroup.
    if (first !== undefined && error instanceof ExceptionGroup) {
      throw first.error;
    }
    throw error;
  } finally {
    // Stopped early: let the source clean up, as `break` in for-of does.
    if (!exhausted) await closeSource(source);
  }
  throwFailures(failures);
  return results;
}

// Stopped early: the source cleans up, as on `break` in for-of; what it
// throws then is dropped, the error that stopped the map is the one to report.
async function closeSource<T>(source: Source<T>): Promise<void> {
  try {
    await source.it.return?.();
  } catch {
    // See above.
  }
}

// keepGoing's end: every failure, in the order of the items.
function throwFailures(failures: { index: number; error: unknown }[]): void {
  if (failures.length === 0) return;
  failures.sort((a, b) => a.index - b.index);
  throw new ExceptionGroup(
    `Cannot map every item: ${failures.length} call${
      failures.length === 1 ? "" : "s"
    } failed (items ${failures.map((f) => f.index).join(", ")})`,
    failures.map((f) => f.error),
  );
}

/** Options for {@linkcode pooledMap}. */
export type PooledMapOptions = MapOptions;

/**
 * Like {@linkcode map}, but yields the results as an async iterable instead
 * of collecting them — @std's `pooledMap`, p-map's `pMapIterable`, made
 * structured: the calls are tasks owned by the iteration, at most
 * `concurrency` run while the consumer works on a result (no more items are
 * pulled until it asks for the next), and leaving the loop (`break`, an
 * error, the consumer's cancellation) cancels and awaits the calls still
 * running before the loop statement ends. The results come in the order of
 * the items, or as they finish with `ordered: false`. The first failure is
 * thrown by the iteration (after cancelling the rest); with `keepGoing`,
 * every success is yielded and an {@linkcode ExceptionGroup} of the failures
 * is thrown at the end.
 *
 * @example Process a stream of items, three at a time, as they finish
 * ```ts
 * import { pooledMap, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const seen: number[] = [];
 * for await (
 *   const n of pooledMap([30, 10, 20], async (ms) => {
 *     await sleep(ms);
 *     return ms;
 *   }, { concurrency: 3, ordered: false })
 * ) {
 *   seen.push(n);
 * }
 * assert.deepEqual(seen, [10, 20, 30]);
 * ```
 *
 * @example Leaving the loop cancels what still runs
 * ```ts
 * import { CancelledError, pooledMap, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * let cancelled = 0;
 * for await (
 *   const n of pooledMap([1, 2, 3, 4], async (n) => {
 *     try {
 *       await sleep(n === 1 ? 1 : 60_000);
 *     } catch (error) {
 *       if (error instanceof CancelledError) cancelled++;
 *       throw error;
 *     }
 *     return n;
 *   }, { concurrency: 2 })
 * ) {
 *   assert.equal(n, 1);
 *   break;
 * }
 * assert.equal(cancelled, 2); // items 2 and 3; item 4 was never pulled
 * ```
 *
 * @typeParam T The items' type.
 * @typeParam R What `fn` returns or resolves to.
 * @param items The items: an iterable or an async iterable.
 * @param fn Maps one item; it receives the item, its index and the signal of
 * its task.
 * @param options Concurrency, order, failure mode and cancellation.
 * @returns An async iterable of the results.
 */
export function pooledMap<T, R>(
  items: Iterable<T> | AsyncIterable<T>,
  fn: (item: T, index: number, signal: AbortSignal) => R | PromiseLike<R>,
  options?: PooledMapOptions,
): AsyncIterableIterator<R> {
  // Checked at once, thrown by the first next(): an async generator cannot
  // throw when called.
  let error: unknown;
  let concurrency = Infinity;
  let source: Source<T> | undefined;
  try {
    concurrency = checkOptions(fn, options);
    source = sourceOf(items);
  } catch (e) {
    error = e;
  }
  return pooled(source, fn, options, concurrency, error);
}

function checkOptions(fn: unknown, options?: MapOptions): number {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot map: 'fn' must be a function, got ${typeof fn}`,
    );
  }
  const concurrency = options?.concurrency ?? Infinity;
  if (
    typeof concurrency !== "number" ||
    !(concurrency === Infinity || (Number.isInteger(concurrency) &&
      concurrency >= 1))
  ) {
    throw new RangeError(
      `Cannot map: 'concurrency' must be an integer >= 1 or Infinity, got ${
        String(concurrency)
      }`,
    );
  }
  const signal = options?.signal;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot map: 'signal' must be an AbortSignal, got ${typeof signal}`,
    );
  }
  return concurrency;
}

async function* pooled<T, R>(
  source: Source<T> | undefined,
  fn: (item: T, index: number, signal: AbortSignal) => R | PromiseLike<R>,
  options: MapOptions | undefined,
  concurrency: number,
  error: unknown,
): AsyncGenerator<R> {
  if (source === undefined) throw error;
  const ordered = options?.ordered ?? true;
  const keepGoing = options?.keepGoing ?? false;
  const signal = options?.signal;
  // The tasks' owner, made here, in the consumer's context: leaving the
  // loop disposes of it, which cancels and awaits what still runs.
  await using tasks = new TaskSet({ onError: () => {} });
  const inflight: Task<R>[] = [];
  const finished: Task<R>[] = [];
  const failures: { index: number; error: unknown }[] = [];
  const indexes = new Map<Task<R>, number>();
  let wake: (() => void) | undefined;
  const onDone = (task: Task<R>) => {
    finished.push(task);
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const someFinished = (resolve: () => void) => {
    wake = resolve;
    return () => {
      wake = undefined;
    };
  };
  let exhausted = false;
  let index = 0;
  // A result is yielded after the slot it freed is refilled, so that
  // `concurrency` calls go on while the consumer works on it.
  let ready = false;
  let value: R | undefined;
  try {
    while (true) {
      while (!exhausted && inflight.length < concurrency) {
        if (signal?.aborted) throw signal.reason;
        let next: IteratorResult<T>;
        try {
          next = source.sync ? source.it.next() : await source.it.next();
        } catch (error) {
          exhausted = true; // a broken source is not asked to clean up
          throw error;
        }
        if (next.done) {
          exhausted = true;
          break;
        }
        const item = next.value;
        const i = index++;
        const task = tasks.createTask(
          (taskSignal) => fn(item, i, taskSignal),
          signal === undefined ? undefined : { signal },
        );
        indexes.set(task, i);
        inflight.push(task);
        if (!ordered) task.addDoneCallback(onDone);
      }
      if (ready) {
        ready = false;
        const result = value as R;
        value = undefined;
        yield result;
        continue;
      }
      if (inflight.length === 0) break;
      let task: Task<R>;
      if (ordered) {
        task = inflight.shift()!;
      } else {
        while (finished.length === 0) await suspend<void>(someFinished);
        task = finished.shift()!;
        inflight.splice(inflight.indexOf(task), 1);
      }
      try {
        value = await task;
        ready = true;
      } catch (error) {
        if (!keepGoing || isCancellation(error)) throw error;
        failures.push({ index: indexes.get(task)!, error });
      } finally {
        indexes.delete(task);
      }
    }
  } finally {
    if (!exhausted) await closeSource(source);
  }
  throwFailures(failures);
}
