// asyncio.gather: run several awaitables at once and collect the results in
// order; with returnExceptions, failures come back as values.
import { gather, sleep } from "@aio/std/async";
import { stopwatch } from "./_log.ts";

/** Gathers three jobs, then three with one failure; returns what it saw. */
export async function main(): Promise<{ results: unknown[]; errors: number }> {
  const log = stopwatch("gather");
  const job = (name: string, ms: number) => async () => {
    await sleep(ms);
    log(`${name} finished`);
    return name;
  };
  const results = await gather(job("a", 60), job("b", 20), job("c", 40));
  log(`results in argument order: ${results.join(", ")}`);

  const mixed = await gather(
    job("d", 10),
    async () => {
      await sleep(5);
      throw new Error("e failed");
    },
    { returnExceptions: true },
  );
  const errors = mixed.filter((r) => r instanceof Error).length;
  log(`with returnExceptions: ${mixed.map(String).join(" | ")}`);
  return { results, errors };
}

if (import.meta.main) await main();
