// The tour's examples must keep showing what they claim.
import assert from "node:assert/strict";
import * as sequential from "./sequential_vs_concurrent.ts";
import * as gatherExample from "./gather.ts";
import * as taskGroup from "./task_group.ts";
import * as timeoutExample from "./timeout.ts";
import * as cancel from "./cancel.ts";
import * as queue from "./queue.ts";
import * as semaphore from "./semaphore.ts";
import * as retryExample from "./retry.ts";
import * as fakeClock from "./fake_clock.ts";
import * as workers from "./workers.ts";
import * as files from "./files.ts";
import * as http from "./http.ts";
import * as postgres from "./postgres.ts";
import * as postgresPool from "./postgres_pool.ts";
import * as debugExample from "./debug.ts";
import { pgAvailable } from "../testing/postgres.ts";

// No wall-clock ratios here: a loaded CI machine can break any of them.
// The examples return what their timings show, counted instead of timed.
Deno.test("example: concurrent fetches overlap their waits", async () => {
  const { sequentialPeak, concurrentPeak } = await sequential.main();
  assert.equal(sequentialPeak, 1);
  assert.equal(concurrentPeak, 3);
});

Deno.test("example: gather keeps argument order and returns exceptions", async () => {
  const { results, errors } = await gatherExample.main();
  assert.deepEqual(results, ["a", "b", "c"]);
  assert.equal(errors, 1);
});

Deno.test("example: a failing child cancels its siblings", async () => {
  const { cancelled, errors } = await taskGroup.main();
  assert.deepEqual(cancelled.sort(), ["download", "resize"]);
  assert.deepEqual(errors, ["upload failed: disk full"]);
});

Deno.test("example: timeout raises, moveOnAfter moves on", async () => {
  assert.deepEqual(await timeoutExample.main(), {
    timedOut: true,
    movedOn: undefined,
  });
});

Deno.test("example: a cancelled task still finishes its shielded cleanup", async () => {
  assert.deepEqual(await cancel.main(), { cancelled: true, flushed: true });
});

Deno.test("example: a bounded queue applies back-pressure and drains", async () => {
  const { processed, largestBacklog } = await queue.main();
  assert.equal(processed, 12);
  assert.ok(largestBacklog <= 3, `backlog ${largestBacklog}`);
});

Deno.test("example: a semaphore caps concurrency", async () => {
  assert.deepEqual(await semaphore.main(), { peak: 3, done: 10 });
});

Deno.test("example: retry backs off exponentially until it succeeds", async () => {
  assert.deepEqual(await retryExample.main(), {
    result: "ok",
    delays: [20, 40],
  });
});

Deno.test("example: 31 virtual seconds of backoff under FakeTime", async () => {
  const { virtualMs, calls } = await fakeClock.main();
  assert.equal(calls, 6);
  assert.equal(virtualMs, 1000 + 2000 + 4000 + 8000 + 16000);
});

Deno.test("example: the seed's aiofiles examples in a temp folder", async () => {
  const { contents, lines, sizes, config } = await files.main();
  assert.equal(contents, "Hello, async world!\nA second line\r\nand a third");
  assert.deepEqual(lines, [
    "Hello, async world!",
    "A second line",
    "and a third",
  ]);
  assert.deepEqual(sizes, [["file1.txt", 3], ["file2.txt", 11], "NotFound"]);
  assert.equal(config, '{"version":2}');
});

Deno.test({
  name: "example: asyncpg's fetch with $1, and a timeout that stops the server",
  ignore: !(await pgAvailable()),
}, async () => {
  const { users, timedOut, idleAfterCancel } = await postgres.main();
  assert.deepEqual(users, [{ name: "Ada", age: 36 }, {
    name: "Grace",
    age: 45,
  }]);
  assert.equal(timedOut, true);
  assert.equal(idleAfterCancel, true);
});

Deno.test({
  name:
    "example: asyncpg's create_pool + acquire, a server restart, LISTEN/NOTIFY",
  ignore: !(await pgAvailable()),
}, async () => {
  const { adults, maxSize, sumAfterRestart, notified } = await postgresPool
    .main();
  assert.deepEqual(adults, ["Ada", "Grace"]);
  assert.ok(maxSize >= 1 && maxSize <= 5);
  assert.equal(sumAfterRestart, 55);
  assert.equal(notified, "hello");
});

Deno.test("example: debug mode names the blocking task and the forgotten one", async () => {
  const { blocked, pending, statsRows } = await debugExample.main();
  // A loaded machine may add stalls of its own; the 150 ms block is there.
  assert.ok(blocked.includes("parse-config"), `blocked: ${blocked}`);
  assert.deepEqual(pending, ["heartbeat"]);
  assert.deepEqual(statsRows, ["heartbeat", "parse-config"]);
});

Deno.test("example: blocking and CPU work in workers; a stuck process is killed", async () => {
  const { overlap, sum, fibs, stopped } = await workers.main();
  assert.equal(typeof overlap, "number"); // its size depends on the machine
  assert.equal(sum, 333333283333717100000);
  assert.deepEqual(fibs, [6765, 10946, 17711, 28657]);
  assert.equal(stopped, true);
});

Deno.test("example: the seed's HTTP patterns against a local server", async () => {
  const { pages, status, posted, json, cancelledInFlight } = await http.main();
  assert.deepEqual(pages, ["waited 100 ms", "waited 200 ms", "waited 300 ms"]);
  assert.equal(status, 200);
  assert.deepEqual(posted, { data: "data" });
  assert.match((json as { url: string }).url, /\/get\?q=x$/);
  assert.equal(cancelledInFlight, true);
});
