// Retry with exponential backoff and jitter (tenacity/backoff's pattern):
// a flaky call is tried again after growing delays until it succeeds.
import { retry } from "@aio/std/async";
import { stopwatch } from "./_log.ts";

/** Retries a call that fails twice; returns the result and the delays. */
export async function main(): Promise<{ result: string; delays: number[] }> {
  const log = stopwatch("retry with exponential backoff");
  let calls = 0;
  const delays: number[] = [];
  const result = await retry(() => {
    calls++;
    if (calls < 3) throw new Error(`attempt ${calls}: service unavailable`);
    return "ok";
  }, {
    minDelay: 20,
    jitter: "none",
    onRetry: (error, attempt, delay) => {
      delays.push(delay);
      log(`${(error as Error).message}; retry ${attempt} in ${delay} ms`);
    },
  });
  log(`succeeded on attempt ${calls}: ${result}`);
  return { result, delays };
}

if (import.meta.main) await main();
