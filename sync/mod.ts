/**
 * Synchronization primitives for tasks — asyncio's locks, events,
 * conditions, semaphores, barriers and queues, plus a rate limiter. Every
 * wait takes `{ signal }` and honours the ambient cancel scope, waiters are
 * served first come, first served, and nothing is lost on cancellation: a
 * cancelled `get()` takes no item, a cancelled `acquire()` holds no permit.
 *
 * @example A bounded producer/consumer pipeline inside a task group
 * ```ts
 * import { TaskGroup } from "@aio/std/async";
 * import { Queue, Semaphore } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>({ maxsize: 10 });
 * const semaphore = new Semaphore(2);
 * let total = 0;
 * await TaskGroup.run(async (tg) => {
 *   for (let w = 0; w < 3; w++) {
 *     tg.createTask(async () => {
 *       for await (const n of queue) {
 *         using _ = await semaphore.acquire();
 *         total += n;
 *       }
 *     });
 *   }
 *   for (let n = 1; n <= 100; n++) await queue.put(n);
 *   queue.shutdown();
 * });
 * assert.equal(total, 5050);
 * ```
 *
 * @module
 */
export * from "./barrier.ts";
export * from "./condition.ts";
export * from "./event.ts";
export * from "./lock.ts";
export * from "./queue.ts";
export * from "./rate_limiter.ts";
export * from "./semaphore.ts";
