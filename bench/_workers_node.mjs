// The npm peers of bench/compare_workers.ts, run in Node: piscina and
// workerpool on the same trivial task. Prints one JSON line:
// { piscina: { queuedMs, latencyUs }, workerpool: { … } } (medians).
// The packages come from the folder given as argv[2] (npm install there);
// the library itself has no dependencies.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [peers, queuedArg, latencyArg, roundsArg, sizeArg] = process.argv.slice(
  2,
);
const require = createRequire(join(peers, "package.json"));
const { Piscina } = require("piscina");
const workerpool = require("workerpool");
const queued = Number(queuedArg);
const latencyCalls = Number(latencyArg);
const rounds = Number(roundsArg);
const size = Number(sizeArg);

const dir = mkdtempSync(join(tmpdir(), "aio-workers-bench-"));
const piscinaFile = join(dir, "piscina_task.js");
writeFileSync(piscinaFile, "module.exports = (x) => x + 1;\n");
const workerpoolFile = join(dir, "workerpool_task.js");
writeFileSync(
  workerpoolFile,
  `const workerpool = require(${
    JSON.stringify(require.resolve("workerpool"))
  });\n` +
    "workerpool.worker({ inc: (x) => x + 1 });\n",
);

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function time(call) {
  // warm up: every worker started, code compiled
  await Promise.all(Array.from({ length: 1000 }, (_, i) => call(i)));
  for (let i = 0; i < 200; i++) await call(i);
  const queuedMs = [];
  const latencyUs = [];
  for (let r = 0; r < rounds; r++) {
    let start = performance.now();
    await Promise.all(Array.from({ length: queued }, (_, i) => call(i)));
    queuedMs.push(performance.now() - start);
    start = performance.now();
    for (let i = 0; i < latencyCalls; i++) await call(i);
    latencyUs.push((performance.now() - start) * 1000 / latencyCalls);
  }
  return { queuedMs: median(queuedMs), latencyUs: median(latencyUs) };
}

const out = {};
{
  const pool = new Piscina({
    filename: piscinaFile,
    minThreads: size,
    maxThreads: size,
  });
  out.piscina = await time((i) => pool.run(i));
  await pool.destroy();
}
{
  const pool = workerpool.pool(workerpoolFile, {
    minWorkers: size,
    maxWorkers: size,
    workerType: "thread",
  });
  out.workerpool = await time((i) => pool.exec("inc", [i]));
  await pool.terminate();
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify(out));
