// Testing on a fake clock: a retry schedule that spans 30 virtual seconds
// runs in milliseconds, with the exact delays checkable.
import { retry, RetryError } from "@aio/std/async";
import { FakeTime, mockAsync } from "@aio/std/testing";
import { stopwatch } from "./_log.ts";

/** Runs a 6-attempt backoff under FakeTime; returns virtual and real time. */
export async function main(): Promise<
  { virtualMs: number; realMs: number; calls: number }
> {
  const log = stopwatch("FakeTime: 30 virtual seconds of backoff");
  const realStart = performance.now();
  let virtualMs: number;
  const flaky = mockAsync<[number], string>().rejects(new Error("down"));
  {
    using time = new FakeTime({ start: 0, autoAdvance: true });
    try {
      await retry(flaky, { attempts: 6, minDelay: 1000, jitter: "none" });
    } catch (error) {
      if (!(error instanceof RetryError)) throw error;
    }
    virtualMs = time.now;
  }
  const realMs = performance.now() - realStart;
  log(
    `${flaky.calls.length} attempts over ${virtualMs} virtual ms, in ${
      realMs.toFixed(0)
    } real ms`,
  );
  return { virtualMs, realMs, calls: flaky.calls.length };
}

if (import.meta.main) await main();
