// asyncio.Semaphore: at most N at once — here, 3 "downloads" out of 10.
import { gather, sleep } from "@aio/std/async";
import { Semaphore } from "@aio/std/sync";
import { stopwatch } from "./_log.ts";

/** Runs 10 jobs with at most 3 in flight; returns the peak concurrency. */
export async function main(): Promise<{ peak: number; done: number }> {
  const log = stopwatch("Semaphore: at most 3 at once");
  const semaphore = new Semaphore(3);
  let inFlight = 0;
  let peak = 0;
  const jobs = Array.from({ length: 10 }, (_, i) => async () => {
    using _permit = await semaphore.acquire();
    inFlight++;
    peak = Math.max(peak, inFlight);
    await sleep(30);
    inFlight--;
    return i;
  });
  const results = await gather(...jobs);
  log(`10 jobs done, at most ${peak} at once`);
  return { peak, done: results.length };
}

if (import.meta.main) await main();
