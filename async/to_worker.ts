/**
 * `toWorker`: one call in a fresh worker — asyncio's `to_thread` for CPU
 * work and blocking calls, which must not block the event loop.
 *
 * @module
 */
import {
  type FunctionName,
  type WorkerArgs,
  type WorkerFunction,
  WorkerPool,
  type WorkerPoolOptions,
  type WorkerResult,
  type WorkerReturn,
  type WorkerRunOptions,
} from "./worker_pool.ts";
import { type Transfer, transfer } from "./_worker_protocol.ts";

export { type Transfer, transfer };

/** Options for {@linkcode toWorker}: the run's and the worker's. */
export interface ToWorkerOptions extends
  WorkerRunOptions,
  Pick<
    WorkerPoolOptions,
    "isolation" | "permissions" | "errorClasses" | "config" | "name"
  > {}

/**
 * Runs a function in a worker of its own and resolves with its result —
 * asyncio's `to_thread`: the event loop goes on while it computes or blocks.
 * The worker starts for this call and stops after it (~20 ms for a Web
 * Worker); for many calls, keep a {@linkcode WorkerPool}.
 *
 * Two forms: a module's export (`toWorker(url, "fib", [30])`), or a
 * self-contained function (`toWorker(() => …)`), sent by its source — it
 * must not use variables from around it (they do not travel: using one
 * rejects with the worker's `ReferenceError`); pass them as `args`.
 *
 * Cancelling the call (its scope, or `signal`) terminates the worker; the
 * call rejects once it has stopped. A task spinning in a loop that never
 * yields needs `isolation: "process"` to really stop (see
 * {@linkcode WorkerPoolOptions.isolation}).
 *
 * @example A blocking call next to a sleep: they overlap
 * ```ts
 * import { gather, sleep } from "@aio/std/async";
 * import { toWorker } from "@aio/std/async/to-worker";
 * import assert from "node:assert/strict";
 *
 * const start = performance.now();
 * const [sum] = await gather(
 *   () =>
 *     toWorker((n: number) => {
 *       let s = 0;
 *       for (let i = 0; i < n; i++) s += i;
 *       return s;
 *     }, [1_000_000]),
 *   () => sleep(10),
 * );
 * assert.equal(sum, 499999500000);
 * assert.ok(performance.now() - start < 10_000);
 * ```
 *
 * @example A module's export
 * ```ts
 * import { toWorker } from "@aio/std/async/to-worker";
 * import assert from "node:assert/strict";
 *
 * const url = "data:text/javascript,export const add = (a, b) => a + b;";
 * assert.equal(await toWorker(url, "add", [2, 3]), 5);
 * ```
 *
 * @typeParam A The function's arguments.
 * @typeParam R Its result.
 * @param fn A function whose source is an expression (an arrow, a
 *   `function`), using only its arguments and globals.
 * @param args Its arguments (structured-cloned).
 * @param options Cancellation, transfer list, isolation, permissions.
 * @returns The function's result.
 */
export function toWorker<A extends unknown[], R>(
  fn: (...args: A) => R,
  args?: A,
  options?: ToWorkerOptions,
): Promise<WorkerResult<R>>;
/**
 * Runs the export `name` of the module at `module` in a worker of its own.
 *
 * @typeParam M The module's type, `typeof import("./work.ts")`.
 * @typeParam K The export's name.
 * @param module The module's URL.
 * @param name The export to call.
 * @param args Its arguments (structured-cloned).
 * @param options Cancellation, transfer list, isolation, permissions.
 * @returns The function's result.
 */
export function toWorker<
  M = Record<string, WorkerFunction>,
  K extends FunctionName<M> = FunctionName<M>,
>(
  module: string | URL,
  name: K,
  args?: WorkerArgs<M, K>,
  options?: ToWorkerOptions,
): Promise<WorkerReturn<M, K>>;
export async function toWorker(
  target: ((...args: never[]) => unknown) | string | URL,
  ...rest: unknown[]
): Promise<unknown> {
  const isFunction = typeof target === "function";
  if (!isFunction && typeof target !== "string" && !(target instanceof URL)) {
    throw new TypeError(
      `Cannot run in a worker: the first argument must be a function or a module URL, got ${typeof target}`,
    );
  }
  const [name, args, options] = isFunction
    ? [undefined, rest[0], rest[1]] as const
    : rest as [string, unknown, unknown];
  const opts = (options ?? {}) as ToWorkerOptions;
  const pool = new WorkerPool(isFunction ? null : target, {
    size: 1,
    idleTimeout: Infinity,
    isolation: opts.isolation,
    permissions: opts.permissions,
    errorClasses: opts.errorClasses,
    config: opts.config,
    name: opts.name ?? "toWorker",
  });
  try {
    const run = { transfer: opts.transfer, signal: opts.signal };
    return isFunction
      ? await pool.exec(target, (args ?? []) as never[], run)
      : await pool.run(name as string, (args ?? []) as never[], run);
  } finally {
    await pool[Symbol.asyncDispose]();
  }
}
