// The core's figures (issues: foundation, 8): TaskGroup spawn+join against
// the platform's floor (one nested AsyncLocalStorage.run per task) and
// Python's asyncio.TaskGroup, Promise.all for context, heap per sleeping
// task, and the allocations of an await outside any cancelled scope. The
// three JavaScript contenders are timed round-robin with a GC before each
// run (see `measure`): timed one after another, Promise.all's few
// milliseconds absorbed the previous run's garbage and the ratios swung 5x.
import { AsyncLocalStorage } from "node:async_hooks";
import { sleep, TaskGroup } from "../async/mod.ts";
import { countAllocations } from "./_alloc.ts";
import { gc, measure, msRange, pythonContender, type Row } from "./_compare.ts";

const N = 100_000;
// The trivial task of the benchmark: async on purpose, with nothing inside.
// deno-lint-ignore require-await
const trivial = async (): Promise<number> => 1;

// The platform's floor: each task needs its own async-context frame (that is
// what makes `task.cancel()` reach awaits deep inside it), and one
// AsyncLocalStorage.run per task is what a frame costs in Deno. Measured
// inside an outer run, as a group's tasks are made inside the group's scope:
// Deno copies the context it enters from, which costs twice as much there as
// from an empty one.
const storage = new AsyncLocalStorage<object>();
const store = {};

function contextFloor(): Promise<number[]> {
  return storage.run(store, () => {
    const promises = new Array(N);
    for (let i = 0; i < N; i++) promises[i] = storage.run(store, trivial);
    return Promise.all(promises);
  });
}

// The same floor with the start deferred as a task's is (asyncio's
// call_soon): one reaction per task queued where it is made, which is what
// carries the creator's AsyncLocalStorage values to the later start.
const settled = Promise.resolve();
const enter = () => storage.run(store, trivial);

function deferredFloor(): Promise<number[]> {
  return storage.run(store, () => {
    const promises = new Array(N);
    for (let i = 0; i < N; i++) promises[i] = settled.then(enter);
    return Promise.all(promises);
  });
}

function spawnJoin(): Promise<unknown> {
  return TaskGroup.run((tg) => {
    for (let i = 0; i < N; i++) tg.createTask(trivial);
  });
}

function promiseAll(): Promise<number[]> {
  const promises = new Array(N);
  for (let i = 0; i < N; i++) promises[i] = trivial();
  return Promise.all(promises);
}

// One warm-up and one timed group per process, so that the Python runs can
// be interleaved with the JavaScript ones (see `measure`).
const PYTHON_TASK_GROUP = `
import asyncio, gc, time
async def trivial():
    return 1
async def once():
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(${N}):
            tg.create_task(trivial())
    return (time.perf_counter() - start) * 1000
async def main():
    await once()
    gc.collect()
    print(await once())
asyncio.run(main())
`;

async function heapPerSleepingTask(
  task: () => Promise<void>,
): Promise<number> {
  gc();
  const before = Deno.memoryUsage().heapUsed;
  let perTask = 0;
  await TaskGroup.run(async (tg) => {
    for (let i = 0; i < N; i++) tg.createTask(task);
    await sleep(1); // every task has started and is asleep
    gc();
    perTask = (Deno.memoryUsage().heapUsed - before) / N;
    tg.cancel();
  });
  return perTask;
}

/** AbortControllers and extra host timers of 6,000 awaits in live scopes. */
async function allocationsPerAwait(): Promise<[number, number]> {
  const { controllers, hostTimers } = await countAllocations(5_000, 1_000);
  // One host timer is the timeout's own deadline; 1,000 are the sleeps'.
  return [controllers, hostTimers - 1 - 1_000];
}

export async function rows(): Promise<Row[]> {
  const [groupStats, floorStats, deferredStats, allStats, pyStats] =
    await measure(
      [
        spawnJoin,
        contextFloor,
        deferredFloor,
        promiseAll,
        pythonContender(PYTHON_TASK_GROUP),
      ],
      11,
      2,
    );
  const group = groupStats.median;
  const floor = floorStats.median;
  const all = allStats.median;
  const py = pyStats.median;
  const heap = await heapPerSleepingTask(() => sleep(3_600_000));
  const heapAsync = await heapPerSleepingTask(async () => {
    await sleep(3_600_000);
  });
  const [controllers, extraTimers] = await allocationsPerAwait();
  return [
    {
      name: "TaskGroup: spawn+join 100k vs nested AsyncLocalStorage floor",
      ours: msRange(groupStats),
      anchor: `one ALS.run per task ${msRange(floorStats)}`,
      ratio: group / floor,
      goal: "<= 1.25x the time",
      met: group / floor <= 1.25,
    },
    {
      name: "TaskGroup: spawn+join 100k vs Python 3.11 asyncio.TaskGroup",
      ours: msRange(groupStats),
      anchor: `asyncio ${msRange(pyStats)}`,
      ratio: py / group,
      goal: ">= 5x faster",
      met: py / group >= 5,
    },
    {
      name: "(context) TaskGroup: spawn+join 100k vs Promise.all",
      ours: msRange(groupStats),
      anchor: `Promise.all ${msRange(allStats)}`,
      ratio: group / all,
      goal: "(no scopes, no context: not a yardstick)",
      met: undefined,
    },
    {
      name: "(context) TaskGroup: spawn+join 100k vs the floor, start deferred",
      ours: msRange(groupStats),
      anchor: `ALS.run on a later microtask ${msRange(deferredStats)}`,
      ratio: group / deferredStats.median,
      goal: "(a task starts later, in its creator's context)",
      met: undefined,
    },
    {
      name: "(context) the floor: one nested ALS.run per task vs Promise.all",
      ours: msRange(floorStats),
      anchor: `Promise.all ${msRange(allStats)}`,
      ratio: floor / all,
      goal: "(the floor any ambient-scope design pays)",
      met: undefined,
    },
    {
      name: "TaskGroup: heap per sleeping task, () => sleep(ms) (100k at once)",
      ours: `${heap.toFixed(0)} B`,
      anchor: "1024 B budget",
      ratio: heap / 1024,
      goal: "<= 1.0x the budget",
      met: heap <= 1024,
    },
    {
      name:
        "TaskGroup: heap per sleeping task, async () => { await sleep(ms) }",
      ours: `${heapAsync.toFixed(0)} B`,
      anchor: "1024 B budget",
      ratio: heapAsync / 1024,
      goal: "<= 1.0x the budget",
      met: heapAsync <= 1024,
    },
    {
      name: "sleep/checkpoint in live scopes: AbortSignals and extra timers",
      ours: `${controllers} signals, ${extraTimers} extra timers / 6k awaits`,
      anchor: "0 and 0",
      ratio: controllers + extraTimers,
      goal: "0 allocations",
      met: controllers === 0 && extraTimers === 0,
    },
  ];
}
