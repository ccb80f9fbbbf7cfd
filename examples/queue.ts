// asyncio.Queue: producers and consumers with back-pressure. A bounded queue
// makes a fast producer wait for slow consumers; shutdown() ends the
// consumers' `for await` once the queue is drained.
import { sleep, TaskGroup } from "@aio/std/async";
import { Queue } from "@aio/std/sync";
import { stopwatch } from "./_log.ts";

/** Pipes 12 jobs through a queue of 3 to 2 workers; returns what it saw. */
export async function main(): Promise<
  { processed: number; largestBacklog: number }
> {
  const log = stopwatch("Queue: producer/consumer with back-pressure");
  const queue = new Queue<number>({ maxsize: 3 });
  let processed = 0;
  let largestBacklog = 0;
  await TaskGroup.run(async (tg) => {
    for (const worker of ["w1", "w2"]) {
      tg.createTask(async () => {
        for await (const job of queue) {
          await sleep(20); // the slow part
          processed++;
          if (job % 4 === 0) log(`${worker} finished job ${job}`);
        }
      });
    }
    for (let job = 1; job <= 12; job++) {
      await queue.put(job); // waits while 3 jobs are queued
      largestBacklog = Math.max(largestBacklog, queue.qsize());
    }
    log("producer done; shutting the queue down");
    queue.shutdown();
  });
  log(
    `${processed} jobs processed; the backlog never passed ${largestBacklog}`,
  );
  return { processed, largestBacklog };
}

if (import.meta.main) await main();
