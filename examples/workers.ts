// asyncio.to_thread and run_in_executor(ProcessPoolExecutor): blocking and
// CPU-bound work off the event loop, in Web Workers or deno processes.
import { gather, moveOnAfter, sleep } from "@aio/std/async";
import { toWorker } from "@aio/std/async/to-worker";
import { WorkerPool } from "@aio/std/async/worker-pool";
import { stopwatch } from "./_log.ts";

type Work = typeof import("./_work.ts");
const work = new URL("./_work.ts", import.meta.url);

/**
 * The seed's two examples, then a pool: a blocking call next to a sleep
 * (they overlap), `cpu_intensive` on a pool while a timer keeps ticking,
 * and a stuck task cancelled by killing its process.
 */
export async function main(): Promise<{
  overlap: number;
  sum: number;
  ticks: number;
  fibs: number[];
  stopped: boolean;
}> {
  const log = stopwatch("Workers: to_thread and run_in_executor");

  // await asyncio.gather(asyncio.to_thread(blocking_io), asyncio.sleep(1))
  let sleptFrom = 0;
  let sleptTo = 0;
  const [blocked] = await gather(
    () => toWorker<Work, "blockingIO">(work, "blockingIO", [1000]),
    async () => {
      sleptFrom = Date.now();
      await sleep(1000);
      sleptTo = Date.now();
    },
  );
  const overlap = Math.min(blocked.to, sleptTo) -
    Math.max(blocked.from, sleptFrom);
  log(`toWorker(blockingIO) and sleep(1000) overlapped by ${overlap} ms`);

  // loop.run_in_executor(pool, cpu_intensive) while the loop stays free
  await using pool = new WorkerPool<Work>(work, { size: 2 });
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const sum = await pool.run("cpuIntensive", [10_000_000]);
  clearInterval(timer);
  log(
    `cpuIntensive(10_000_000) = ${sum}; the timer ticked ${ticks} times meanwhile`,
  );

  const fibs: number[] = [];
  for await (const n of pool.map("fib", [20, 21, 22, 23])) fibs.push(n);
  log(`pool.map(fib) = ${fibs.join(", ")}`);

  // A task that never yields: a process worker is killed on timeout.
  await using processes = new WorkerPool<Work>(work, {
    size: 1,
    isolation: "process",
  });
  const stopped = await moveOnAfter(300, () => processes.run("spin", [])) ===
    undefined;
  log(
    `a spinning task in a process, cancelled after 300 ms: stopped=${stopped}`,
  );
  return { overlap, sum, ticks, fibs, stopped };
}

if (import.meta.main) await main();
