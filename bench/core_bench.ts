// `deno bench`: the core's hot paths, one case per operation.
import {
  CancelScope,
  checkpoint,
  createTask,
  gather,
  sleep,
  TaskGroup,
} from "../async/mod.ts";

// The trivial task of the benchmark: async on purpose, with nothing inside.
// deno-lint-ignore require-await
const trivial = async (): Promise<number> => 1;

Deno.bench("TaskGroup: spawn+join 1,000 trivial tasks", {
  group: "spawn",
  baseline: false,
}, async () => {
  await TaskGroup.run((tg) => {
    for (let i = 0; i < 1_000; i++) tg.createTask(trivial);
  });
});

Deno.bench("Promise.all over 1,000 trivial async calls", {
  group: "spawn",
  baseline: true,
}, async () => {
  const promises = new Array(1_000);
  for (let i = 0; i < 1_000; i++) promises[i] = trivial();
  await Promise.all(promises);
});

Deno.bench("createTask + await", async () => {
  await createTask(trivial);
});

Deno.bench("gather of 10 functions", async () => {
  await gather(
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
    trivial,
  );
});

Deno.bench("checkpoint() in a live scope", async () => {
  await new CancelScope().run(() => checkpoint());
});

Deno.bench("sleep(0)", async () => {
  await sleep(0);
});
