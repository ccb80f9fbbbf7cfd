// The sync/ rows of `deno task bench:compare`: our Lock, Semaphore and Queue
// against their npm peers, a hand-written minimal hand-off and Python's
// asyncio.Queue, plus the heap cost of a blocked waiter.
//
// Run alone: deno run -A --v8-flags=--expose-gc bench/compare.ts sync
import { CancelScope } from "../async/cancel_scope.ts";
import { Lock } from "../sync/lock.ts";
import { ms, python, type Row } from "./_compare.ts";
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
 * Median times of several contenders, each run with size `n`, measured
 * round-robin, so that no
 * contender profits from running later (on a warmer, bigger heap) than
 * another. No forced GC between runs: it would shrink the heap and penalise
 * the contenders that allocate most, which steady-state code does not see.
 */
async function medians(
  fns: ((n: number) => Promise<unknown>)[],
  n: number,
  runs: number,
  warmup: number,
): Promise<number[]> {
  const times: number[][] = fns.map(() => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (let i = 0; i < fns.length; i++) {
      const start = performance.now();
      await fns[i](n);
      if (round >= warmup) times[i].push(performance.now() - start);
    }
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(t.length / 2)]);
}

const LOCK_OPS = 1_000_000;
const JOBS = 100_000;
const ITEMS = 1_000_000;
const WAITERS = 100_000;

const PYTHON_QUEUE = `
import asyncio, time
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
times = sorted(asyncio.run(main()) for _ in range(3))
print(times[1])
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

  const [lock, mutex] = await medians([oursLock, asyncMutex], LOCK_OPS, 9, 3);
  out.push({
    name: `Lock acquire+release, uncontended, ${LOCK_OPS / 1e6}M times`,
    ours: ms(lock),
    anchor: `async-mutex Mutex ${ms(mutex)}`,
    ratio: mutex / lock,
    goal: ">= 2x throughput",
    met: mutex / lock >= 2,
  });

  // Two groups, each measured round-robin: contenders sharing a heap sway
  // each other's collections, so each goal's contenders run together.
  const [semRun, limit, semaA, floor] = await medians(
    [oursSemaphoreRun, pLimitJobs, asyncSemaJobs, unlimitedJobs],
    JOBS,
    15,
    3,
  );
  const [sem, semUsing, semaB, floorUsing] = await medians(
    [oursSemaphore, oursSemaphoreUsing, asyncSemaJobs, unlimitedJobsUsing],
    JOBS,
    15,
    3,
  );
  out.push({
    name: `Semaphore(10).run(job), ${JOBS / 1000}k jobs, vs p-limit(10)(job)`,
    ours: ms(semRun),
    anchor: `p-limit ${ms(limit)} (no limiter: ${ms(floor)})`,
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

  const [queue, runAhead, minimal, bare, shape] = await medians(
    [oursQueue, oursQueueRunAhead, minimalQueue, bareQueue, queueFloor],
    ITEMS,
    9,
    2,
  );
  out.push({
    name: `Queue, ${ITEMS / 1e6}M items, 1 producer -> 1 consumer`,
    ours: ms(queue),
    anchor: `minimal hand-off ${ms(minimal)} (no queue: ${ms(shape)})`,
    ratio: minimal / queue,
    goal: ">= 0.5x its speed",
    met: minimal / queue >= 0.5,
  });
  const py = Number(await python(PYTHON_QUEUE));
  const pyVersion = await python(
    "import sys; print('%d.%d' % sys.version_info[:2])",
  );
  out.push({
    name: `Queue, ${ITEMS / 1e6}M items, await put + await get, vs Python`,
    ours: ms(queue),
    anchor: `Python ${pyVersion} asyncio.Queue ${ms(py)} (no queue: ${
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
    }M items, producer runs ahead (putNowait), vs Python`,
    ours: ms(runAhead),
    anchor: `Python ${pyVersion} asyncio.Queue ${ms(py)}`,
    ratio: py / runAhead,
    goal: ">= 10x throughput",
    met: py / runAhead >= 10,
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
