// asyncio's first lesson: awaiting one by one adds the waits up; running the
// same work as tasks overlaps them.
import { sleep, TaskGroup } from "@aio/std/async";
import { stopwatch } from "./_log.ts";

// How many fetches are in flight now, and the most there were at once.
let inFlight = 0;
let peak = 0;

async function fetchUser(id: number): Promise<string> {
  peak = Math.max(peak, ++inFlight);
  try {
    await sleep(100); // stands for a network call
  } finally {
    inFlight--;
  }
  return `user-${id}`;
}

/**
 * Fetches three users one by one, then concurrently; returns both times, and
 * how many fetches overlapped in each run (what the times show, without a
 * clock).
 */
export async function main(): Promise<
  {
    sequential: number;
    concurrent: number;
    sequentialPeak: number;
    concurrentPeak: number;
  }
> {
  const log = stopwatch("sequential vs concurrent");
  peak = 0;
  let start = performance.now();
  for (const id of [1, 2, 3]) log(`sequential: got ${await fetchUser(id)}`);
  const sequential = performance.now() - start;
  const sequentialPeak = peak;
  log(`sequential took ${sequential.toFixed(0)} ms`);

  peak = 0;
  start = performance.now();
  const users = await TaskGroup.run((tg) => {
    const tasks = [1, 2, 3].map((id) => tg.createTask(() => fetchUser(id)));
    return Promise.all(tasks);
  });
  const concurrent = performance.now() - start;
  log(`concurrent: got ${users?.join(", ")} in ${concurrent.toFixed(0)} ms`);
  return { sequential, concurrent, sequentialPeak, concurrentPeak: peak };
}

if (import.meta.main) await main();
