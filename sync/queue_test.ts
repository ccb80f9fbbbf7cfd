import assert from "node:assert/strict";
import { CancelledError, CancelScope } from "../async/cancel_scope.ts";
import { flush, type Op, prng, start } from "./_test_util.ts";
import {
  LifoQueue,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
} from "./queue.ts";

Deno.test("Queue gives items out in the order they were put", async () => {
  const queue = new Queue<number>();
  for (let i = 0; i < 40; i++) await queue.put(i);
  const out: number[] = [];
  for (let i = 0; i < 40; i++) out.push(await queue.get());
  assert.deepEqual(out, Array.from({ length: 40 }, (_, i) => i));
});

Deno.test("Queue.get() waits for the next put()", async () => {
  const queue = new Queue<string>();
  const got = queue.get();
  await flush();
  queue.putNowait("x");
  assert.equal(await got, "x");
  assert.equal(queue.qsize(), 0);
});

Deno.test("Queue.put() waits for room when the queue is full", async () => {
  const queue = new Queue<number>({ maxsize: 1 });
  await queue.put(1);
  let added = false;
  const put = queue.put(2).then(() => added = true);
  await flush();
  assert.equal(added, false);
  assert.equal(queue.qsize(), 1);
  assert.equal(await queue.get(), 1);
  await put;
  assert.equal(added, true);
  assert.equal(queue.getNowait(), 2);
});

Deno.test("Queue.putNowait() on a full queue throws QueueFull and adds nothing", () => {
  const queue = new Queue<number>({ maxsize: 2 });
  queue.putNowait(1);
  queue.putNowait(2);
  assert.ok(queue.full());
  assert.throws(() => queue.putNowait(3), QueueFull);
  assert.equal(queue.qsize(), 2);
});

Deno.test("Queue.getNowait() on an empty queue throws QueueEmpty", () => {
  const queue = new Queue<number>();
  assert.ok(queue.empty());
  assert.throws(() => queue.getNowait(), QueueEmpty);
});

Deno.test("Queue.get() cancelled in the tick an item arrives does not consume it", async () => {
  const queue = new Queue<number>();
  const controller = new AbortController();
  const got = queue.get({ signal: controller.signal });
  controller.abort();
  queue.putNowait(1);
  await assert.rejects(got, CancelledError);
  assert.equal(queue.getNowait(), 1);
});

Deno.test("Queue.get() cancelled as an item arrives passes it to the next getter", async () => {
  const queue = new Queue<number>();
  const scope = new CancelScope();
  const first = scope.run(() => queue.get());
  const second = queue.get();
  scope.cancel();
  queue.putNowait(1);
  assert.equal(await first, undefined); // the scope swallowed its cancellation
  assert.equal(await second, 1);
  assert.ok(queue.empty());
});

Deno.test("Queue.get() handed an item before its cancellation keeps the item", async () => {
  const queue = new Queue<number>();
  const controller = new AbortController();
  const got = queue.get({ signal: controller.signal });
  queue.putNowait(1);
  controller.abort();
  assert.equal(await got, 1);
  assert.ok(queue.empty());
});

Deno.test("Queue.get() in a scope handed an item keeps it when the scope is cancelled before it wakes", async () => {
  const queue = new Queue<number>();
  const scope = new CancelScope();
  const got = scope.run(() => queue.get());
  queue.putNowait(1); // handed over; the getter wakes a few ticks later
  scope.cancel();
  assert.equal(await got, 1);
  assert.ok(queue.empty());
});

Deno.test("Queue item handed to a blocked getter is not taken by a later get()", async () => {
  const queue = new Queue<string>();
  const first = queue.get();
  queue.putNowait("a");
  const second = queue.get(); // before the first getter has woken
  queue.putNowait("b");
  assert.equal(await first, "a");
  assert.equal(await second, "b");
  assert.ok(queue.empty());
});

Deno.test("Queue producer awaiting put() stays ahead of a consumer that blocked once", async () => {
  const queue = new Queue<number>();
  let foundEmpty = 0;
  const consumer = (async () => {
    const got: number[] = [];
    for (let i = 0; i < 100; i++) {
      if (queue.empty()) foundEmpty++;
      got.push(await queue.get());
    }
    return got;
  })();
  for (let i = 0; i < 100; i++) await queue.put(i);
  assert.deepEqual(await consumer, Array.from({ length: 100 }, (_, i) => i));
  // Only the first get() blocks: after the hand-off, the woken consumer finds
  // the next item already there.
  assert.equal(foundEmpty, 1);
});

Deno.test("Queue.put() cancelled while waiting for room adds nothing", async () => {
  const queue = new Queue<number>({ maxsize: 1 });
  queue.putNowait(1);
  const controller = new AbortController();
  const put = queue.put(2, { signal: controller.signal });
  controller.abort();
  await assert.rejects(put, CancelledError);
  assert.equal(queue.getNowait(), 1);
  assert.ok(queue.empty());
});

Deno.test("Queue.get() in a cancelled scope rejects and leaves the item", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  const scope = new CancelScope();
  scope.cancel();
  let error: unknown;
  await scope.run(async () => {
    try {
      await queue.get();
    } catch (caught) {
      error = caught;
      throw caught;
    }
  });
  assert.ok(error instanceof CancelledError);
  assert.equal(queue.qsize(), 1);
});

Deno.test("Queue.put() with an aborted signal rejects and adds nothing", async () => {
  const queue = new Queue<number>();
  await assert.rejects(
    queue.put(1, { signal: AbortSignal.abort("stop") }),
    CancelledError,
  );
  assert.ok(queue.empty());
});

Deno.test("Queue.get() with a signal that is not an AbortSignal rejects with TypeError", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  await assert.rejects(
    queue.get({ signal: "nope" as unknown as AbortSignal }),
    TypeError,
  );
  assert.equal(queue.qsize(), 1);
});

Deno.test("Queue serves waiting getters first come, first served", async () => {
  const queue = new Queue<number>();
  const gets = [queue.get(), queue.get(), queue.get()];
  queue.putNowait(1);
  queue.putNowait(2);
  queue.putNowait(3);
  assert.deepEqual(await Promise.all(gets), [1, 2, 3]);
});

Deno.test("Queue serves waiting putters first come, first served", async () => {
  const queue = new Queue<string>({ maxsize: 1 });
  queue.putNowait("a");
  const puts = [queue.put("b"), queue.put("c")];
  const out = [await queue.get(), await queue.get(), await queue.get()];
  await Promise.all(puts);
  assert.deepEqual(out, ["a", "b", "c"]);
});

Deno.test("Queue.join() waits until taskDone() was called for every item", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.putNowait(2);
  let joined = false;
  const join = queue.join().then(() => joined = true);
  queue.getNowait();
  queue.taskDone();
  await flush();
  assert.equal(joined, false);
  queue.getNowait();
  queue.taskDone();
  await join;
  assert.equal(joined, true);
});

Deno.test("Queue.join() resolves at once when no task is unfinished", async () => {
  await new Queue().join();
});

Deno.test("Queue.taskDone() called more times than items were put throws", () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.getNowait();
  queue.taskDone();
  assert.throws(() => queue.taskDone(), /more times than items were put/);
});

Deno.test("Queue.shutdown() makes puts reject with QueueShutDown", async () => {
  const queue = new Queue<number>();
  queue.shutdown();
  await assert.rejects(queue.put(1), QueueShutDown);
  assert.throws(() => queue.putNowait(1), QueueShutDown);
  assert.ok(queue.empty());
});

Deno.test("Queue.shutdown() lets gets drain the items, then they reject", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.putNowait(2);
  queue.shutdown();
  assert.equal(await queue.get(), 1);
  assert.equal(queue.getNowait(), 2);
  await assert.rejects(queue.get(), QueueShutDown);
  assert.throws(() => queue.getNowait(), QueueShutDown);
});

Deno.test("Queue.shutdown() wakes waiting getters with QueueShutDown", async () => {
  const queue = new Queue<number>();
  const got = queue.get();
  queue.shutdown();
  await assert.rejects(got, QueueShutDown);
});

Deno.test("Queue.shutdown() wakes waiting putters with QueueShutDown and drops their items", async () => {
  const queue = new Queue<number>({ maxsize: 1 });
  queue.putNowait(1);
  const put = queue.put(2);
  queue.shutdown();
  await assert.rejects(put, QueueShutDown);
  assert.equal(queue.getNowait(), 1);
  assert.throws(() => queue.getNowait(), QueueShutDown);
});

Deno.test("Queue.shutdown() without immediate does not release join()", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  let joined = false;
  const join = queue.join().then(() => joined = true);
  queue.shutdown();
  await flush();
  assert.equal(joined, false);
  queue.getNowait();
  queue.taskDone();
  await join;
});

Deno.test("Queue.shutdown(true) drops the items and gets reject at once", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.putNowait(2);
  queue.shutdown(true);
  assert.equal(queue.qsize(), 0);
  await assert.rejects(queue.get(), QueueShutDown);
});

Deno.test("Queue.shutdown(true) releases join() for the dropped items", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.putNowait(2);
  const join = queue.join();
  queue.shutdown(true);
  await join;
});

Deno.test("Queue.shutdown(true) keeps join() waiting for items taken but not done", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  queue.putNowait(2);
  queue.getNowait();
  let joined = false;
  const join = queue.join().then(() => joined = true);
  queue.shutdown(true);
  await flush();
  assert.equal(joined, false);
  queue.taskDone();
  await join;
});

Deno.test("for await over a Queue ends at shutdown after the last item", async () => {
  const queue = new Queue<number>();
  const seen: number[] = [];
  const loop = (async () => {
    for await (const item of queue) seen.push(item);
  })();
  await queue.put(1);
  await queue.put(2);
  queue.shutdown();
  await loop;
  assert.deepEqual(seen, [1, 2]);
});

Deno.test("for await over a Queue rethrows a cancellation", async () => {
  const queue = new Queue<number>();
  const scope = new CancelScope();
  let error: unknown;
  const loop = scope.run(async () => {
    try {
      for await (const _ of queue) { /* nothing */ }
    } catch (caught) {
      error = caught;
      throw caught;
    }
  });
  scope.cancel();
  await loop;
  assert.ok(error instanceof CancelledError);
});

Deno.test("PriorityQueue gives the smallest item first", () => {
  const queue = new PriorityQueue<number>();
  for (const n of [5, 1, 4, 2, 3, 0, 9, 7]) queue.putNowait(n);
  const out: number[] = [];
  while (!queue.empty()) out.push(queue.getNowait());
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 7, 9]);
});

Deno.test("PriorityQueue gives equal priorities in the order they were put", () => {
  const queue = new PriorityQueue<[number, string]>({
    compare: (a, b) => a[0] - b[0],
  });
  const items: [number, string][] = [];
  for (let i = 0; i < 30; i++) items.push([i % 3, `item${i}`]);
  for (const item of items) queue.putNowait(item);
  const out: string[] = [];
  while (!queue.empty()) out.push(queue.getNowait()[1]);
  const expected = [0, 1, 2].flatMap((p) =>
    items.filter((item) => item[0] === p).map((item) => item[1])
  );
  assert.deepEqual(out, expected);
});

Deno.test("PriorityQueue uses the comparator", () => {
  const queue = new PriorityQueue<number>({ compare: (a, b) => b - a });
  for (const n of [1, 3, 2]) queue.putNowait(n);
  assert.deepEqual([queue.getNowait(), queue.getNowait(), queue.getNowait()], [
    3,
    2,
    1,
  ]);
});

Deno.test("PriorityQueue rejects a comparator that is not a function", () => {
  assert.throws(
    () => new PriorityQueue({ compare: 1 as unknown as () => number }),
    TypeError,
  );
});

Deno.test("PriorityQueue with maxsize admits a waiting putter by priority", async () => {
  const queue = new PriorityQueue<number>({ maxsize: 2 });
  queue.putNowait(5);
  queue.putNowait(3);
  const put = queue.put(1);
  assert.equal(await queue.get(), 3);
  await put;
  assert.equal(queue.getNowait(), 1);
  assert.equal(queue.getNowait(), 5);
});

Deno.test("LifoQueue gives the newest item first", () => {
  const queue = new LifoQueue<number>();
  for (const n of [1, 2, 3]) queue.putNowait(n);
  assert.deepEqual([queue.getNowait(), queue.getNowait(), queue.getNowait()], [
    3,
    2,
    1,
  ]);
});

Deno.test("PriorityQueue and LifoQueue give a woken getter the item that comes first when it runs", async () => {
  // asyncio: the woken getter is only scheduled; it takes the queue's best
  // item when it runs.
  const priority = new PriorityQueue<number>();
  const first = priority.get();
  priority.putNowait(5);
  priority.putNowait(1);
  assert.equal(await first, 1);
  assert.equal(priority.getNowait(), 5);
  const lifo = new LifoQueue<string>();
  const newest = lifo.get();
  lifo.putNowait("a");
  lifo.putNowait("b");
  assert.equal(await newest, "b");
  assert.equal(lifo.getNowait(), "a");
});

Deno.test("Queue counts an item promised to a woken getter neither in qsize() nor against maxsize", async () => {
  const queue = new Queue<string>({ maxsize: 1 });
  const waiting = queue.get();
  queue.putNowait("a"); // promised to the waiting getter
  assert.equal(queue.qsize(), 0);
  assert.ok(queue.empty() && !queue.full());
  assert.throws(() => queue.getNowait(), QueueEmpty); // not for anyone else
  queue.putNowait("b"); // room: the promised item does not count
  assert.ok(queue.full());
  assert.equal(await waiting, "a");
  assert.equal(queue.getNowait(), "b");
});

Deno.test("Queue refuses a thenable item, which get() would adopt", async () => {
  const queue = new Queue<unknown>();
  const thenables = [
    Promise.resolve(1),
    {
      then(resolve: (v: number) => void) {
        resolve(42);
      },
    },
    Object.assign(() => {}, { then() {} }),
  ];
  for (const item of thenables) {
    assert.throws(
      () => queue.putNowait(item),
      (e) =>
        e instanceof TypeError && /Queue.*thenable.*wrap it/.test(e.message),
    );
    await assert.rejects(queue.put(item), TypeError);
  }
  assert.equal(queue.qsize(), 0);
  await queue.put({ value: Promise.resolve(1) }); // wrapped: fine
  await queue.put({ then: 1 }); // not callable: not a thenable
  assert.equal(queue.qsize(), 2);
});

Deno.test("PriorityQueue orders arrays element by element, like Python's tuples", () => {
  const queue = new PriorityQueue<(number | string)[]>();
  for (
    const item of [[10, "ten"], [9, "nine"], [2, "two"], [2, "a"], [2]]
  ) queue.putNowait(item);
  const out: unknown[] = [];
  while (!queue.empty()) out.push(queue.getNowait());
  assert.deepEqual(out, [[2], [2, "a"], [2, "two"], [9, "nine"], [10, "ten"]]);
});

Deno.test("PriorityQueue left as it was when its comparator throws", async () => {
  let failAt = -1;
  let calls = 0;
  const compare = (a: number, b: number) => {
    if (++calls === failAt) throw new Error("compare");
    return a - b;
  };
  // Fail at every possible comparison of a put and of a take in turn; the
  // queue must still give out exactly what it holds, in order.
  for (let fail = 1; fail <= 6; fail++) {
    const queue = new PriorityQueue<number>({ compare });
    for (const n of [10, 20, 30, 40, 50, 60, 70]) queue.putNowait(n);
    calls = 0;
    failAt = fail;
    const put = queue.put(1); // a promise either way, never a throw
    const putFailed = await put.then(() => false, () => true);
    calls = 0;
    failAt = fail;
    const got = queue.get();
    const gotFailed = await got.then(() => false, () => true);
    failAt = -1;
    const held = [10, 20, 30, 40, 50, 60, 70];
    if (!putFailed) held.unshift(1);
    if (!gotFailed) held.shift();
    const out: number[] = [];
    while (!queue.empty()) out.push(queue.getNowait());
    assert.deepEqual(out, held, `failing compare #${fail}`);
    for (let i = 0; i < held.length + (gotFailed ? 0 : 1); i++) {
      queue.taskDone();
    }
    assert.throws(() => queue.taskDone(), /more times/); // counted right
  }
});

Deno.test("PriorityQueue comparator refusing a waiting putter's item rejects that put and admits the next", async () => {
  const queue = new PriorityQueue<number>({
    maxsize: 2,
    compare: (a, b) => {
      if (a === 13 || b === 13) throw new Error("unlucky");
      return a - b;
    },
  });
  queue.putNowait(1);
  queue.putNowait(2);
  const refused = queue.put(13); // waits for room, then its push throws
  const admitted = queue.put(3);
  assert.equal(await queue.get(), 1);
  await assert.rejects(refused, /unlucky/);
  await admitted;
  assert.deepEqual([queue.getNowait(), queue.getNowait()], [2, 3]);
  for (let i = 0; i < 3; i++) queue.taskDone();
  await queue.join(); // the refused item was never counted
});

Deno.test("PriorityQueue comparator throwing for a woken getter rejects it and keeps the item", async () => {
  let fail = false;
  const queue = new PriorityQueue<number>({
    compare: (a, b) => {
      if (fail) throw new Error("compare");
      return a - b;
    },
  });
  const waiting = queue.get();
  for (const n of [3, 2, 4]) queue.putNowait(n);
  fail = true; // the woken getter's take compares too
  await assert.rejects(waiting, /compare/);
  fail = false;
  assert.equal(queue.qsize(), 3);
  assert.deepEqual([2, 3, 4].map(() => queue.getNowait()), [2, 3, 4]);
});

Deno.test("Queue.shutdown(true) drops an item promised to a woken getter, which gets QueueShutDown", async () => {
  const queue = new Queue<string>();
  const waiting = queue.get();
  queue.putNowait("a");
  queue.shutdown(true);
  await assert.rejects(waiting, QueueShutDown);
  assert.equal(queue.qsize(), 0);
  await queue.join(); // the dropped item counts as done
});

// The heap against a sorted reference: random puts and takes, equal
// priorities included.
for (const seed of [31, 32, 33]) {
  Deno.test(`PriorityQueue matches a sorted reference (seed ${seed})`, () => {
    const random = prng(seed);
    const queue = new PriorityQueue<[number, number]>({
      compare: (a, b) => a[0] - b[0],
    });
    const reference: [number, number][] = [];
    for (let step = 0; step < 3000; step++) {
      if (random() < 0.55 || reference.length === 0) {
        const item: [number, number] = [Math.floor(random() * 20), step];
        queue.putNowait(item);
        reference.push(item); // stable sort: equal keys stay in put order
        reference.sort((a, b) => a[0] - b[0]);
      } else {
        assert.deepEqual(queue.getNowait(), reference.shift());
      }
    }
    assert.equal(queue.qsize(), reference.length);
  });
}

Deno.test("Queue rejects a bad maxsize", async (t) => {
  for (const maxsize of [-1, 1.5, NaN, -Infinity]) {
    await t.step(`RangeError for ${maxsize}`, () => {
      assert.throws(() => new Queue({ maxsize }), (error: Error) => {
        assert.ok(error instanceof RangeError);
        assert.ok(error.message.includes(String(maxsize)));
        return true;
      });
    });
  }
  await t.step("TypeError for a string", () => {
    assert.throws(
      () => new Queue({ maxsize: "3" as unknown as number }),
      TypeError,
    );
  });
});

Deno.test("Queue with maxsize 0 or Infinity is unbounded", () => {
  for (const maxsize of [0, Infinity]) {
    const queue = new Queue<number>({ maxsize });
    for (let i = 0; i < 100; i++) queue.putNowait(i);
    assert.equal(queue.full(), false);
    assert.equal(queue.maxsize, Infinity);
  }
});

// Property: many producers and consumers, cancelled at random points (often
// in the same tick as the hand-off they race with). Every item whose put()
// resolved is delivered exactly once or is still queued; no item whose put()
// was cancelled ever appears.
for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  Deno.test(`Queue loses and duplicates nothing under random cancellation (seed ${seed})`, async () => {
    const random = prng(seed);
    const maxsize = 1 + Math.floor(random() * 4);
    const queue = seed % 3 === 0
      ? new PriorityQueue<number>({ maxsize })
      : seed % 3 === 1
      ? new LifoQueue<number>({ maxsize })
      : new Queue<number>({ maxsize });
    const puts: { item: number; op: Op<void> }[] = [];
    const gets: Op<number>[] = [];
    let next = 0;
    for (let step = 0; step < 600; step++) {
      const r = random();
      if (r < 0.3) {
        const item = next++;
        puts.push({
          item,
          op: start(random, (signal) => queue.put(item, { signal })),
        });
      } else if (r < 0.6) {
        gets.push(start(random, (signal) => queue.get({ signal })));
      } else if (r < 0.8) {
        const pending = [...puts.map((p) => p.op), ...gets].filter((op) =>
          !op.settled
        );
        if (pending.length > 0) {
          pending[Math.floor(random() * pending.length)].cancel();
        }
      } else {
        await flush(Math.floor(random() * 4));
      }
    }
    for (const op of [...puts.map((p) => p.op), ...gets]) op.cancel();
    const putResults = await Promise.all(puts.map((p) => p.op.result));
    const getResults = await Promise.all(gets.map((op) => op.result));
    const delivered: number[] = [];
    for (const result of getResults) {
      if (result.ok) delivered.push(result.value);
      else assert.ok(result.error instanceof CancelledError);
    }
    while (!queue.empty()) delivered.push(queue.getNowait());
    const added = puts.filter((_, i) => putResults[i].ok).map((p) => p.item);
    delivered.sort((a, b) => a - b);
    assert.deepEqual(delivered, added);
    assert.ok(added.length > 0 && added.length < puts.length);
  });
}

Deno.test("Queue.join() cancelled by its signal rejects", async () => {
  const queue = new Queue<number>();
  queue.putNowait(1);
  const controller = new AbortController();
  const join = queue.join({ signal: controller.signal });
  controller.abort();
  await assert.rejects(join, CancelledError);
});
