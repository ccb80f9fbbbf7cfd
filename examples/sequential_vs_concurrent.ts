// asyncio's first lesson: awaiting one by one adds the waits up; running the
// same work as tasks overlaps them.
import { sleep, TaskGroup } from "../async/mod.ts";
import { stopwatch } from "./_log.ts";

async function fetchUser(id: number): Promise<string> {
  await sleep(100); // stands for a network call
  return `user-${id}`;
}

/** Fetches three users one by one, then concurrently; returns both times. */
export async function main(): Promise<
  { sequential: number; concurrent: number }
> {
  const log = stopwatch("sequential vs concurrent");
  let start = performance.now();
  for (const id of [1, 2, 3]) log(`sequential: got ${await fetchUser(id)}`);
  const sequential = performance.now() - start;
  log(`sequential took ${sequential.toFixed(0)} ms`);

  start = performance.now();
  const users = await TaskGroup.run((tg) => {
    const tasks = [1, 2, 3].map((id) => tg.createTask(() => fetchUser(id)));
    return Promise.all(tasks);
  });
  const concurrent = performance.now() - start;
  log(`concurrent: got ${users?.join(", ")} in ${concurrent.toFixed(0)} ms`);
  return { sequential, concurrent };
}

if (import.meta.main) await main();
