// Debug mode: asyncio's `asyncio.run(main(), debug=True)`. A task that
// blocks the event loop is named with where it was made, a task that main
// forgot is reported and cancelled, and task statistics close the run.
// Both bugs hide behind a function call or a variable, out of the lint
// plugin's sight: run time catches what edit time cannot.
import { createTask, run, sleep } from "@aio/std/async";
import { type DebugReport, setDebugReporter } from "@aio/std/async/debug";
import { stopwatch } from "./_log.ts";

/** Stands for a sync library call: JSON parsing, hashing, a Sync fs call. */
function parseHugeConfig(): number {
  const end = performance.now() + 150;
  let spins = 0;
  while (performance.now() < end) spins++;
  return spins;
}

/** Runs a small program in debug mode; returns what the reports named. */
export async function main(): Promise<
  { blocked: string[]; pending: string[]; statsRows: string[] }
> {
  const log = stopwatch("debug mode: blocked loop, forgotten task, stats");
  const reports: DebugReport[] = [];
  const previous = setDebugReporter((report) => {
    reports.push(report);
    for (const line of report.message.split("\n")) log(line);
  });
  try {
    await run(async () => {
      await sleep(30); // the monitor ticks: the loop is free
      const config = createTask(parseHugeConfig, { name: "parse-config" });
      // Kept in a variable, never awaited: nobody will cancel it.
      const heartbeat = createTask(async () => {
        while (true) await sleep(1_000);
      }, { name: "heartbeat" });
      log(`main: started ${heartbeat.name}`);
      await config;
      await sleep(60); // the monitor notices the block once the loop is free
      log("main: returning");
    }, { debug: true, signals: [] });
  } finally {
    setDebugReporter(previous);
  }
  const of = (kind: DebugReport["kind"]) =>
    reports.filter((r) => r.kind === kind).map((r) => r.task ?? "?");
  const stats = reports.find((r) => r.kind === "stats")?.stats;
  return {
    blocked: of("blocked"),
    pending: of("pending-task"),
    statsRows: stats?.tasks.map((row) => row.name).sort() ?? [],
  };
}

if (import.meta.main) await main();
