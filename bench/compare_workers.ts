// Workers: a trivial task (`(x) => x + 1`) 100,000 times queued at once and
// one at a time, against npm:piscina and npm:workerpool in Node (same task,
// same pool size) and a hand-written Web Worker with postMessage in Deno
// (the floor of one round trip); and fib(30) x 64 on pools of 1 and 2
// workers (the speed-up the cores give). `deno task bench:workers` runs only
// these rows. The npm peers are installed with npm into a temp folder (bench
// only: the library has no dependencies); without npm or node, their rows
// are skipped.
import type { Row } from "./_compare.ts";
import { gc, measure, progress } from "./_compare.ts";
import { conditions } from "./_results.ts";
import { WorkerPool } from "../async/worker_pool.ts";

const QUEUED = 100_000;
const LATENCY_CALLS = 2_000;
const SIZE = 2;

const work = "data:text/javascript," + encodeURIComponent(
  "export const inc = (x) => x + 1;\n" +
    "export function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }\n",
);
const floorWorker = "data:text/javascript," + encodeURIComponent(
  "self.onmessage = (e) => self.postMessage(e.data + 1);\n",
);

type Work = { inc(x: number): number; fib(n: number): number };

async function queuedRun(pool: WorkerPool<Work>, n: number): Promise<void> {
  const calls: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) calls[i] = pool.run("inc", [i]);
  const results = await Promise.all(calls);
  if (results[n - 1] !== n) throw new Error("wrong result");
}

async function oneAtATime(pool: WorkerPool<Work>): Promise<void> {
  for (let i = 0; i < LATENCY_CALLS; i++) await pool.run("inc", [i]);
}

// The floor: one Worker, one postMessage and one message event per call.
function floor(): { call(x: number): Promise<number>; close(): void } {
  const worker = new Worker(floorWorker, { type: "module" });
  let resolve: (value: number) => void = () => {};
  worker.onmessage = (event) => resolve(event.data);
  return {
    call: (x) =>
      new Promise<number>((r) => {
        resolve = r;
        worker.postMessage(x);
      }),
    close: () => worker.terminate(),
  };
}

// fib(30) x 64 on `n` hand-written Workers, one task in flight on each.
async function bareFibs(n: number): Promise<number> {
  const source = "data:text/javascript," + encodeURIComponent(
    "const fib = (n) => n < 2 ? n : fib(n - 1) + fib(n - 2);\n" +
      "self.onmessage = (e) => self.postMessage(fib(e.data));\n",
  );
  const workers = Array.from(
    { length: n },
    () => new Worker(source, { type: "module" }),
  );
  const ask = (w: Worker, x: number) =>
    new Promise<number>((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.postMessage(x);
    });
  await Promise.all(workers.map((w) => ask(w, 20)));
  gc();
  const start = performance.now();
  let left = 64;
  await Promise.all(workers.map(async (w) => {
    while (left > 0) {
      left--;
      await ask(w, 30);
    }
  }));
  const elapsed = performance.now() - start;
  for (const w of workers) w.terminate();
  return elapsed;
}

interface Peer {
  queuedMs: number;
  latencyUs: number;
}

async function peers(): Promise<Record<string, Peer> | undefined> {
  const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/aio-bench-workers-npm`;
  try {
    try {
      Deno.statSync(`${dir}/node_modules/piscina`);
      Deno.statSync(`${dir}/node_modules/workerpool`);
    } catch {
      progress("\ninstalling npm:piscina and npm:workerpool (bench only)…\n");
      Deno.mkdirSync(dir, { recursive: true });
      Deno.writeTextFileSync(`${dir}/package.json`, "{}\n");
      const install = await new Deno.Command("npm", {
        args: [
          "install",
          "--no-audit",
          "--no-fund",
          "piscina@5",
          "workerpool@10",
        ],
        cwd: dir,
        stdout: "null",
        stderr: "inherit",
      }).output();
      if (!install.success) return undefined;
    }
    const script = new URL("./_workers_node.mjs", import.meta.url).pathname;
    const run = await new Deno.Command("node", {
      args: [script, dir, `${QUEUED}`, `${LATENCY_CALLS}`, "3", `${SIZE}`],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (!run.success) return undefined;
    const lines = new TextDecoder().decode(run.stdout).trim().split("\n");
    return JSON.parse(lines[lines.length - 1]);
  } catch (error) {
    progress(`\nnpm peers skipped: ${(error as Error).message}\n`);
    return undefined;
  }
}

const rate = (n: number, ms: number) =>
  `${(n / (ms / 1000)).toFixed(0)} tasks/s`;
const us = (value: number) => `${value.toFixed(1)} µs`;

/** The rows of the workers comparison. */
export async function rows(): Promise<Row[]> {
  const out: Row[] = [];
  progress("workers ");

  // 100k queued trivial tasks, and one at a time, on a Web Worker pool.
  {
    await using pool = new WorkerPool<Work>(work, { size: SIZE });
    await queuedRun(pool, 2_000); // both workers up and warm
    const [queued] = await measure([() => queuedRun(pool, QUEUED)], 3, 1);
    await using single = new WorkerPool<Work>(work, { size: 1 });
    const f = floor();
    await f.call(0);
    await single.run("inc", [0]);
    const [ours, theFloor] = await measure(
      [
        () => oneAtATime(single),
        async () => {
          for (let i = 0; i < LATENCY_CALLS; i++) await f.call(i);
        },
      ],
      7,
      2,
    );
    f.close();
    const oursUs = ours.median * 1000 / LATENCY_CALLS;
    const floorUs = theFloor.median * 1000 / LATENCY_CALLS;
    out.push({
      name: "worker round trip, one at a time, vs a bare Worker",
      ours: us(oursUs),
      anchor: `Worker + postMessage ${us(floorUs)}`,
      ratio: oursUs / floorUs,
      goal: "<= 1.2x",
      met: oursUs / floorUs <= 1.2,
    });
    const node = await peers();
    if (node !== undefined) {
      const ratio = node.piscina.queuedMs / queued.median;
      out.push({
        name: `${
          QUEUED / 1000
        }k queued trivial tasks, ${SIZE} workers, vs piscina`,
        ours: rate(QUEUED, queued.median),
        anchor: `piscina (node) ${rate(QUEUED, node.piscina.queuedMs)}`,
        ratio,
        goal: ">= 1.0x",
        met: ratio >= 1,
      });
      out.push({
        name: `${QUEUED / 1000}k queued trivial tasks vs workerpool`,
        ours: rate(QUEUED, queued.median),
        anchor: `workerpool (node) ${rate(QUEUED, node.workerpool.queuedMs)}`,
        ratio: node.workerpool.queuedMs / queued.median,
        goal: "context",
        met: undefined,
      });
      out.push({
        name: "round trip, one at a time, vs piscina",
        ours: us(oursUs),
        anchor: `piscina (node) ${us(node.piscina.latencyUs)}`,
        ratio: oursUs / node.piscina.latencyUs,
        goal: "context",
        met: undefined,
      });
    }
  }

  // Process workers: the same two figures, for what a process costs.
  {
    await using pool = new WorkerPool<Work>(work, {
      size: SIZE,
      isolation: "process",
    });
    await queuedRun(pool, 2_000);
    const [queued] = await measure([() => queuedRun(pool, QUEUED)], 1, 0);
    const [latency] = await measure(
      [async () => {
        for (let i = 0; i < 200; i++) await pool.run("inc", [i]);
      }],
      3,
      1,
    );
    out.push({
      name: `${QUEUED / 1000}k queued tasks, process workers vs Web Workers`,
      ours: rate(QUEUED, queued.median),
      anchor: "(the Web Worker row above)",
      ratio: 0,
      goal: "context",
      met: undefined,
    });
    out.push({
      name: "round trip, one at a time, process worker",
      ours: us(latency.median * 1000 / 200),
      anchor: "-",
      ratio: 0,
      goal: "context",
      met: undefined,
    });
  }

  // fib(30) x 64 on 1 and 2 workers: the speed-up of a second core.
  {
    const fibs = async (size: number) => {
      await using pool = new WorkerPool<Work>(work, { size });
      await Promise.all(
        Array.from({ length: size }, () => pool.run("fib", [20])),
      );
      gc();
      const start = performance.now();
      await Promise.all(
        Array.from({ length: 64 }, () => pool.run("fib", [30])),
      );
      return performance.now() - start;
    };
    const one: number[] = [];
    const two: number[] = [];
    const bareOne: number[] = [];
    const bareTwo: number[] = [];
    for (let round = 0; round < 3; round++) {
      one.push(await fibs(1));
      two.push(await fibs(2));
      bareOne.push(await bareFibs(1));
      bareTwo.push(await bareFibs(2));
      progress(".");
    }
    const median = (xs: number[]) =>
      xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const speedup = median(one) / median(two);
    out.push({
      name: "fib(30) x 64: 2 workers vs 1",
      ours: `${median(two).toFixed(0)} ms on 2`,
      anchor: `${median(one).toFixed(0)} ms on 1`,
      ratio: speedup,
      goal: ">= 1.8x",
      met: speedup >= 1.8,
    });
    // What the machine gives a second thread right now (shared, loaded):
    // the same work on bare Workers, each sent the next task as it answers.
    const bare = median(bareOne) / median(bareTwo);
    out.push({
      name: "fib(30) x 64: 2 bare Workers vs 1 (the machine's speed-up)",
      ours: `${median(bareTwo).toFixed(0)} ms on 2`,
      anchor: `${median(bareOne).toFixed(0)} ms on 1`,
      ratio: bare,
      goal: "context",
      met: undefined,
    });
  }
  progress("\n");
  writeReport(out);
  return out;
}

// bench/results/workers.md: this run's rows, with the machine's load.
function writeReport(rows: Row[]): void {
  const lines = [
    "# Workers: ours vs piscina, workerpool and a bare Worker",
    "",
    `Written by \`deno task bench:workers\`: ${conditions()}.`,
    `Pools of ${SIZE} workers for the queued rows, 1 for one at a time; the npm peers run in Node ${nodeVersion()}. The machine is shared: ratios measured in the same run are the claims, not absolute figures.`,
    "",
    "| benchmark | ours | anchor | ratio | goal | met |",
    "| --- | ---: | ---: | ---: | --- | --- |",
    ...rows.map((r) =>
      `| ${r.name} | ${r.ours} | ${r.anchor} | ${
        r.ratio > 0 ? r.ratio.toFixed(2) + "x" : "-"
      } | ${r.goal} | ${r.met === undefined ? "-" : r.met ? "yes" : "NO"} |`
    ),
    "",
  ];
  const path = new URL("./results/workers.md", import.meta.url);
  Deno.writeTextFileSync(path, lines.join("\n"));
}

function nodeVersion(): string {
  try {
    const out = new Deno.Command("node", { args: ["--version"] }).outputSync();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "(not found)";
  }
}

if (import.meta.main) {
  for (const row of await rows()) {
    console.log(`${row.name}: ${row.ours} vs ${row.anchor} (${row.goal})`);
  }
}
