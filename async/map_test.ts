import assert from "node:assert/strict";
import { FakeTime } from "../testing/fake_time.ts";
import { CancelledError } from "./cancel_scope.ts";
import { map, pooledMap } from "./map.ts";
import { sleep } from "./sleep.ts";
import { createTask } from "./task.ts";
import { ExceptionGroup } from "./task_group.ts";
import { timeout, TimeoutError } from "./timeout.ts";

Deno.test("map() returns the results in the order of the items", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const results = await map([30, 10, 20], async (ms, index) => {
    await sleep(ms);
    return `${index}:${ms}`;
  });
  assert.deepEqual(results, ["0:30", "1:10", "2:20"]);
});

Deno.test("map() with ordered false returns the results in the order they finished", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const results = await map([30, 10, 20], async (ms) => {
    await sleep(ms);
    return ms;
  }, { ordered: false });
  assert.deepEqual(results, [10, 20, 30]);
});

Deno.test("map() runs at most `concurrency` calls at once and starts the next as one ends", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await map([100, 100, 100, 50, 50], async (ms) => {
    started.push(time.now);
    most = Math.max(most, ++running);
    await sleep(ms);
    running--;
  }, { concurrency: 2 });
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 0, 100, 100, 150]);
  assert.equal(time.now, 200);
});

Deno.test("map() pulls items only as slots free up (back-pressure)", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  let pulled = 0;
  let running = 0;
  let aheadMost = 0;
  async function* source() {
    for (let i = 0; i < 20; i++) {
      pulled++;
      yield i;
    }
  }
  const results = await map(source(), async (n) => {
    running++;
    aheadMost = Math.max(aheadMost, pulled - (n + 1) + running);
    await sleep(10);
    running--;
    return n * 2;
  }, { concurrency: 3 });
  assert.equal(results.length, 20);
  assert.equal(results[19], 38);
  assert.ok(aheadMost <= 3, `pulled ${aheadMost} items ahead`);
});

Deno.test("map() reads an endless iterable lazily and closes it when a call fails", async () => {
  let closed = false;
  function* naturals() {
    try {
      for (let i = 0;; i++) yield i;
    } finally {
      closed = true;
    }
  }
  await assert.rejects(
    map(naturals(), (n) => {
      if (n === 5) throw new Error("five");
      return n;
    }, { concurrency: 2 }),
    /five/,
  );
  assert.equal(closed, true);
});

Deno.test("map() rejects with the first failure as it is and cancels the calls still running", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const cancelled: number[] = [];
  const boom = new Error("boom");
  const error = await map([1, 2, 3, 4], async (n) => {
    try {
      await sleep(n === 2 ? 10 : 60_000);
    } catch (error) {
      if (error instanceof CancelledError) cancelled.push(n);
      throw error;
    }
    throw boom;
  }).catch((e) => e);
  assert.equal(error, boom);
  assert.deepEqual(cancelled.sort(), [1, 3, 4]);
});

Deno.test("map() after a failure takes no more items", async () => {
  const seen: number[] = [];
  await assert.rejects(
    map([1, 2, 3, 4, 5], async (n) => {
      seen.push(n);
      await Promise.resolve();
      if (n === 1) throw new Error("first");
    }, { concurrency: 1 }),
    /first/,
  );
  assert.deepEqual(seen, [1]);
});

Deno.test("map() with keepGoing maps every item and rejects with an ExceptionGroup of all failures in item order", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const done: number[] = [];
  const error = await map([1, 2, 3, 4, 5], async (n) => {
    await sleep(100 - n * 10); // later items fail first
    if (n % 2 === 0) throw new Error(`#${n}`);
    done.push(n);
  }, { keepGoing: true, concurrency: 2 }).catch((e) => e);
  assert.ok(error instanceof ExceptionGroup, String(error));
  assert.deepEqual(error.errors.map((e) => (e as Error).message), [
    "#2",
    "#4",
  ]);
  assert.match(error.message, /2 calls failed \(items 1, 3\)/);
  assert.deepEqual(done.sort(), [1, 3, 5]);
});

Deno.test("map() with keepGoing and no failure returns every result", async () => {
  assert.deepEqual(
    await map(new Set([1, 2, 3]), (n) => n + 1, { keepGoing: true }),
    [2, 3, 4],
  );
});

Deno.test("map() cancelled from outside cancels every call and rethrows the cancellation", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  let cancelled = 0;
  await assert.rejects(
    timeout(50, () =>
      map([1, 2, 3], async () => {
        try {
          await sleep(60_000);
        } finally {
          cancelled++;
        }
      }, { keepGoing: true })),
    TimeoutError,
  );
  assert.equal(cancelled, 3);
});

Deno.test("map() aborted by its signal rejects with the signal's reason", async () => {
  using time = new FakeTime(0);
  const controller = new AbortController();
  const reason = new Error("user quit");
  const result = map([1, 2], () => sleep(60_000), {
    signal: controller.signal,
  }).catch((e) => e);
  await time.runMicrotasks();
  controller.abort(reason);
  assert.equal(await result, reason);
});

Deno.test("map() passes each call the signal of its task", async () => {
  const task = createTask(() =>
    map([1], (_n, _i, signal) =>
      new Promise((_, reject) => {
        signal.addEventListener("abort", () => reject(signal.reason));
      }))
  );
  await new Promise((resolve) => setTimeout(resolve, 0));
  task.cancel();
  await assert.rejects(task, CancelledError);
});

Deno.test("map() of a source that throws rejects with that error", async () => {
  async function* broken() {
    yield 1;
    throw new Error("source broke");
  }
  await assert.rejects(map(broken(), (n) => n), /source broke/);
});

Deno.test("map() of nothing returns an empty array", async () => {
  assert.deepEqual(await map([], () => 1), []);
});

Deno.test("map() rejects bad arguments without calling fn", async (t) => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    // @ts-expect-error: checked at run time too
    ["items 42", () => map(42, () => 1), /'items'.*got number/],
    // @ts-expect-error: checked at run time too
    ["fn missing", () => map([1]), /'fn'.*got undefined/],
    [
      "concurrency 0",
      () => map([1], () => 1, { concurrency: 0 }),
      /'concurrency'.*got 0/,
    ],
    [
      "concurrency 1.5",
      () => map([1], () => 1, { concurrency: 1.5 }),
      /'concurrency'.*got 1.5/,
    ],
  ];
  for (const [name, call, message] of cases) {
    await t.step(name, async () => {
      await assert.rejects(call(), message);
    });
  }
});

Deno.test("pooledMap() yields the results in the order of the items", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const seen: number[] = [];
  for await (
    const n of pooledMap([30, 10, 20], async (ms) => {
      await sleep(ms);
      return ms;
    }, { concurrency: 2 })
  ) seen.push(n);
  assert.deepEqual(seen, [30, 10, 20]);
});

Deno.test("pooledMap() with ordered false yields the results as they finish", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const seen: [number, number][] = [];
  for await (
    const n of pooledMap([30, 10, 20], async (ms) => {
      await sleep(ms);
      return ms;
    }, { ordered: false })
  ) seen.push([n, time.now]);
  assert.deepEqual(seen, [[10, 10], [20, 20], [30, 30]]);
});

Deno.test("pooledMap() runs at most `concurrency` calls while a slow consumer holds a result", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  let started = 0;
  let consumed = 0;
  let most = 0;
  for await (
    const _ of pooledMap(Array.from({ length: 20 }, (_, i) => i), (n) => {
      started++;
      most = Math.max(most, started - consumed);
      return n;
    }, { concurrency: 3 })
  ) {
    consumed++;
    await sleep(100); // the consumer is the bottleneck
  }
  assert.equal(consumed, 20);
  // `concurrency` calls, and the result the consumer holds.
  assert.ok(most <= 4, `${most} calls ran ahead`);
});

Deno.test("pooledMap() left with break cancels and awaits the calls still running, and closes the source", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const ended: string[] = [];
  let closed = false;
  function* items() {
    try {
      yield* [1, 2, 3, 4, 5];
    } finally {
      closed = true;
    }
  }
  for await (
    const n of pooledMap(items(), async (n) => {
      try {
        await sleep(n === 1 ? 10 : 60_000);
        return n;
      } catch (error) {
        ended.push(error instanceof CancelledError ? `${n} cancelled` : "?");
        throw error;
      }
    }, { concurrency: 3 })
  ) {
    assert.equal(n, 1);
    break;
  }
  // Cancelled and settled before the loop statement ended.
  assert.deepEqual(ended.sort(), ["2 cancelled", "3 cancelled", "4 cancelled"]);
  assert.equal(closed, true);
});

Deno.test("pooledMap() throws the first failure and cancels the rest", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  let cancelled = 0;
  const seen: number[] = [];
  await assert.rejects(async () => {
    for await (
      const n of pooledMap([1, 2, 3], async (n) => {
        try {
          await sleep(n * 10);
        } catch (error) {
          if (error instanceof CancelledError) cancelled++;
          throw error;
        }
        if (n === 2) throw new Error("two");
        return n;
      })
    ) seen.push(n);
  }, /two/);
  assert.deepEqual(seen, [1]);
  assert.equal(cancelled, 1);
});

Deno.test("pooledMap() with keepGoing yields every success, then throws an ExceptionGroup of the failures", async () => {
  const seen: number[] = [];
  const error = await (async () => {
    for await (
      const n of pooledMap([1, 2, 3, 4], (n) => {
        if (n % 2 === 0) throw new Error(`#${n}`);
        return n;
      }, { keepGoing: true, concurrency: 2 })
    ) seen.push(n);
  })().catch((e) => e);
  assert.deepEqual(seen, [1, 3]);
  assert.ok(error instanceof ExceptionGroup);
  assert.deepEqual(error.errors.map((e) => (e as Error).message), [
    "#2",
    "#4",
  ]);
});

Deno.test("pooledMap() rejects bad arguments from the first next()", async () => {
  const it = pooledMap([1], () => 1, { concurrency: -1 });
  await assert.rejects(it.next(), /'concurrency'.*got -1/);
  // @ts-expect-error: checked at run time too
  await assert.rejects(pooledMap(null, () => 1).next(), /'items'.*got null/);
});
