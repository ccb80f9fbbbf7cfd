// `deno bench bench/debug_bench.ts`: what debug mode costs. Off, a task
// spawn pays one variable read; on, it pays a site lookup (a stack is taken
// and formatted once per function that makes tasks), a statistics row, a
// context and a done callback. Awaits are not hooked at all: the "await"
// group shows that (one task awaiting 1,000 checkpoints, off and on).
// Divide by 1,000 for the per-spawn and per-await figures; on a loaded
// machine read the minimum column, the averages are mostly noise.
import { checkpoint, createTask, TaskGroup } from "../async/mod.ts";
import { enableDebug } from "../async/debug.ts";

// deno-lint-ignore require-await
const trivial = async (): Promise<number> => 1;

async function spawnAndAwait(): Promise<void> {
  const tasks = new Array(1_000);
  for (let i = 0; i < 1_000; i++) tasks[i] = createTask(trivial);
  for (let i = 0; i < 1_000; i++) await tasks[i];
}

async function awaits(): Promise<void> {
  await createTask(async () => {
    for (let i = 0; i < 1_000; i++) await checkpoint();
  });
}

async function group(): Promise<void> {
  await TaskGroup.run((tg) => {
    for (let i = 0; i < 1_000; i++) tg.createTask(trivial);
  });
}

Deno.bench("createTask + await, 1,000 tasks, debug off", {
  group: "spawn",
  baseline: true,
}, spawnAndAwait);

Deno.bench("createTask + await, 1,000 tasks, debug on", {
  group: "spawn",
}, async () => {
  using _debug = enableDebug();
  await spawnAndAwait();
});

Deno.bench("TaskGroup spawn+join, 1,000 tasks, debug off", {
  group: "group",
  baseline: true,
}, group);

Deno.bench("TaskGroup spawn+join, 1,000 tasks, debug on", {
  group: "group",
}, async () => {
  using _debug = enableDebug();
  await group();
});

Deno.bench("1,000 awaits (checkpoint) in one task, debug off", {
  group: "await",
  baseline: true,
}, awaits);

Deno.bench("1,000 awaits (checkpoint) in one task, debug on", {
  group: "await",
}, async () => {
  using _debug = enableDebug();
  await awaits();
});
