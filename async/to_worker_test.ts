import assert from "node:assert/strict";
import {
  CancelledError,
  gather,
  moveOnAfter,
  sleep,
  timeout,
  TimeoutError,
} from "./mod.ts";
import { toWorker, transfer } from "./to_worker.ts";

type Work = typeof import("./_worker_fixture_test.ts");
const work = new URL("./_worker_fixture_test.ts", import.meta.url);

Deno.test("toWorker: a blocking call overlaps a sleep (~1 s, not ~2 s)", async () => {
  // Intervals on the wall clock, shared by the worker: the worker's start-up
  // time (seconds on a loaded machine) is not what is measured.
  let sleptFrom = 0;
  let sleptTo = 0;
  const [[from, to]] = await gather(
    () =>
      toWorker((ms: number) => {
        const from = Date.now();
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        return [from, Date.now()];
      }, [1000]),
    async () => {
      sleptFrom = Date.now();
      await sleep(1000);
      sleptTo = Date.now();
    },
  );
  assert.ok(to - from >= 990, `blocked ${to - from} ms`);
  // The sleep ended on time while the worker blocked, and from the moment
  // the worker began, both were over in ~1 s, not ~2 s (the worker's
  // start-up, long on a loaded machine, is left out).
  assert.ok(sleptTo - sleptFrom < 1500, `slept ${sleptTo - sleptFrom} ms`);
  const span = Math.max(to, sleptTo) - from;
  assert.ok(span < 1700, `took ${span} ms from the worker's start`);
});

Deno.test("toWorker: the event loop stays responsive while a worker computes", async () => {
  let ticks = 0;
  let worstGap = 0;
  let last = performance.now();
  const id = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    await toWorker((ms: number) => {
      const end = Date.now() + ms;
      let n = 0;
      while (Date.now() < end) n++;
      return n;
    }, [1000]);
  } finally {
    clearInterval(id);
  }
  // A blocked loop would show one gap of ~1000 ms; margins for a loaded box.
  assert.ok(ticks >= 20, `only ${ticks} ticks in 1000 ms`);
  assert.ok(worstGap < 600, `the loop was blocked for ${worstGap} ms`);
});

Deno.test("toWorker: a self-contained function and its arguments", async () => {
  assert.equal(await toWorker((a: number, b: number) => a + b, [2, 3]), 5);
  assert.equal(
    await toWorker(() => {
      let s = 0;
      for (let i = 0; i < 1e6; i++) s += i * i;
      return s;
    }),
    (() => {
      let s = 0;
      for (let i = 0; i < 1e6; i++) s += i * i;
      return s;
    })(),
  );
  assert.equal(
    await toWorker(async () => await Promise.resolve("async")),
    "async",
  );
});

Deno.test("toWorker: a closure's variable fails as a ReferenceError from the worker", async () => {
  const factor = 3;
  const error = await toWorker((x: number) => x * factor, [2]).catch((e) => e);
  assert.ok(error instanceof ReferenceError);
  assert.match(error.message, /factor is not defined/);
});

Deno.test("toWorker: a module's export, typed", async () => {
  const n: number = await toWorker<Work, "fib">(work, "fib", [20]);
  assert.equal(n, 6765);
});

Deno.test("toWorker: cancellation stops the worker; a timeout raises TimeoutError", async () => {
  assert.equal(
    await moveOnAfter(50, () => toWorker<Work, "wait">(work, "wait", [60_000])),
    undefined,
  );
  await assert.rejects(
    timeout(50, () => toWorker<Work, "wait">(work, "wait", [60_000])),
    TimeoutError,
  );
  const controller = new AbortController();
  const call = toWorker<Work, "wait">(work, "wait", [60_000], {
    signal: controller.signal,
  });
  controller.abort();
  await assert.rejects(call, CancelledError);
});

Deno.test("toWorker: a spinning function in a process is killed on timeout", async () => {
  const start = performance.now();
  await assert.rejects(
    timeout(300, () =>
      toWorker(
        () => {
          while (true) {
            // never yields
          }
        },
        [],
        { isolation: "process" },
      )),
    TimeoutError,
  );
  assert.ok(performance.now() - start < 10_000);
});

Deno.test("toWorker: transfer moves buffers both ways", async () => {
  const buffer = new Uint8Array([1, 2, 3]).buffer;
  const back = await toWorker<Work, "roundTrip">(work, "roundTrip", [buffer], {
    transfer: [buffer],
  });
  assert.equal(buffer.byteLength, 0);
  assert.deepEqual([...new Uint8Array(back)], [1, 2, 3]);
  assert.equal(transfer(1, []).value, 1);
});

Deno.test("toWorker: bad input rejects", async () => {
  await assert.rejects(toWorker(42 as never), TypeError);
  await assert.rejects(toWorker((x: number) => x, 1 as never), TypeError);
});
