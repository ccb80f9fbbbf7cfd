/**
 * aio — Python's asyncio patterns for Deno: tasks, task groups, timeouts and
 * cancellation, done with web-standard `AbortSignal` and `await using`.
 *
 * @example Usage
 * ```ts
 * import { gather, sleep } from "@aio/std";
 * import assert from "node:assert/strict";
 *
 * const [a, b] = await gather(async () => {
 *   await sleep(1);
 *   return 1;
 * }, async () => 2);
 * assert.equal(a + b, 3);
 * ```
 *
 * @module
 */
export * from "./async/mod.ts";
export * from "./sync/mod.ts";
