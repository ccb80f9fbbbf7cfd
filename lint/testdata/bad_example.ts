// A planted bad example: every rule of the aio lint plugin must flag it.
// Excluded from `deno lint` (deno.json) and from the published package;
// lint/project_test.ts checks that the plugin finds each pitfall here.
import { createTask, sleep, TaskSet } from "@aio/std/async";
import { Queue } from "@aio/std/sync";

export async function worker(queue: Queue<string>): Promise<void> {
  // aio/no-blocking-in-async: every other task waits for the disk.
  const config = Deno.readTextFileSync("config.json");
  // aio/no-floating-promise: not awaited, so no back-pressure.
  queue.put(config);
  // aio/no-orphan-task: nobody awaits or cancels this task.
  createTask(() => sleep(1000));
  // aio/require-dispose: left running if anything below throws.
  const tasks = new TaskSet();
  tasks.createTask(() => sleep(10));
  while (true) {
    try {
      await queue.get();
    } catch (error) {
      // aio/no-swallowed-cancel: a cancelled worker logs and loops forever.
      console.error(error);
    }
  }
}
