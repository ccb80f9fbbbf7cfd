// Files: reading a 256 MB file of 100-byte lines with `for await (const line
// of f)`, against Node's readline over fs.createReadStream (run with `node`),
// Deno's TextDecoderStream + a line splitter (the shape of std's
// TextLineStream), and the raw read+decode speed of the same file (the
// limit); and the write throughput of writeText(…, { atomic: true }) against
// Deno.writeTextFile. The files live in a temp folder removed at the end.
// `deno task bench:files` runs only these rows.
import process from "node:process";
import type { Row } from "./_compare.ts";
import { open, tempDir, writeText } from "../io/files.ts";

const LINE = 100; // bytes, with its "\n"
const BLOCK_LINES = 10_000;
const TARGET = 256 * (1 << 20);
const ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function mbps(bytes: number, ms: number): number {
  return bytes / (1 << 20) / (ms / 1000);
}

function rate(value: number): string {
  return `${value.toFixed(0)} MB/s`;
}

async function makeFile(
  path: string,
  target: number,
): Promise<{ bytes: number; lines: number }> {
  const encoder = new TextEncoder();
  let block = "";
  for (let i = 0; i < BLOCK_LINES; i++) {
    block += `${i}`.padStart(8, "0").padEnd(LINE - 1, "abcdefghij") + "\n";
  }
  const bytes = encoder.encode(block);
  const blocks = Math.ceil(target / bytes.length);
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  try {
    for (let i = 0; i < blocks; i++) {
      for (let at = 0; at < bytes.length;) {
        at += await file.write(bytes.subarray(at));
      }
    }
  } finally {
    file.close();
  }
  return { bytes: blocks * bytes.length, lines: blocks * BLOCK_LINES };
}

// The limit: read 1 MiB at a time and decode, nothing else.
async function rawReadDecode(path: string): Promise<number> {
  const file = await Deno.open(path);
  const buffer = new Uint8Array(1 << 20);
  const decoder = new TextDecoder();
  let chars = 0;
  try {
    for (let n; (n = await file.read(buffer)) !== null;) {
      chars += decoder.decode(buffer.subarray(0, n), { stream: true }).length;
    }
  } finally {
    file.close();
  }
  return chars;
}

async function ours(path: string): Promise<number> {
  await using f = await open(path);
  let lines = 0;
  for await (const line of f) if (line.length >= 0) lines++;
  return lines;
}

// What std's TextLineStream does per chunk (`\n` and `\r\n`).
class LineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        let chars = rest + chunk;
        while (true) {
          const lf = chars.indexOf("\n");
          if (lf === -1) break;
          const end = chars[lf - 1] === "\r" ? lf - 1 : lf;
          controller.enqueue(chars.slice(0, end));
          chars = chars.slice(lf + 1);
        }
        rest = chars;
      },
      flush(controller) {
        if (rest !== "") controller.enqueue(rest);
      },
    });
  }
}

async function decoderStream(path: string): Promise<number> {
  const file = await Deno.open(path);
  const lines = file.readable
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new LineStream());
  let count = 0;
  for await (const line of lines) if (line.length >= 0) count++;
  return count;
}

const nodeScript = `
const fs = require("node:fs");
const readline = require("node:readline");
async function count(path) {
  const rl = readline.createInterface({
    input: fs.createReadStream(path),
    crlfDelay: Infinity,
  });
  let lines = 0;
  for await (const line of rl) if (line.length >= 0) lines++;
  return lines;
}
(async () => {
  await count(process.argv[1]); // warm-up
  const times = [];
  const cpus = [];
  let lines = 0;
  for (let round = 0; round < ${ROUNDS}; round++) {
    const cpu = process.cpuUsage();
    const start = performance.now();
    lines = await count(process.argv[2]);
    times.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
  }
  const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
  console.log(JSON.stringify({ ms: median(times), cpu: median(cpus), lines }));
})();
`;

async function nodeReadline(
  warm: string,
  path: string,
): Promise<{ ms: number; cpu: number; lines: number } | undefined> {
  try {
    const { code, stdout } = await new Deno.Command("node", {
      args: ["-e", nodeScript, warm, path],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    if (code !== 0) return undefined;
    return JSON.parse(new TextDecoder().decode(stdout));
  } catch {
    return undefined; // no node here
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const start = performance.now();
  const value = await fn();
  return [performance.now() - start, value];
}

// Wall-clock and CPU milliseconds (CPU time of the whole process, read-ahead
// threads included: what the work cost, whatever the load of the machine).
async function cpuTimed<T>(
  fn: () => Promise<T>,
): Promise<[number, number, T]> {
  const cpu = process.cpuUsage();
  const [wall, value] = await timed(fn);
  const used = process.cpuUsage(cpu);
  return [wall, (used.user + used.system) / 1000, value];
}

/** The rows of the files comparison. */
export async function rows(): Promise<Row[]> {
  await using dir = await tempDir({ prefix: "aio-bench-files-" });
  const path = `${dir.path}/lines.txt`;
  const warm = `${dir.path}/warm.txt`;
  const { bytes, lines } = await makeFile(path, TARGET);
  await makeFile(warm, 16 << 20);
  // Each contender runs once on a small file first (the JIT warms up; the
  // page cache holds both files), then ROUNDS times on the big one, taking
  // turns so that a burst of load on the shared machine hits all alike;
  // the median counts.
  await rawReadDecode(path);
  for (const fn of [rawReadDecode, ours, decoderStream]) await fn(warm);
  const times: Record<string, number[]> = { raw: [], ours: [], stream: [] };
  const cpu: Record<string, number[]> = { raw: [], ours: [], stream: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const [rawMs, rawCpu] = await cpuTimed(() => rawReadDecode(path));
    const [oursMs, oursCpu, oursLines] = await cpuTimed(() => ours(path));
    const [streamMs, streamCpu, streamLines] = await cpuTimed(() =>
      decoderStream(path)
    );
    cpu.raw.push(rawCpu);
    cpu.ours.push(oursCpu);
    cpu.stream.push(streamCpu);
    if (oursLines !== lines || streamLines !== lines) {
      throw new Error(
        `Cannot compare: line counts differ: ${lines} written, ${oursLines} ours, ${streamLines} TextDecoderStream`,
      );
    }
    times.raw.push(rawMs);
    times.ours.push(oursMs);
    times.stream.push(streamMs);
  }
  const rawMs = median(times.raw);
  const oursMs = median(times.ours);
  const streamMs = median(times.stream);
  const node = await nodeReadline(warm, path);
  const cpuMs = (name: string) => ` (cpu ${median(cpu[name]).toFixed(0)} ms)`;
  const oursRate = mbps(bytes, oursMs);
  const size = `${(bytes / (1 << 20)).toFixed(0)} MB`;
  const result: Row[] = [];
  if (node !== undefined) {
    const nodeRate = mbps(bytes, node.ms);
    result.push({
      name: `lines of a ${size} file vs Node readline`,
      ours: rate(oursRate) + cpuMs("ours"),
      anchor: `readline ${rate(nodeRate)} (cpu ${node.cpu.toFixed(0)} ms)`,
      ratio: oursRate / nodeRate,
      goal: ">= 2x",
      met: oursRate / nodeRate >= 2,
    });
  }
  const streamRate = mbps(bytes, streamMs);
  result.push({
    name: `lines of a ${size} file vs TextDecoderStream+splitter`,
    ours: rate(oursRate) + cpuMs("ours"),
    anchor: `TextDecoderStream ${rate(streamRate)}${cpuMs("stream")}`,
    ratio: oursRate / streamRate,
    goal: ">= 1.5x",
    met: oursRate / streamRate >= 1.5,
  });
  const rawRate = mbps(bytes, rawMs);
  result.push({
    name: `lines of a ${size} file vs raw read+decode`,
    ours: rate(oursRate) + cpuMs("ours"),
    anchor: `read+decode ${rate(rawRate)}${cpuMs("raw")}`,
    ratio: oursRate / rawRate,
    goal: ">= 0.25x",
    met: oursRate / rawRate >= 0.25,
  });
  await Deno.remove(path);

  // Long lines: one 100 MB line against ten 10 MB lines of the same bytes —
  // linear splitting makes them cost the same.
  const long = `${dir.path}/long.txt`;
  const tenths = `${dir.path}/tenths.txt`;
  const line = new Uint8Array(10 << 20).fill(0x78);
  {
    await using one = await open(long, "wb");
    await using ten = await open(tenths, "wb");
    for (let i = 0; i < 10; i++) {
      await one.write(line);
      line[line.length - 1] = 0x0a;
      await ten.write(line);
      line[line.length - 1] = 0x78;
    }
  }
  await ours(tenths);
  const [longMs] = await timed(() => ours(long));
  const [tenthsMs] = await timed(() => ours(tenths));
  result.push({
    name: "one 100 MB line vs ten 10 MB lines",
    ours: rate(mbps(100 << 20, longMs)),
    anchor: `10 MB lines ${rate(mbps(100 << 20, tenthsMs))}`,
    ratio: tenthsMs / longMs,
    goal: ">= 0.5x (linear)",
    met: tenthsMs / longMs >= 0.5,
  });
  await Deno.remove(long);
  await Deno.remove(tenths);

  // Writes: a big file (throughput) and many small ones (the fsyncs show).
  for (const [count, length] of [[3, 64 << 20], [50, 16 << 10]]) {
    const text = "x".repeat(length - 1) + "\n";
    const target = `${dir.path}/out.txt`;
    const [atomicMs] = await timed(async () => {
      for (let i = 0; i < count; i++) {
        await writeText(target, text, { atomic: true });
      }
    });
    const [plainMs] = await timed(async () => {
      for (let i = 0; i < count; i++) await Deno.writeTextFile(target, text);
    });
    const atomicRate = mbps(count * length, atomicMs);
    const plainRate = mbps(count * length, plainMs);
    const what = length >= 1 << 20
      ? `${length >> 20} MB`
      : `${length >> 10} KB`;
    result.push({
      name: `writeText atomic, ${count} x ${what} vs Deno.writeTextFile`,
      ours: rate(atomicRate),
      anchor: `writeTextFile ${rate(plainRate)}`,
      ratio: atomicRate / plainRate,
      goal: "context (fsync)",
      met: undefined,
    });
  }
  return result;
}
