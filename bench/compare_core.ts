// The core's figures (issue: foundation): TaskGroup spawn+join against
// Promise.all and Python's asyncio.TaskGroup, heap per sleeping task, and the
// allocations of an await outside any cancelled scope.
import { AsyncLocalStorage } from "node:async_hooks";
import { sleep, TaskGroup } from "../async/mod.ts";
import { countAllocations } from "./_alloc.ts";
import { medianMs, ms, python, type Row } from "./_compare.ts";

const N = 100_000;
// The trivial task of the benchmark: async on purpose, with nothing inside.
// deno-lint-ignore require-await
const trivial = async (): Promise<number> => 1;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

// The platform's floor: each task needs its own async-context frame (that is
// what makes `task.cancel()` reach awaits deep inside it), and one
// AsyncLocalStorage.run per task is what a frame costs in Deno. Measured
// inside an outer run, as a group's tasks are made inside the group's scope:
// Deno copies the context it enters from, which costs twice as much there as
// from an empty one.
async function contextFloor(): Promise<number> {
  const storage = new AsyncLocalStorage<object>();
  const store = {};
  return await medianMs(() =>
    storage.run(store, () => {
      const promises = new Array(N);
      for (let i = 0; i < N; i++) promises[i] = storage.run(store, trivial);
      return Promise.all(promises);
    })
  );
}

async function spawnJoin(): Promise<[number, number]> {
  const group = await medianMs(() =>
    TaskGroup.run((tg) => {
      for (let i = 0; i < N; i++) tg.createTask(trivial);
    })
  );
  const all = await medianMs(() => {
    const promises = new Array(N);
    for (let i = 0; i < N; i++) promises[i] = trivial();
    return Promise.all(promises);
  });
  return [group, all];
}

async function pythonTaskGroup(): Promise<number> {
  const out = await python(`
import asyncio, time, statistics
async def trivial():
    return 1
async def once():
    start = time.perf_counter()
    async with asyncio.TaskGroup() as tg:
        for _ in range(${N}):
            tg.create_task(trivial())
    return (time.perf_counter() - start) * 1000
async def main():
    for _ in range(2):
        await once()
    print(statistics.median([await once() for _ in range(5)]))
asyncio.run(main())
`);
  return Number(out);
}

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
  const [group, all] = await spawnJoin();
  const floor = await contextFloor();
  const py = await pythonTaskGroup();
  const heap = await heapPerSleepingTask(() => sleep(3_600_000));
  const heapAsync = await heapPerSleepingTask(async () => {
    await sleep(3_600_000);
  });
  const [controllers, extraTimers] = await allocationsPerAwait();
  return [
    {
      name: "TaskGroup: spawn+join 100k trivial tasks vs Promise.all",
      ours: ms(group),
      anchor: `Promise.all ${ms(all)}`,
      ratio: group / all,
      goal: "<= 2.5x the time",
      met: group / all <= 2.5,
    },
    {
      name: "(context) Promise.all, one AsyncLocalStorage.run per task, nested",
      ours: ms(floor),
      anchor: `Promise.all ${ms(all)}`,
      ratio: floor / all,
      goal: "(the floor any ambient-scope design pays)",
      met: undefined,
    },
    {
      name: "TaskGroup: spawn+join 100k vs Python 3.11 asyncio.TaskGroup",
      ours: ms(group),
      anchor: `asyncio ${ms(py)}`,
      ratio: py / group,
      goal: ">= 10x faster",
      met: py / group >= 10,
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
