// A narrow benchmark for io/files.ts's read-ahead size: the lines of a
// 256 MB file of 100-byte lines, `for await (const line of f)`, with
// bufferSize 64, 128 and 256 KiB taking turns in one process (the first two
// rounds are warm-up), medians printed. It chose the 128 KiB default. Not
// part of `deno task bench`.
//
//   deno run -A bench/files_buffer_bench.ts
//   BENCH_FILES_ROUNDS=n (default 12)
import { open, tempDir } from "../io/files.ts";

const SIZES = [64 << 10, 128 << 10, 256 << 10];
const ROUNDS = Number(Deno.env.get("BENCH_FILES_ROUNDS") ?? 12);
const WARMUP = 2;

await using dir = await tempDir({ prefix: "aio-bench-buffer-" });
const path = `${dir.path}/lines.txt`;
let block = "";
for (let i = 0; i < 10_000; i++) {
  block += `${i}`.padStart(8, "0").padEnd(99, "abcdefghij") + "\n";
}
const bytes = new TextEncoder().encode(block);
{
  using file = await Deno.open(path, { write: true, create: true });
  for (let i = 0; i < 256; i++) {
    for (let at = 0; at < bytes.length;) {
      at += await file.write(bytes.subarray(at));
    }
  }
}
const mb = 256 * bytes.length / (1 << 20);
const speeds: number[][] = SIZES.map(() => []);
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, bufferSize] of SIZES.entries()) {
    const start = performance.now();
    await using f = await open(path, "r", { bufferSize });
    let lines = 0;
    for await (const line of f) if (line.length >= 0) lines++;
    const ms = performance.now() - start;
    if (lines !== 2_560_000) throw new Error(`Read ${lines} lines`);
    if (round >= WARMUP) speeds[i].push(mb / (ms / 1000));
  }
}
for (const [i, size] of SIZES.entries()) {
  const sorted = speeds[i].sort((a, b) => a - b);
  console.log(
    `bufferSize ${size >> 10} KiB: ${
      sorted[Math.floor(sorted.length / 2)].toFixed(0)
    } MB/s (median of ${sorted.length})`,
  );
}
