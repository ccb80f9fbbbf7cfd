// The sync/ rows of `deno task bench:compare`: our Lock, Semaphore and Queue
// against their npm peers, a hand-written minimal hand-off and Python's
// asyncio.Queue, plus the heap cost of a blocked waiter.
//
// Run alone: deno run -A --v8-flags=--expose-gc bench/compare.ts sync
import { CancelScope } from "../async/cancel_scope.ts";
import { Lock } from "../sync/lock.ts";
import {
  measure,
  ms,
  msRange,
  python,
  pythonContender,
  type Row,
  type Stats,
} from "./_compare.ts";
import {
  asyncMutex,
  asyncSemaJobs,
  bareQueue,
  minimalQueue,
  oursLock,
  oursQueue,
  oursQueueRunAhead,
  oursSemaphore,
  oursSemaphoreRun,
  oursSemaphoreUsing,
  pLimitJobs,
  queueFloor,
  unlimitedJobs,
  unlimitedJobsUsing,
} from "./_sync_contenders.ts";

/**
 * Times of several contenders, each run with size `n`, measured fairly (see
 * `measure`: round-robin, GC before each timed run — issue 8: without it a
 * run paid for the garbage of the one before, and the cheap contenders'
 * figures swung most).
 */
async function timings(
  fns: ((n: number) => Promise<unknown>)[],
  n: number,
  runs: number,
  warmup: number,
): Promise<Stats[]> {
  return await measure(fns.map((fn) => () => fn(n)), runs, warmup);
}

/** Medians only, for the rows that give one figure. */
async function medians(
  fns: ((n: number) => Promise<unknown>)[],
  n: number,
  runs: number,
  warmup: number,
): Promise<number[]> {
  return (await timings(fns, n, runs, warmup)).map((s) => s.median);
}

const LOCK_OPS = 1_000_000;
const JOBS = 100_000;
const ITEMS = 1_000_000;
const WAITERS = 100_000;

// One timed run per process, interleaved with ours (see `measure`).
const PYTHON_QUEUE = `
import asyncio, gc, time
N = ${ITEMS}
async def main():
    q = asyncio.Queue()
    async def consumer():
        s = 0
        for _ in range(N):
            s += await q.get()
        return s
    t0 = time.perf_counter()
    c = asyncio.create_task(consumer())
    for i in range(N):
        await q.put(i)
    await c
    return (time.perf_counter() - t0) * 1000
gc.collect()
print(asyncio.run(main()))
`;

// The producer runs ahead: put_nowait into an unbounded queue, the consumer
// awaiting get() — the same schedule as our putNowait row.
const PYTHON_QUEUE_NOWAIT = `
import asyncio, gc, time
N = ${ITEMS}
async def main():
    q = asyncio.Queue()
    async def consumer():
        s = 0
        for _ in range(N):
            s += await q.get()
        return s
    gc.collect()
    t0 = time.perf_counter()
    c = asyncio.create_task(consumer())
    for i in range(N):
        q.put_nowait(i)
    await c
    return (time.perf_counter() - t0) * 1000
print(asyncio.run(main()))
`;

// --- Heap cost of a blocked waiter --------------------------------------------

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    throw new Error(
      "Cannot measure memory: run with --v8-flags=--expose-gc, got no gc()",
    );
  }
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
}

/** Bytes per item kept alive by `make`, over `WAITERS` items. */
function bytesEach(make: () => unknown): number {
  const keep: unknown[] = new Array(WAITERS);
  const before = heapAfterGc();
  for (let i = 0; i < WAITERS; i++) keep[i] = make();
  const after = heapAfterGc();
  keep.length = 0;
  return (after - before) / WAITERS;
}

/** Bytes per blocked `acquire()` on a held Lock, its promise included. */
function lockWaiterBytes(): number {
  const lock = new Lock();
  lock.acquire(); // taken at once
  const bytes = bytesEach(() => lock.acquire());
  for (let i = 0; i <= WAITERS; i++) lock.release(); // hand it down the line
  return bytes;
}

function median(runs: number, measure: () => number): number {
  const values = Array.from({ length: runs }, measure).sort((a, b) => a - b);
  return values[Math.floor(runs / 2)];
}

/** Heap per blocked waiter beyond a bare pending promise. */
async function waiterBytes(inScope: boolean): Promise<number> {
  const measure = () =>
    median(5, lockWaiterBytes) -
    median(5, () => bytesEach(() => new Promise(() => {})));
  if (!inScope) return measure();
  return (await new CancelScope().run(measure))!;
}

export async function rows(): Promise<Row[]> {
  const out: Row[] = [];

  const [lockStats, mutexStats] = await timings(
    [oursLock, asyncMutex],
    LOCK_OPS,
    9,
    3,
  );
  const lock = lockStats.median;
  const mutex = mutexStats.median;
  out.push({
    name: `Lock acquire+release, uncontended, ${LOCK_OPS / 1e6}M times`,
    ours: msRange(lockStats),
    anchor: `async-mutex Mutex ${msRange(mutexStats)}`,
    ratio: mutex / lock,
    goal: ">= 2x throughput",
    met: mutex / lock >= 2,
  });

  // Two groups, each measured round-robin: contenders sharing a heap sway
  // each other's collections, so each goal's contenders run together.
  const [semRunStats, limitStats, semaAStats, floorStats] = await timings(
    [oursSemaphoreRun, pLimitJobs, asyncSemaJobs, unlimitedJobs],
    JOBS,
    15,
    3,
  );
  const [semRun, limit, semaA, floor] = [
    semRunStats,
    limitStats,
    semaAStats,
    floorStats,
  ].map((stats) => stats.median);
  const [sem, semUsing, semaB, floorUsing] = await medians(
    [oursSemaphore, oursSemaphoreUsing, asyncSemaJobs, unlimitedJobsUsing],
    JOBS,
    15,
    3,
  );
  out.push({
    name: `Semaphore(10).run(job), ${JOBS / 1000}k jobs, vs p-limit(10)(job)`,
    ours: msRange(semRunStats),
    anchor: `p-limit ${msRange(limitStats)} (no limiter: ${ms(floor)})`,
    ratio: limit / semRun,
    goal: ">= 1.5x throughput",
    met: limit / semRun >= 1.5,
  });
  out.push({
    name: `Semaphore(10).run(job), ${JOBS / 1000}k jobs, vs async-sema`,
    ours: ms(semRun),
    anchor: `async-sema acquire+release ${ms(semaA)}`,
    ratio: semaA / semRun,
    goal: "> 1x throughput",
    met: semaA / semRun > 1,
  });
  out.push({
    name: `Semaphore(10) acquire() + try/finally per job, vs async-sema`,
    ours: ms(sem),
    anchor: `async-sema, the same code ${ms(semaB)}`,
    ratio: semaB / sem,
    goal: "> 1x throughput",
    met: semaB / sem > 1,
  });
  out.push({
    name: `(context) the same with \`using\` instead of try/finally`,
    ours: ms(semUsing),
    anchor: `async-sema ${ms(semaB)} (no limiter, with using: ${
      ms(floorUsing)
    })`,
    ratio: semaB / semUsing,
    goal: "(V8's `using` costs more than try/finally)",
    met: undefined,
  });

  const pythonQueue = pythonContender(PYTHON_QUEUE);
  const pythonNowait = pythonContender(PYTHON_QUEUE_NOWAIT);
  const [
    queueStats,
    runAheadStats,
    minimalStats,
    bareStats,
    shapeStats,
    pyStats,
    pyNowaitStats,
  ] = await timings(
    [
      oursQueue,
      oursQueueRunAhead,
      minimalQueue,
      bareQueue,
      queueFloor,
      () => pythonQueue(),
      () => pythonNowait(),
    ],
    ITEMS,
    9,
    2,
  );
  const queue = queueStats.median;
  const runAhead = runAheadStats.median;
  const minimal = minimalStats.median;
  const bare = bareStats.median;
  const shape = shapeStats.median;
  const py = pyStats.median;
  const pyNowait = pyNowaitStats.median;
  out.push({
    name: `Queue, ${ITEMS / 1e6}M items, 1 producer -> 1 consumer`,
    ours: msRange(queueStats),
    anchor: `minimal hand-off ${ms(minimal)} (no queue: ${ms(shape)})`,
    ratio: minimal / queue,
    goal: ">= 0.5x its speed",
    met: minimal / queue >= 0.5,
  });
  const pyVersion = await python(
    "import sys; print('%d.%d' % sys.version_info[:2])",
  );
  out.push({
    name: `Queue, ${ITEMS / 1e6}M items, await put + await get, vs Python`,
    ours: ms(queue),
    anchor: `Python ${pyVersion} asyncio.Queue ${msRange(pyStats)} (no queue: ${
      (py / shape).toFixed(1)
    }x)`,
    ratio: py / queue,
    goal: ">= 10x throughput",
    met: py / queue >= 10,
  });
  out.push({
    name: `(context) a bare ring-buffer queue, no checks, the same code`,
    ours: ms(bare),
    anchor: `Python ${pyVersion} asyncio.Queue ${ms(py)}`,
    ratio: py / bare,
    goal: "(a queue with no checks: near the ceiling)",
    met: undefined,
  });
  out.push({
    name: `Queue, ${
      ITEMS / 1e6
    }M items, putNowait runs ahead, vs Python's put_nowait`,
    ours: msRange(runAheadStats),
    anchor: `Python ${pyVersion} put_nowait + await get ${
      msRange(pyNowaitStats)
    }`,
    ratio: pyNowait / runAhead,
    goal: ">= 10x throughput",
    met: pyNowait / runAhead >= 10,
  });
  out.push({
    name: `(context) putNowait running ahead vs Python's await put`,
    ours: ms(runAhead),
    anchor: `Python ${pyVersion} await put + await get ${ms(py)}`,
    ratio: py / runAhead,
    goal: "(different schedules: not a like-for-like goal)",
    met: undefined,
  });

  for (const inScope of [false, true]) {
    const bytes = await waiterBytes(inScope);
    out.push({
      name: `Heap per blocked Lock waiter beyond its promise (${
        inScope ? "in a scope" : "no scope"
      })`,
      ours: `${bytes.toFixed(0)} B`,
      anchor: `${WAITERS / 1000}k bare pending promises`,
      ratio: bytes / 200,
      goal: "<= 200 B (ratio = ours/200)",
      met: bytes <= 200,
    });
  }
  return out;
}
