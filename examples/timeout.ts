// asyncio.timeout and Trio's move_on_after: give work a time limit; the
// awaits inside are cancelled, and a TimeoutError (or undefined) comes out.
import { moveOnAfter, sleep, timeout, TimeoutError } from "@aio/std/async";
import { stopwatch } from "./_log.ts";

/** Runs slow work under a limit twice; returns the outcomes. */
export async function main(): Promise<{ timedOut: boolean; movedOn: unknown }> {
  const log = stopwatch("timeout");
  let timedOut = false;
  try {
    await timeout(100, async () => {
      log("slow query starts (needs 10 s)");
      await sleep(10_000);
    });
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    timedOut = true;
    log("TimeoutError after the 100 ms limit");
  }
  const movedOn = await moveOnAfter(50, async () => {
    await sleep(10_000);
    return "never";
  });
  log(`moveOnAfter gave ${movedOn}`);
  return { timedOut, movedOn };
}

if (import.meta.main) await main();
