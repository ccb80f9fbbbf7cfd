import assert from "node:assert/strict";
import { FakeTime, mockAsync } from "../testing/mod.ts";
import { CancelledError } from "./cancel_scope.ts";
import { retry, type RetryContext, RetryError } from "./retry.ts";
import { sleep } from "./sleep.ts";
import { createTask } from "./task.ts";
import { TaskGroup } from "./task_group.ts";
import { timeout, TimeoutError } from "./timeout.ts";

/** A seeded PRNG (mulberry32), so jitter is reproducible. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function failing(message = "down"): () => Promise<never> {
  return () => Promise.reject(new Error(message));
}

Deno.test("retry() returns the first success without waiting", async () => {
  using time = new FakeTime(0);
  const fn = mockAsync().resolves("ok");
  assert.equal(await retry(fn), "ok");
  assert.equal(fn.callCount, 1);
  assert.equal(time.now, 0);
  assert.equal(time.pending, 0);
});

Deno.test("retry() passes the attempt number, from 1", async () => {
  using _time = new FakeTime({ autoAdvance: true });
  const fn = mockAsync<[number], string>().resolvesNext([
    new Error("1"),
    new Error("2"),
    "third",
  ]);
  await retry(fn, { minDelay: 10 });
  assert.deepEqual(fn.calls.map((call) => call.args), [[1], [2], [3]]);
});

Deno.test("retry() with jitter none follows the exact capped exponential schedule", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync(failing());
  const delays: number[] = [];
  await assert.rejects(
    retry(fn, {
      attempts: 6,
      minDelay: 2000,
      maxDelay: 30_000,
      jitter: "none",
      onRetry: (_error, _attempt, delay) => {
        delays.push(delay);
      },
    }),
    RetryError,
  );
  assert.deepEqual(delays, [2000, 4000, 8000, 16_000, 30_000]);
  assert.deepEqual(
    fn.calls.map((call) => call.start),
    [0, 2000, 6000, 14_000, 30_000, 60_000],
  );
});

Deno.test("retry() does not wait after the last attempt", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync(failing());
  await assert.rejects(
    retry(fn, { attempts: 3, minDelay: 1000, jitter: "none" }),
    RetryError,
  );
  assert.equal(time.now, 1000 + 2000);
  assert.equal(fn.calls.at(-1)!.end, 3000);
});

Deno.test("retry() with full jitter waits a seeded random share of each backoff", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync(failing());
  const delays: number[] = [];
  await assert.rejects(
    retry(fn, {
      attempts: 6,
      minDelay: 2000,
      maxDelay: 30_000,
      random: seeded(42),
      onRetry: (_error, _attempt, delay) => {
        delays.push(delay);
      },
    }),
    RetryError,
  );
  const caps = [2000, 4000, 8000, 16_000, 30_000];
  const expected = seeded(42);
  assert.deepEqual(delays, caps.map((cap) => expected() * cap));
  const starts = fn.calls.map((call) => call.start);
  for (let i = 0; i < caps.length; i++) {
    assert.ok(delays[i] >= 0 && delays[i] < caps[i], `delay ${i}`);
    const waited = starts[i + 1] - starts[i];
    // Call starts are `Date.now()`, whole virtual milliseconds.
    assert.ok(
      waited >= Math.floor(delays[i]) && waited <= Math.ceil(delays[i]),
      `waited ${waited} for a delay of ${delays[i]}`,
    );
  }
});

Deno.test("retry() drives a mock that fails twice, then resolves", async () => {
  using _time = new FakeTime({ autoAdvance: true });
  const fn = mockAsync<[number], string>().resolvesNext([
    new Error("flaky"),
    new Error("flaky"),
    "ok",
  ]);
  assert.equal(await retry(fn, { minDelay: 5000 }), "ok");
  assert.equal(fn.callCount, 3);
  assert.deepEqual(fn.calls.map((call) => call.status), [
    "rejected",
    "rejected",
    "resolved",
  ]);
  fn.assertAwaited();
});

Deno.test("retry() throws a RetryError with every attempt's error and the last as cause", async () => {
  using _time = new FakeTime({ autoAdvance: true });
  let n = 0;
  const error = await retry(() => {
    throw new Error(`failure ${++n}`);
  }, { attempts: 3 }).catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.deepEqual(
    error.errors.map((e) => (e as Error).message),
    ["failure 1", "failure 2", "failure 3"],
  );
  assert.equal(error.cause, error.errors[2]);
  assert.match(error.message, /all 3 attempts failed.*failure 3/);
});

Deno.test("retry() stops at once when retryIf says the error will not heal", async () => {
  using time = new FakeTime(0);
  const fatal = new TypeError("bad request");
  const fn = mockAsync().rejects(fatal);
  const retryIf = mockAsync<[unknown, number, RetryContext], boolean>()
    .resolves(false);
  await assert.rejects(retry(fn, { retryIf }), (e) => e === fatal);
  assert.equal(fn.callCount, 1);
  retryIf.assertCalledWith(fatal, 1, {
    attempt: 1,
    retriesLeft: 4,
    elapsed: 0,
  });
  assert.equal(time.now, 0);
});

Deno.test("retry() throws a non-retryable error as it is, also from the last attempt", async () => {
  const fatal = new TypeError("bad request");
  const fn = mockAsync().rejects(fatal);
  await assert.rejects(
    retry(fn, { attempts: 1, retryIf: () => false }),
    (e) => e === fatal,
  );
});

Deno.test("retry() cancels an attempt that exceeds attemptTimeout and retries", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const seen: unknown[] = [];
  const fn = mockAsync<[number], string>(async (attempt) => {
    if (attempt === 1) {
      try {
        await sleep(60_000);
      } catch (error) {
        seen.push(error);
        throw error;
      }
    }
    return "second time lucky";
  });
  const retried: unknown[] = [];
  const result = await retry(fn, {
    attemptTimeout: 1000,
    minDelay: 500,
    jitter: "none",
    onRetry: (error) => {
      retried.push(error);
    },
  });
  assert.equal(result, "second time lucky");
  assert.ok(seen[0] instanceof CancelledError);
  assert.equal(retried.length, 1);
  assert.ok(retried[0] instanceof TimeoutError);
  assert.equal(fn.calls[0].end, 1000);
  assert.equal(fn.calls[1].start, 1500);
});

Deno.test("retry() waits the delay retryAfter dictates, or the backoff when it returns undefined", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync<[number], string>().resolvesNext([
    new Error("429"),
    new Error("503"),
    "ok",
  ]);
  await retry(fn, {
    minDelay: 1000,
    jitter: "none",
    retryAfter: (error) =>
      (error as Error).message === "429" ? 7000 : undefined,
  });
  assert.deepEqual(fn.calls.map((call) => call.start), [0, 7000, 9000]);
});

Deno.test("retry() aborted by its signal during a delay stops without retrying", async () => {
  using time = new FakeTime(0);
  const controller = new AbortController();
  const fn = mockAsync(failing());
  const result = assert.rejects(
    retry(fn, { minDelay: 1000, jitter: "none", signal: controller.signal }),
    CancelledError,
  );
  await fn.called(1);
  await time.tickAsync(500);
  controller.abort();
  await result;
  assert.equal(fn.callCount, 1);
});

Deno.test("retry() aborted with a reason of the caller's own rejects with it", async () => {
  using time = new FakeTime(0);
  const controller = new AbortController();
  const reason = new Error("user quit");
  const fn = mockAsync(() => sleep(10_000));
  const result = assert.rejects(
    retry(fn, { signal: controller.signal }),
    (e) => e === reason,
  );
  await fn.called(1);
  controller.abort(reason);
  await result;
  assert.equal(fn.callCount, 1);
  assert.equal(time.now, 0);
});

Deno.test("retry() with an already aborted signal never calls fn", async () => {
  const fn = mockAsync();
  await assert.rejects(
    retry(fn, { signal: AbortSignal.abort() }),
    CancelledError,
  );
  assert.equal(fn.callCount, 0);
});

Deno.test("retry() never retries the cancellation of its task during an attempt", async () => {
  using time = new FakeTime(0);
  const fn = mockAsync(() => sleep(10_000));
  const task = createTask(() => retry(fn, { minDelay: 1 }));
  await fn.called(1);
  task.cancel();
  await assert.rejects(task, CancelledError);
  await time.runAllAsync();
  assert.equal(fn.callCount, 1);
});

Deno.test("retry() inside an expiring timeout stops with TimeoutError, not RetryError", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync(failing());
  await assert.rejects(
    timeout(
      2500,
      () => retry(fn, { attempts: 10, minDelay: 1000, jitter: "none" }),
    ),
    TimeoutError,
  );
  // Attempts at 0 and 1000; the wait until 3000 is cut short at 2500.
  assert.equal(fn.callCount, 2);
  assert.equal(Date.now(), 2500);
});

Deno.test("retry() runs in the background of a TaskGroup while the test waits for the third call", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync<[number], string>().resolvesNext([
    new Error("a"),
    new Error("b"),
    "ok",
  ]);
  const result = await TaskGroup.run(async (tg) => {
    const task = tg.createTask(() =>
      retry(fn, { minDelay: 1000, jitter: "none" })
    );
    const third = await fn.called(3);
    assert.deepEqual(third.args, [3]);
    assert.equal(third.start, 3000);
    return await task;
  });
  assert.equal(result, "ok");
});

Deno.test("retry() rejects bad options with a RangeError naming the value", async (t) => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["attempts 0", { attempts: 0 }, /'attempts'.*got 0/],
    ["attempts 1.5", { attempts: 1.5 }, /'attempts'.*got 1.5/],
    ["minDelay -1", { minDelay: -1 }, /'minDelay'.*got -1/],
    [
      "maxDelay below minDelay",
      { minDelay: 10, maxDelay: 5 },
      /'maxDelay'.*got 5/,
    ],
    ["multiplier 0.5", { multiplier: 0.5 }, /'multiplier'.*got 0.5/],
    ["jitter 'half'", { jitter: "half" }, /'jitter'.*got half/],
    ["attemptTimeout 0", { attemptTimeout: 0 }, /'attemptTimeout'.*got 0/],
    ["maxElapsed -1", { maxElapsed: -1 }, /'maxElapsed'.*got -1/],
  ];
  for (const [name, options, message] of cases) {
    await t.step(name, async () => {
      const fn = mockAsync();
      await assert.rejects(retry(fn, options), (error) => {
        assert.ok(error instanceof RangeError);
        assert.match(error.message, /^Cannot retry: /);
        assert.match(error.message, message);
        return true;
      });
      assert.equal(fn.callCount, 0);
    });
  }
});

Deno.test("retry() rejects a retryAfter result that is not a delay", async () => {
  const fn = mockAsync(failing());
  await assert.rejects(
    retry(fn, { retryAfter: () => -5 }),
    /'retryAfter'.*got -5/,
  );
  assert.equal(fn.callCount, 1);
});

Deno.test("retry() with minDelay 0 runs 2000 attempts without a NaN delay", async () => {
  const fn = mockAsync(failing());
  const error = await retry(fn, { attempts: 2000, minDelay: 0 }).catch((e) =>
    e
  );
  assert.ok(error instanceof RetryError, String(error));
  assert.equal(fn.callCount, 2000);
  assert.equal(error.attempts, 2000);
});

Deno.test("retry() keeps only the last 100 attempts' errors", async () => {
  let n = 0;
  const error = await retry(() => {
    throw new Error(`#${++n}`);
  }, { attempts: 150, minDelay: 0 }).catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 150);
  assert.equal(error.errors.length, 100);
  assert.equal((error.errors[0] as Error).message, "#51");
  assert.equal((error.cause as Error).message, "#150");
});

Deno.test("retry() aborted during an attempt rejects with the signal's reason, not the attempt's error", async () => {
  using _time = new FakeTime(0);
  const controller = new AbortController();
  const reason = new Error("user quit");
  const fn = mockAsync(async () => {
    try {
      await sleep(10_000);
    } catch {
      throw new Error("the attempt's own error");
    }
  });
  const result = retry(fn, { signal: controller.signal }).catch((e) => e);
  await fn.called(1);
  controller.abort(reason);
  assert.equal(await result, reason);
  assert.equal(fn.callCount, 1);
});

Deno.test("retry() of a function that throws Object.create(null) keeps that error", async () => {
  const thrown = Object.create(null);
  const error = await retry(() => {
    throw thrown;
  }, { attempts: 2, minDelay: 0 }).catch((e) => e);
  assert.ok(error instanceof RetryError, String(error));
  assert.equal(error.cause, thrown);
  assert.match(error.message, /\[object Object\]/);
});

Deno.test("retry() with maxElapsed gives up before a wait that would end past the budget", async () => {
  using time = new FakeTime({ start: 0, autoAdvance: true });
  const fn = mockAsync(failing());
  const error = await retry(fn, {
    attempts: Infinity,
    minDelay: 1000,
    jitter: "none",
    maxElapsed: 2500,
  }).catch((e) => e);
  // Attempts at 0 and 1000; the next wait would end at 3000 > 2500.
  assert.ok(error instanceof RetryError, String(error));
  assert.match(error.message, /time budget of 2500 ms/);
  assert.equal(error.attempts, 2);
  assert.deepEqual(fn.calls.map((call) => call.start), [0, 1000]);
  assert.equal(time.now, 1000);
});

Deno.test("retry() with attempts Infinity and maxElapsed stops with a bounded list of errors", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const error = await retry(() => {
    throw new Error("down");
  }, {
    attempts: Infinity,
    minDelay: 1,
    multiplier: 1,
    jitter: "none",
    maxElapsed: 300,
  }).catch((e) => e);
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 301);
  assert.equal(error.errors.length, 100);
});

Deno.test("retry() passes the attempt context to retryIf, retryAfter and onRetry", async () => {
  using _time = new FakeTime({ start: 0, autoAdvance: true });
  const seen: [string, RetryContext][] = [];
  await assert.rejects(
    retry(failing(), {
      attempts: 3,
      minDelay: 1000,
      jitter: "none",
      retryIf: (_error, _attempt, context) => {
        seen.push(["retryIf", context]);
        return true;
      },
      retryAfter: (_error, _attempt, context) => {
        seen.push(["retryAfter", context]);
        return undefined;
      },
      onRetry: (_error, _attempt, _delay, context) => {
        seen.push(["onRetry", context]);
      },
    }),
    RetryError,
  );
  const first = { attempt: 1, retriesLeft: 2, elapsed: 0 };
  const second = { attempt: 2, retriesLeft: 1, elapsed: 1000 };
  const third = { attempt: 3, retriesLeft: 0, elapsed: 3000 };
  assert.deepEqual(seen, [
    ["retryIf", first],
    ["retryAfter", first],
    ["onRetry", first],
    ["retryIf", second],
    ["retryAfter", second],
    ["onRetry", second],
    ["retryIf", third],
  ]);
});
