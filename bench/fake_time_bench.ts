// `deno bench`: FakeTime's cost per virtual timer (issue 4).
import { FakeTime } from "../testing/fake_time.ts";

const N = 10_000;

Deno.bench({
  name: `FakeTime.runAllAsync, chain of ${N} timers (timer → await → timer)`,
  group: "FakeTime",
  baseline: true,
  async fn() {
    using time = new FakeTime(0);
    const done = (async () => {
      for (let i = 0; i < N; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await time.runAllAsync();
    await done;
  },
});

Deno.bench({
  name: `FakeTime.runAllAsync, ${N} independent timers`,
  group: "FakeTime",
  async fn() {
    using time = new FakeTime(0);
    for (let i = 0; i < N; i++) setTimeout(() => {}, i % 1000);
    await time.runAllAsync();
  },
});

Deno.bench({
  name: `FakeTime.runAll (synchronous), ${N} independent timers`,
  group: "FakeTime",
  fn() {
    using time = new FakeTime(0);
    for (let i = 0; i < N; i++) setTimeout(() => {}, i % 1000);
    time.runAll();
  },
});

Deno.bench({
  name: `FakeTime autoAdvance, chain of ${N} sleeps through setTimeout`,
  group: "FakeTime",
  async fn() {
    using _time = new FakeTime({ start: 0, autoAdvance: true });
    for (let i = 0; i < N; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  },
});
