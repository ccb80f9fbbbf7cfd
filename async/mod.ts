/**
 * The structured-concurrency core of aio: cancel scopes, tasks, task groups,
 * gather/wait, sleep, timeouts, shield, TaskSet and `run` — asyncio's
 * patterns with Trio's cancellation rules.
 *
 * @example A task group with a timeout
 * ```ts
 * import { sleep, TaskGroup, timeout } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const results = await timeout(1000, () =>
 *   TaskGroup.run(async (tg) => {
 *     const a = tg.createTask(async () => {
 *       await sleep(1);
 *       return "a";
 *     });
 *     const b = tg.createTask(async () => "b");
 *     return [await a, await b];
 *   }));
 * assert.deepEqual(results, ["a", "b"]);
 * ```
 *
 * @module
 */
export * from "./cancel_scope.ts";
export {
  type BlockInfo,
  debugEnabled,
  type DebugReport,
  type DebugReporter,
  enableDebug,
  monitorEventLoop,
  type MonitorOptions,
  setDebugReporter,
  type TaskStat,
  type TaskStats,
  taskStats,
} from "./debug.ts";
export * from "./debounce.ts";
export * from "./gather.ts";
export * from "./map.ts";
export * from "./retry.ts";
export * from "./run.ts";
export * from "./sleep.ts";
export * from "./task.ts";
export * from "./task_group.ts";
export * from "./task_set.ts";
export * from "./throttle.ts";
export * from "./timeout.ts";
export * from "./to_worker.ts";
export * from "./worker_pool.ts";
