// A narrow COPY benchmark, for profiling io/_postgres_copy.ts: the two COPY
// rows of bench/compare_postgres.ts (10,000 rows in as records, out as
// bytes) against postgres.js and pg (+ pg-copy-streams), many interleaved
// rounds, medians printed. Not part of `deno task bench`.
//
//   deno run -A --v8-flags=--expose-gc bench/postgres_copy_bench.ts
//   BENCH_COPY_ROUNDS=n (default 25), BENCH_COPY_ROWS=n (default 10000),
//   BENCH_COPY_ONLY=ours (one contender, e.g. under --cpu-prof),
//   BENCH_COPY_TRACE=1 (each run on stderr).
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import postgres from "npm:postgres@3.4.9";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import pg from "npm:pg@8.23.1";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import copyStreams from "npm:pg-copy-streams@7.0.0";
import { connect } from "../io/postgres.ts";
import { startPostgres } from "../testing/postgres.ts";
import { copyText, drain, endCopy } from "./_copy.ts";

const ROUNDS = Number(Deno.env.get("BENCH_COPY_ROUNDS") ?? 25);
const ROWS = Number(Deno.env.get("BENCH_COPY_ROWS") ?? 10_000);
const ONLY = Deno.env.get("BENCH_COPY_ONLY");
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface Copier {
  name: string;
  copyIn(records: [number, string][]): Promise<unknown>;
  copyOut?(): Promise<number>;
  close(): Promise<unknown>;
}

await using server = await startPostgres({
  settings: { shared_buffers: "64MB" },
});
await server.adminQuery(
  "CREATE UNLOGGED TABLE bench_copy (a int, b text); CREATE UNLOGGED TABLE bench_src (a int, b text)",
);
await server.adminQuery(
  `INSERT INTO bench_src SELECT i, 'row ' || i FROM generate_series(1, ${ROWS}) AS i`,
);

const conn = await connect(server.url);
const sql = postgres(server.url, { max: 1, onnotice: () => {} });
const client = new pg.Client({ connectionString: server.url });
await client.connect();

const all: Copier[] = [
  {
    name: "ours",
    copyIn: (records) =>
      conn.copyFrom("bench_copy", records, { columns: ["a", "b"] }),
    copyOut: () => drain(conn.copyTo("bench_src")),
    close: () => conn.close(),
  },
  {
    name: "ours-nocols",
    copyIn: (records) => conn.copyFrom("bench_copy", records),
    close: async () => {},
  },
  {
    // The floor: the same rows, encoded before the clock starts.
    name: "ours-bytes",
    copyIn: () => conn.copyFrom("bench_copy", [preEncoded]),
    close: async () => {},
  },
  {
    name: "postgres.js",
    copyIn: async (records) => {
      const writable = await sql`COPY bench_copy (a, b) FROM STDIN`.writable();
      await new Promise<void>((resolve, reject) => {
        writable.on("error", reject);
        writable.on("finish", resolve);
        writable.end(copyText(records));
      });
    },
    // No copyOut: postgres.js's COPY TO stream hangs now and then here.
    close: () => sql.end({ timeout: 5 }),
  },
  {
    name: "pg",
    copyIn: async (records) => {
      await endCopy(
        client.query(copyStreams.from("COPY bench_copy (a, b) FROM STDIN")),
        copyText(records),
      );
    },
    close: () => client.end(),
  },
];
const copiers = ONLY === undefined ? all : all.filter((c) => c.name === ONLY);

const records: [number, string][] = Array.from(
  { length: ROWS },
  (_, i) => [i, `row ${i}`],
);

const preEncoded = new TextEncoder().encode(copyText(records));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const inMs = new Map<string, number[]>(copiers.map((c) => [c.name, []]));
const outMs = new Map<string, number[]>(copiers.map((c) => [c.name, []]));
// As in compare_postgres.ts: the copies in, interleaved, each followed by
// a TRUNCATE from another session; then the copies out.
for (let round = 0; round < ROUNDS + 2; round++) {
  for (let k = 0; k < copiers.length; k++) {
    const c = copiers[(round + k) % copiers.length];
    if (Deno.env.get("BENCH_COPY_TRACE")) console.error(round, c.name);
    gc();
    const t = performance.now();
    await c.copyIn(records);
    if (round >= 2) inMs.get(c.name)!.push(performance.now() - t);
    if (Deno.env.get("BENCH_COPY_TRACE")) {
      console.error((performance.now() - t).toFixed(1));
    }
    await server.adminQuery("TRUNCATE bench_copy");
  }
}
const exporters = copiers.filter((c) => c.copyOut);
for (let round = 0; round < ROUNDS + 2; round++) {
  for (let k = 0; k < exporters.length; k++) {
    const c = exporters[(round + k) % exporters.length];
    if (Deno.env.get("BENCH_COPY_TRACE")) console.error("out", round, c.name);
    gc();
    const t = performance.now();
    const bytes = await c.copyOut!();
    if (round >= 2) outMs.get(c.name)!.push(performance.now() - t);
    if (bytes < ROWS * 8) throw new Error(`${c.name}: ${bytes} bytes out`);
  }
}
for (const c of copiers) {
  const i = median(inMs.get(c.name)!);
  const o = c.copyOut ? median(outMs.get(c.name)!) : NaN;
  console.log(
    `${c.name.padEnd(12)} in ${i.toFixed(2)} ms (${
      Math.round(ROWS / i * 1000).toLocaleString("en-US")
    } rows/s)  out ${o.toFixed(2)} ms (${
      Math.round(ROWS / o * 1000).toLocaleString("en-US")
    } rows/s)`,
  );
}
for (const c of copiers) await c.close();
