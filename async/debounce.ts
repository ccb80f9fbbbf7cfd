// debounce(): Deno std's (async), aware of cancel scopes.
import { LaterCall } from "./_later.ts";

/** A function made by {@linkcode debounce}. */
export interface DebouncedFunction<A extends unknown[]> {
  /** Asks for a call of `fn` with these arguments, `wait` ms from now. */
  (...args: A): void;
  /** Drops the pending call, if any. */
  cancel(): void;
  /** Makes the pending call now, if any, instead of at the end of the wait. */
  flush(): void;
  /** Whether a call is waiting to be made. */
  readonly pending: boolean;
}

function checkWait(what: string, wait: unknown): asserts wait is number {
  if (typeof wait !== "number" || !(wait >= 0) || !Number.isFinite(wait)) {
    throw new RangeError(
      `Cannot ${what}: 'wait' must be a finite number >= 0, got ${
        String(wait)
      }`,
    );
  }
}

/**
 * Makes a function that calls `fn` only once calls stopped coming for `wait`
 * milliseconds, with the arguments of the last call — Deno std's (async)
 * `debounce`, lodash's `debounce` (trailing edge). For a search box that
 * queries after typing pauses, a save after edits settle.
 *
 * Aware of cancel scopes: `fn` runs in the async context of the last call,
 * so in its cancel scope (its awaits are cancelled with that scope); if that
 * scope is cancelled before the wait ends, the call is dropped — a debounced
 * call made by a task does not outlive the task's cancellation. Errors of
 * `fn` (thrown or rejected) go to the exception handler (see
 * `setExceptionHandler`), not into a timer callback.
 *
 * @example Only the last of a burst runs
 * ```ts
 * import { debounce } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(0);
 * const searched: string[] = [];
 * const search = debounce((query: string) => searched.push(query), 200);
 * search("a");
 * search("aio");
 * time.tick(100);
 * search("aio std");
 * assert.equal(search.pending, true);
 * time.tick(200);
 * assert.deepEqual(searched, ["aio std"]);
 * assert.equal(search.pending, false);
 * ```
 *
 * @example Dropped when the caller's scope is cancelled
 * ```ts
 * import { createTask, debounce, sleep } from "@aio/std/async";
 * import { FakeTime } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * using time = new FakeTime(0);
 * const saved: number[] = [];
 * const save = debounce((n: number) => saved.push(n), 100);
 * const task = createTask(async () => {
 *   save(1);
 *   await sleep(60_000);
 * });
 * await time.tickAsync(50);
 * task.cancel();
 * await task.then(() => {}, () => {});
 * assert.equal(save.pending, false);
 * await time.tickAsync(100);
 * assert.deepEqual(saved, []);
 * ```
 *
 * @typeParam A The arguments of `fn`.
 * @param fn The function to call.
 * @param wait How long calls must pause, in milliseconds; a finite number ≥ 0.
 * @returns The debounced function, with `cancel`, `flush` and `pending`.
 */
export function debounce<A extends unknown[]>(
  fn: (...args: A) => unknown,
  wait: number,
): DebouncedFunction<A> {
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot debounce: 'fn' must be a function, got ${typeof fn}`,
    );
  }
  checkWait("debounce", wait);
  const call = new LaterCall(fn, "A debounced function", () => {});
  const debounced = ((...args: A): void => {
    call.keep(args);
    if (call.pending) call.arm(wait);
  }) as DebouncedFunction<A>;
  Object.defineProperties(debounced, {
    cancel: { value: () => call.cancel() },
    flush: {
      value: () => {
        call.flush();
      },
    },
    pending: { get: () => call.pending },
  });
  return debounced;
}
