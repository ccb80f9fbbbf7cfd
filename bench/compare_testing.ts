// testing/'s figures (issue 4): FakeTime.runAllAsync over a chain of 10,000
// timers, each set by the previous one's continuation through an await, and
// over 10,000 independent timers — against @sinonjs/fake-timers'
// runAllAsync, the fake clock most JS test suites use, on the same work.
// deno-lint-ignore no-import-prefix -- npm peers are allowed in bench/ only
import FakeTimers from "npm:@sinonjs/fake-timers@15";
import { FakeTime } from "../testing/fake_time.ts";
import { measure, msRange, type Row } from "./_compare.ts";

const N = 10_000;

/** A chain: each timer's callback resolves an await that sets the next. */
async function chain(): Promise<void> {
  for (let i = 0; i < N; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** N timers set at once, at spread-out times. */
function independent(): void {
  for (let i = 0; i < N; i++) setTimeout(() => {}, i % 1000);
}

async function oursChain(): Promise<void> {
  using time = new FakeTime(0);
  const done = chain();
  await time.runAllAsync();
  await done;
  if (time.now !== N * 10) throw new Error(`chain ended at ${time.now}`);
}

async function oursIndependent(): Promise<void> {
  using time = new FakeTime(0);
  independent();
  await time.runAllAsync();
  if (time.pending !== 0) throw new Error("timers left");
}

async function sinonChain(): Promise<void> {
  const clock = FakeTimers.install({ now: 0, loopLimit: 2 * N });
  try {
    const done = chain();
    await clock.runAllAsync();
    await done;
    if (clock.now !== N * 10) throw new Error(`chain ended at ${clock.now}`);
  } finally {
    clock.uninstall();
  }
}

async function sinonIndependent(): Promise<void> {
  const clock = FakeTimers.install({ now: 0, loopLimit: 2 * N });
  try {
    independent();
    await clock.runAllAsync();
  } finally {
    clock.uninstall();
  }
}

function perTimer(total: number): string {
  return `${((total / N) * 1000).toFixed(2)} µs/timer`;
}

/** The rows of the comparison table. */
export async function rows(): Promise<Row[]> {
  // Interleaved, GC before each run (see `measure`).
  const [ourChainStats, theirChainStats, ourSetStats, theirSetStats] =
    await measure(
      [oursChain, sinonChain, oursIndependent, sinonIndependent],
      11,
      2,
    );
  const [ourChain, theirChain, ourSet, theirSet] = [
    ourChainStats,
    theirChainStats,
    ourSetStats,
    theirSetStats,
  ].map((stats) => stats.median);
  return [
    {
      name:
        `FakeTime.runAllAsync, chain of ${N} timers (timer → await → timer)`,
      ours: `${msRange(ourChainStats)}, ${perTimer(ourChain)}`,
      anchor: `sinon runAllAsync ${msRange(theirChainStats)}, ${
        perTimer(theirChain)
      }`,
      ratio: ourChain / theirChain,
      goal: "<= 1x",
      met: ourChain <= theirChain,
    },
    {
      name: `FakeTime.runAllAsync, ${N} independent timers`,
      ours: `${msRange(ourSetStats)}, ${perTimer(ourSet)}`,
      anchor: `sinon runAllAsync ${msRange(theirSetStats)}, ${
        perTimer(theirSet)
      }`,
      ratio: ourSet / theirSet,
      goal: "<= 1x",
      met: ourSet <= theirSet,
    },
  ];
}
