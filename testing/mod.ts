/**
 * Testing async code — what pytest-asyncio and `unittest.mock.AsyncMock` give
 * asyncio users, for `Deno.test`:
 *
 * - {@linkcode FakeTime}: a virtual clock (timers, `Date`,
 *   `performance.now()`, `AbortSignal.timeout`) that lets awaits run between
 *   timers, and with `autoAdvance` jumps over sleeps by itself (Trio's
 *   autojump clock), so a 30-second retry schedule is tested in milliseconds.
 * - {@linkcode mockAsync} / {@linkcode spyAsync}: async mocks and spies that
 *   record calls (arguments, outcome, virtual start and end), can be awaited
 *   for the n-th call, and assert with readable diffs.
 *
 * | pytest-asyncio / unittest.mock      | aio + Deno.test                          |
 * | ----------------------------------- | ---------------------------------------- |
 * | `@pytest.mark.asyncio async def`    | `Deno.test("…", async () => …)`          |
 * | async fixture with `yield`          | a factory returning `AsyncDisposable`, `await using` |
 * | `@pytest.mark.parametrize`          | a loop over `t.step`                     |
 * | `AsyncMock(side_effect=[…])`        | `mockAsync().resolvesNext([…])`          |
 * | `patch.object(obj, "m", wraps=…)`   | `using spy = spyAsync(obj, "m")`         |
 * | `mock.assert_awaited()`             | `mock.assertAwaited()`                   |
 * | trio's `MockClock(autojump_threshold=0)` | `new FakeTime({ autoAdvance: true })` |
 * | trio's `autojump_threshold=0.05`   | `new FakeTime({ autoAdvance: true, idle: 50 })` |
 * | sinon's `clock.setSystemTime(t)`    | `time.setSystemTime(t)` (Date only)      |
 * | sinon's `runToLast()`               | `time.runToLast()`, `runToLastAsync()`   |
 * | @std's `FakeTime.restoreFor(fn)`    | `FakeTime.restoreFor(fn)`, `time.delay(ms)` |
 *
 * @example An async test on the virtual clock
 * ```ts
 * import { retry } from "@aio/std/async";
 * import { FakeTime, mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * Deno.test("retry backs off 1 s, then 2 s", async () => {
 *   using time = new FakeTime({ start: 0, autoAdvance: true });
 *   const fetchPage = mockAsync<[number], string>().resolvesNext([
 *     new Error("503"),
 *     new Error("503"),
 *     "<html>",
 *   ]);
 *   const page = await retry(fetchPage, { minDelay: 1000, jitter: "none" });
 *   assert.equal(page, "<html>");
 *   assert.deepEqual(fetchPage.calls.map((call) => call.start), [0, 1000, 3000]);
 *   assert.equal(time.now, 3000);
 * });
 * ```
 *
 * @example An async fixture: setup and teardown with `await using`
 * ```ts
 * import { sleep } from "@aio/std/async";
 * import { mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * // pytest's `async def fixture(): setup; yield value; teardown`.
 * async function openServer(close: () => Promise<unknown>) {
 *   await sleep(1); // e.g. start listening
 *   return {
 *     url: "http://localhost:8000",
 *     async [Symbol.asyncDispose]() {
 *       await close();
 *     },
 *   };
 * }
 *
 * Deno.test("the fixture is torn down when the block ends", async () => {
 *   const close = mockAsync();
 *   {
 *     await using server = await openServer(close);
 *     assert.equal(server.url, "http://localhost:8000");
 *     assert.equal(close.callCount, 0);
 *   }
 *   close.assertCalledOnce();
 *   close.assertAwaited();
 * });
 * ```
 *
 * @example Parametrised cases with `t.step`
 * ```ts
 * import { retry, RetryError } from "@aio/std/async";
 * import { FakeTime, mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * Deno.test("retry gives up after `attempts` calls", async (t) => {
 *   for (const attempts of [1, 3, 6]) {
 *     await t.step(`attempts: ${attempts}`, async () => {
 *       using _time = new FakeTime({ autoAdvance: true });
 *       const fn = mockAsync().rejects(new Error("down"));
 *       await assert.rejects(retry(fn, { attempts }), RetryError);
 *       assert.equal(fn.callCount, attempts);
 *     });
 *   }
 * });
 * ```
 *
 * @example A TaskGroup in a test, asserting on work in the background
 * ```ts
 * import { sleep, TaskGroup } from "@aio/std/async";
 * import { FakeTime, mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * Deno.test("a heartbeat beats every 10 s", async () => {
 *   using _time = new FakeTime({ start: 0, autoAdvance: true });
 *   const beat = mockAsync();
 *   await TaskGroup.run(async (tg) => {
 *     tg.createTask(async () => {
 *       while (true) {
 *         await sleep(10_000);
 *         await beat(Date.now());
 *       }
 *     });
 *     await beat.called(3); // wait for the background task
 *     tg.cancel();
 *   });
 *   assert.deepEqual(beat.calls.map((call) => call.args), [
 *     [10_000],
 *     [20_000],
 *     [30_000],
 *   ]);
 * });
 * ```
 *
 * @module
 */
export * from "./fake_time.ts";
export * from "./mock.ts";
