// Cancelling a task: its awaits reject with CancelledError, its `finally`
// runs, and shield() lets cleanup finish even though the task is cancelled.
import { CancelledError, createTask, shield, sleep } from "@aio/std/async";
import { stopwatch } from "./_log.ts";

/** Cancels a worker mid-sleep; returns what its cleanup managed to do. */
export async function main(): Promise<
  { cancelled: boolean; flushed: boolean }
> {
  const log = stopwatch("cancelling a task, with shielded cleanup");
  let flushed = false;
  const worker = createTask(async () => {
    try {
      log("worker: processing");
      await sleep(10_000);
    } finally {
      // Without the shield this sleep would reject at once.
      await shield(async () => {
        await sleep(30);
        flushed = true;
        log("worker: flushed its buffer in a shielded cleanup");
      });
    }
  }, { name: "worker" });
  await sleep(50);
  log("main: worker.cancel()");
  worker.cancel();
  try {
    await worker;
  } catch (error) {
    if (!(error instanceof CancelledError)) throw error;
    log(`main: worker ended with ${error.name}`);
  }
  return { cancelled: worker.cancelled(), flushed };
}

if (import.meta.main) await main();
