// asyncio.TaskGroup: a failing child cancels its siblings, the group waits
// for all of them, and the errors come out as one ExceptionGroup.
import {
  CancelledError,
  ExceptionGroup,
  sleep,
  TaskGroup,
} from "@aio/std/async";
import { stopwatch } from "./_log.ts";

/** Runs a group with a failing child; returns what happened to the others. */
export async function main(): Promise<
  { cancelled: string[]; errors: string[] }
> {
  const log = stopwatch("TaskGroup with a failing child");
  const cancelled: string[] = [];
  let errors: string[] = [];
  try {
    await TaskGroup.run((tg) => {
      for (const name of ["download", "resize"]) {
        tg.createTask(async () => {
          try {
            await sleep(1_000);
          } catch (error) {
            if (error instanceof CancelledError) {
              log(`${name} was cancelled`);
              cancelled.push(name);
            }
            throw error;
          }
        });
      }
      tg.createTask(async () => {
        await sleep(50);
        log("upload fails");
        throw new Error("upload failed: disk full");
      });
    });
  } catch (error) {
    if (!(error instanceof ExceptionGroup)) throw error;
    errors = error.errors.map((e) => (e as Error).message);
    log(`caught ExceptionGroup: ${errors.join("; ")}`);
  }
  return { cancelled, errors };
}

if (import.meta.main) await main();
