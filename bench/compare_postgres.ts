// The PostgreSQL rows of `deno task bench:compare` (issues 9 and 10): our
// driver (io/postgres.ts) against postgres.js (npm:postgres, the fastest JS
// driver) and node-postgres (npm:pg), on MagicStack's pgbench workloads, all
// against one throwaway cluster started here, the contenders interleaved
// round by round (the starting contender rotates), a GC before every timed
// run, median and range reported. One connection per contender first; then,
// when the pool exists, a pool of 10 per contender at concurrency 10, with
// `pgbench -S -M prepared -c 10 -j 2` (C, libpq) as the point-SELECT anchor.
// The idle-connection heap is measured too. Writes bench/results/postgres.md.
//
// Run alone: deno task bench:postgres
// (= deno run -A --v8-flags=--expose-gc bench/compare.ts postgres)
// BENCH_PG_ROUNDS=n changes the number of timed rounds (default 7).
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import postgres from "npm:postgres@3.4.9";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import pg from "npm:pg@8.23.1";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import copyStreams from "npm:pg-copy-streams@7.0.0";
import process from "node:process";
import { startPostgres } from "../testing/postgres.ts";
import { copyText, drain, endCopy } from "./_copy.ts";
import type { Row } from "./_compare.ts";

const ROUNDS = Number(Deno.env.get("BENCH_PG_ROUNDS") ?? 7);
const WARMUP = 2;

const SELECT_1_PLUS_1 = "SELECT 1+1 AS x";
// MagicStack's pgbench query: ~12 columns of pg_type, 2 parameters.
const PG_TYPE = `SELECT typname, typnamespace, typowner, typlen, typbyval,
  typcategory, typispreferred, typisdefined, typdelim, typrelid, typelem,
  typarray FROM pg_type WHERE typtypmod = $1 AND typisdefined = $2`;
const SERIES = "SELECT i FROM generate_series(1, 1000) AS i";
const INSERT = "INSERT INTO bench_insert (a, b) VALUES ($1, $2)";
const POINT = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
const ACCOUNTS = 100_000; // pgbench scale 1
const COPY_ROWS = 10_000;

/** One connection, as each driver is used at its fastest. */
interface Single {
  select(): Promise<unknown>;
  pgType(): Promise<unknown>;
  series(): Promise<unknown>;
  /** 1,000 INSERTs, all or nothing. */
  insertMany(rows: [number, string][]): Promise<unknown>;
  /** COPY the records into bench_copy (a, b); absent when unsupported. */
  copyIn?(records: [number, string][]): Promise<unknown>;
  /** COPY bench_copy out, returning the bytes read; absent when unsupported. */
  copyOut?(): Promise<number>;
  close(): Promise<void>;
}

/** A pool of 10, shared by 10 concurrent workers. */
interface Pool {
  select(): Promise<unknown>;
  pgType(): Promise<unknown>;
  series(): Promise<unknown>;
  point(aid: number): Promise<unknown>;
  close(): Promise<void>;
}

interface Contender {
  name: string;
  connect(url: string): Promise<Single>;
  pool?: (url: string) => Promise<Pool>;
}

// deno-lint-ignore no-explicit-any
type Any = any;

/** Our driver, if io/postgres.ts loads and exports what we use. */
async function ours(): Promise<Contender | string> {
  let module: Any;
  try {
    module = await import("../io/postgres.ts");
  } catch (error) {
    return `io/postgres.ts does not load: ${(error as Error).message}`;
  }
  if (typeof module.connect !== "function") {
    return "io/postgres.ts exports no connect()";
  }
  const contender: Contender = {
    name: "ours",
    async connect(url) {
      const conn = await module.connect(url);
      const single: Single = {
        select: () => conn.fetch(SELECT_1_PLUS_1),
        pgType: () => conn.fetch(PG_TYPE, [-1, true]),
        series: () => conn.fetch(SERIES),
        insertMany: (rows) => conn.executemany(INSERT, rows),
        close: () => conn.close(),
      };
      // COPY (issue 10), once io/postgres.ts has it.
      if (typeof conn.copyFrom === "function") {
        single.copyIn = (records) =>
          conn.copyFrom("bench_copy", records, { columns: ["a", "b"] });
      }
      if (typeof conn.copyTo === "function") {
        single.copyOut = async () => drain(await conn.copyTo("bench_copy"));
      }
      return single;
    },
  };
  // The pool (issue 10) lives in io/postgres_pool.ts; the specifier is not
  // a literal so that the type check does not need the file to exist.
  const poolModule = new URL("../io/postgres_pool.ts", import.meta.url).href;
  const createPool = module.createPool ??
    (await import(poolModule).catch(() => ({})) as Any).createPool;
  if (typeof createPool === "function") {
    contender.pool = async (url) => {
      const pool = createPool(url, { min: 10, max: 10 });
      // Open all ten before timing.
      await Promise.all(
        Array.from({ length: 10 }, () => pool.fetch(SELECT_1_PLUS_1)),
      );
      return {
        select: () => pool.fetch(SELECT_1_PLUS_1),
        pgType: () => pool.fetch(PG_TYPE, [-1, true]),
        series: () => pool.fetch(SERIES),
        point: (aid) => pool.fetch(POINT, [aid]),
        close: () => pool.close(),
      };
    };
  }
  return contender;
}

const postgresJs: Contender = {
  name: "postgres.js",
  async connect(url) {
    const sql = postgres(url, { max: 1, onnotice: () => {} });
    await sql`SELECT 1`; // connects lazily
    return {
      select: () => sql`SELECT 1+1 AS x`,
      pgType: () =>
        sql`SELECT typname, typnamespace, typowner, typlen, typbyval,
          typcategory, typispreferred, typisdefined, typdelim, typrelid,
          typelem, typarray FROM pg_type
          WHERE typtypmod = ${-1} AND typisdefined = ${true}`,
      series: () => sql`SELECT i FROM generate_series(1, 1000) AS i`,
      // Its best for a batch of statements: every INSERT pipelined at once
      // (each in its own implicit transaction: faster than inside
      // sql.begin, which we measured at about half the speed, though not
      // all or nothing as ours is).
      insertMany: (rows) =>
        Promise.all(
          rows.map(([a, b]) =>
            sql`INSERT INTO bench_insert (a, b) VALUES (${a}, ${b})`
          ),
        ),
      copyIn: async (records) => {
        const writable = await sql`COPY bench_copy (a, b) FROM STDIN`
          .writable();
        await new Promise<void>((resolve, reject) => {
          writable.on("error", reject);
          writable.on("finish", resolve);
          writable.end(copyText(records));
        });
      },
      copyOut: async () =>
        drain(await sql`COPY bench_copy TO STDOUT`.readable()),
      close: () => sql.end({ timeout: 5 }),
    };
  },
  async pool(url) {
    const sql = postgres(url, { max: 10, onnotice: () => {} });
    await Promise.all(Array.from({ length: 10 }, () => sql`SELECT 1`));
    return {
      select: () => sql`SELECT 1+1 AS x`,
      pgType: () =>
        sql`SELECT typname, typnamespace, typowner, typlen, typbyval,
          typcategory, typispreferred, typisdefined, typdelim, typrelid,
          typelem, typarray FROM pg_type
          WHERE typtypmod = ${-1} AND typisdefined = ${true}`,
      series: () => sql`SELECT i FROM generate_series(1, 1000) AS i`,
      point: (aid) =>
        sql`SELECT abalance FROM pgbench_accounts WHERE aid = ${aid}`,
      close: () => sql.end({ timeout: 5 }),
    };
  },
};

const nodePg: Contender = {
  name: "pg",
  async connect(url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    // Named statements: pg parses them once per connection (its fastest).
    return {
      select: () => client.query({ name: "s", text: SELECT_1_PLUS_1 }),
      pgType: () =>
        client.query({ name: "t", text: PG_TYPE, values: [-1, true] }),
      series: () => client.query({ name: "g", text: SERIES }),
      // No pipelining in pg: its best is queueing every INSERT at once (it
      // sends them one by one, each in its own implicit transaction).
      insertMany: (rows) =>
        Promise.all(
          rows.map((values) =>
            client.query({ name: "i", text: INSERT, values })
          ),
        ),
      // COPY through pg-copy-streams, the usual companion of pg.
      copyIn: async (records) => {
        await endCopy(
          client.query(copyStreams.from("COPY bench_copy (a, b) FROM STDIN")),
          copyText(records),
        );
      },
      // No copyOut: pg-copy-streams' COPY TO stream delivers no data under
      // Deno's Node compatibility (it waits forever), so pg sits that out.
      close: () => client.end(),
    };
  },
  async pool(url) {
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    const clients = await Promise.all(
      Array.from({ length: 10 }, () => pool.connect()),
    );
    for (const client of clients) client.release();
    return {
      select: () => pool.query({ name: "s", text: SELECT_1_PLUS_1 }),
      pgType: () =>
        pool.query({ name: "t", text: PG_TYPE, values: [-1, true] }),
      series: () => pool.query({ name: "g", text: SERIES }),
      point: (aid) => pool.query({ name: "p", text: POINT, values: [aid] }),
      close: () => pool.end(),
    };
  },
};

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Median and range of a list of figures. */
interface Stats {
  median: number;
  min: number;
  max: number;
  /**
   * The median client CPU time (user + system of this process) per
   * operation, in microseconds: steadier than throughput on a loaded
   * machine, since it does not count time spent waiting for the server.
   */
  cpu?: number;
}

function stats(values: number[]): Stats {
  // NaN marks a run that never finished (see `watchdog`).
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)] ?? NaN,
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/**
 * Runs `run(contender)` (which returns a throughput) for every contender,
 * round by round, the first contender rotating, a GC before each run.
 */
async function interleaved<C>(
  contenders: C[],
  run: (contender: C) => Promise<number>,
): Promise<Stats[]> {
  const figures: number[][] = contenders.map(() => []);
  const cpu: number[][] = contenders.map(() => []);
  for (let round = 0; round < WARMUP + ROUNDS; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (round + k) % contenders.length;
      gc();
      lastCpuPerOp = undefined;
      const value = await run(contenders[i]);
      if (round >= WARMUP) {
        figures[i].push(value);
        if (lastCpuPerOp !== undefined) cpu[i].push(lastCpuPerOp);
      }
    }
  }
  return figures.map((values, i) => ({
    ...stats(values),
    cpu: cpu[i].length > 0 ? stats(cpu[i]).median : undefined,
  }));
}

// postgres.js's COPY TO stream sometimes never ends here (under Deno's
// Node compatibility): a run that takes longer than this is given up, the
// contender sits out the rest of the row, and the table says so.
const STUCK_MS = 15_000;
const stuck = new Set<string>();

/** `run()`'s throughput, or NaN (and `name` marked stuck) past STUCK_MS. */
async function watchdog(
  name: string,
  run: () => Promise<number>,
): Promise<number> {
  if (stuck.has(name)) return NaN;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<number>((resolve) => {
    timer = setTimeout(() => {
      stuck.add(name);
      console.error(`  (${name} did not finish in ${STUCK_MS} ms: given up)`);
      resolve(NaN);
    }, STUCK_MS);
  });
  try {
    return await Promise.race([run(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Client CPU microseconds per operation of the last timed run. */
let lastCpuPerOp: number | undefined;

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Operations per second of `n` sequential awaits of `op`. */
async function sequential(
  n: number,
  op: () => Promise<unknown>,
): Promise<number> {
  const cpu = cpuMicros();
  const start = performance.now();
  for (let i = 0; i < n; i++) await op();
  const elapsed = performance.now() - start;
  lastCpuPerOp = (cpuMicros() - cpu) / n;
  return n / (elapsed / 1000);
}

/** Operations per second of 10 workers each awaiting `op` for `ms`. */
async function concurrent(
  ms: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<number> {
  let done = 0;
  const cpu = cpuMicros();
  const start = performance.now();
  const deadline = start + ms;
  await Promise.all(Array.from({ length: 10 }, async (_, worker) => {
    for (let i = 0; performance.now() < deadline; i++) {
      await op(worker, i);
      done++;
    }
  }));
  const elapsed = performance.now() - start;
  lastCpuPerOp = (cpuMicros() - cpu) / done;
  return done / (elapsed / 1000);
}

function rate(value: number, unit = ""): string {
  const text = Math.round(value).toLocaleString("en-US");
  return unit === "" ? text : `${text} ${unit}`;
}

/** `a/b` figures for the markdown report. */
interface Line {
  workload: string;
  unit: string;
  results: { name: string; stats: Stats | undefined }[];
}

function randomAid(): number {
  return 1 + Math.floor(Math.random() * ACCOUNTS);
}

/** pgbench's figure, or a reason why there is none. */
async function pgbench(
  binDir: string,
  port: number,
  socketDir: string,
  user: string,
  args: string[],
): Promise<{ tps?: number; note?: string }> {
  const candidates = [`${binDir}/pgbench`, "pgbench"];
  for (const command of candidates) {
    try {
      const output = await new Deno.Command(command, {
        args: ["-h", socketDir, "-p", String(port), "-U", user, ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(output.stdout);
      if (!output.success) {
        return { note: new TextDecoder().decode(output.stderr).trim() };
      }
      if (args.includes("-i")) return {}; // initialised: no figure
      const match = text.match(/tps = ([\d.]+)/);
      return match ? { tps: Number(match[1]) } : { note: "no tps in output" };
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
  }
  return { note: "pgbench not found" };
}

/** Heap and ArrayBuffer bytes held per idle connection of a contender. */
interface Idle {
  heap: number;
  external: number;
}

/**
 * Measures what `n` more idle connections hold: `open` is called once
 * before the first measurement (to load code and build per-driver state),
 * then `n` more times, and returns what to close.
 */
async function idleBytes(
  open: (n: number) => Promise<() => Promise<unknown>>,
  n = 20,
): Promise<Idle> {
  const warm = await open(1);
  gc();
  gc();
  const before = Deno.memoryUsage();
  const close = await open(n);
  // Let every connection settle into idle.
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  gc();
  const after = Deno.memoryUsage();
  await close();
  await warm();
  return {
    heap: (after.heapUsed - before.heapUsed) / n,
    external: (after.external - before.external) / n,
  };
}

/** `n` connections of a contender, each after one query. */
function openIdle(
  contender: Contender,
  url: string,
): (n: number) => Promise<() => Promise<unknown>> {
  if (contender.name === "postgres.js") {
    // One instance with `n` connections: what a postgres.js connection
    // costs, without the per-instance state (type parsers, options).
    return async (n) => {
      const sql = postgres(url, { max: n, onnotice: () => {} });
      await sql`SELECT 1`;
      // Concurrent queries that overlap make it open all `n`.
      await Promise.all(
        Array.from({ length: n }, () => sql`SELECT pg_sleep(0.05)`),
      );
      return () => sql.end({ timeout: 5 });
    };
  }
  return async (n) => {
    const conns: Single[] = [];
    for (let i = 0; i < n; i++) {
      const single = await contender.connect(url);
      await single.select();
      conns.push(single);
    }
    return () => Promise.all(conns.map((conn) => conn.close()));
  };
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** The PostgreSQL rows; also writes bench/results/postgres.md. */
export async function rows(): Promise<Row[]> {
  await using server = await startPostgres({
    settings: { max_connections: 200, shared_buffers: "64MB" },
  });
  const url = server.url;
  await server.adminQuery(
    "CREATE UNLOGGED TABLE bench_insert (a int, b text); CREATE UNLOGGED TABLE bench_copy (a int, b text)",
  );
  const oursOrWhy = await ours();
  let unavailable = typeof oursOrWhy === "string" ? oursOrWhy : "";
  const contenders: Contender[] = [postgresJs, nodePg];
  if (typeof oursOrWhy !== "string") {
    // Check it answers before timing it.
    try {
      const probe = await oursOrWhy.connect(url);
      await probe.select();
      await probe.close();
      contenders.unshift(oursOrWhy);
    } catch (error) {
      unavailable = `connect/query failed: ${(error as Error).message}`;
    }
  }
  if (unavailable !== "") console.log(`ours: not available (${unavailable})`);

  const lines: Line[] = [];
  const add = (
    workload: string,
    unit: string,
    figures: Stats[],
    names: string[],
  ) => {
    lines.push({
      workload,
      unit,
      results: names.map((name, i) => ({ name, stats: figures[i] })),
    });
    // Progress on stderr: the whole comparison takes minutes.
    console.error(
      `  ${workload}: ${
        names.map((name, i) => `${name} ${rate(figures[i].median)}`).join(", ")
      } ${unit}`,
    );
  };

  // One connection per contender, opened once, reused by every workload.
  const singles = new Map<Contender, Single>();
  for (const contender of contenders) {
    singles.set(contender, await contender.connect(url));
  }
  const names = contenders.map((c) => c.name);
  const copyRecords: [number, string][] = Array.from(
    { length: COPY_ROWS },
    (_, i) => [i, `row ${i}`],
  );
  const rowsToInsert: [number, string][] = Array.from(
    { length: 1000 },
    (_, i) => [i, `row ${i}`],
  );
  try {
    add(
      "1 conn: SELECT 1+1, sequential",
      "q/s",
      await interleaved(
        contenders,
        (c) => sequential(2000, singles.get(c)!.select),
      ),
      names,
    );
    // Pipelining: 10 loops share ONE connection (postgres.js pipelines;
    // pg queues and sends one at a time).
    add(
      "1 conn: SELECT 1+1, 10 concurrent loops",
      "q/s",
      await interleaved(
        contenders,
        (c) => concurrent(500, singles.get(c)!.select),
      ),
      names,
    );
    add(
      "1 conn: pg_type, 12 columns, 2 params",
      "q/s",
      await interleaved(
        contenders,
        (c) => sequential(100, singles.get(c)!.pgType),
      ),
      names,
    );
    add(
      "1 conn: generate_series(1, 1000)",
      "rows/s",
      await interleaved(
        contenders,
        async (c) => 1000 * await sequential(100, singles.get(c)!.series),
      ),
      names,
    );
    add(
      "1 conn: executemany, 1,000 INSERTs",
      "rows/s",
      await interleaved(contenders, async (c) => {
        const single = singles.get(c)!;
        const value = 1000 *
          await sequential(3, () => single.insertMany(rowsToInsert));
        await server.adminQuery("TRUNCATE bench_insert");
        return value;
      }),
      names,
    );
    // COPY 10,000 rows in and out (issue 10), where the driver has COPY.
    const copiers = contenders.filter((c) => singles.get(c)!.copyIn);
    add(
      "1 conn: COPY 10,000 rows in",
      "rows/s",
      await interleaved(copiers, async (c) => {
        const value = COPY_ROWS *
          await sequential(1, () => singles.get(c)!.copyIn!(copyRecords));
        await server.adminQuery("TRUNCATE bench_copy");
        return value;
      }),
      copiers.map((c) => c.name),
    );
    await server.adminQuery(
      `INSERT INTO bench_copy SELECT i, 'row ' || i FROM generate_series(1, ${COPY_ROWS}) AS i`,
    );
    const exporters = contenders.filter((c) => singles.get(c)!.copyOut);
    add(
      "1 conn: COPY 10,000 rows out",
      "rows/s",
      await interleaved(exporters, (c) =>
        watchdog(c.name, async () => {
          let bytes = 0;
          const value = COPY_ROWS * await sequential(1, async () => {
            bytes = await singles.get(c)!.copyOut!();
          });
          if (bytes < COPY_ROWS * 8) {
            throw new Error(`${c.name} copied out only ${bytes} bytes`);
          }
          return value;
        })),
      exporters.map((c) =>
        stuck.has(c.name) ? `${c.name} (stuck once: its other runs)` : c.name
      ),
    );
  } finally {
    for (const single of singles.values()) await single.close();
  }

  // Pools of 10 at concurrency 10, with pgbench as the point-SELECT anchor.
  const pooled = contenders.filter((c) => c.pool !== undefined);
  const poolNote = pooled.some((c) => c.name === "ours")
    ? ""
    : "ours: no pool yet (no createPool in io/postgres.ts or io/postgres_pool.ts)";
  if (poolNote !== "") console.log(poolNote);
  const pgbenchInit = await pgbench(
    server.binDir,
    server.port,
    server.socketDir,
    server.user,
    ["-i", "-s", "1", "-q", server.database],
  );
  const pools = new Map<Contender, Pool>();
  for (const contender of pooled) {
    pools.set(contender, await contender.pool!(url));
  }
  const poolNames = pooled.map((c) => c.name);
  let pgbenchStats: Stats | undefined;
  let pgbenchNote = pgbenchInit.note ?? "";
  try {
    const POOL_MS = 1000;
    if (pgbenchInit.note === undefined) {
      // pgbench runs as one more contender in the same rounds.
      const withPgbench = [...pooled, undefined];
      const figures = await interleaved(withPgbench, async (c) => {
        if (c !== undefined) {
          return await concurrent(
            POOL_MS,
            () => pools.get(c)!.point(randomAid()),
          );
        }
        const result = await pgbench(
          server.binDir,
          server.port,
          server.socketDir,
          server.user,
          [
            "-S",
            "-M",
            "prepared",
            "-c",
            "10",
            "-j",
            "2",
            "-T",
            "1",
            "-n",
            server.database,
          ],
        );
        if (result.tps === undefined) {
          pgbenchNote = result.note ?? "failed";
          return 0;
        }
        return result.tps;
      });
      pgbenchStats = figures.pop();
      add(
        "pool 10, concurrency 10: point SELECT (pgbench -S)",
        "q/s",
        figures,
        poolNames,
      );
    }
    add(
      "pool 10, concurrency 10: SELECT 1+1",
      "q/s",
      await interleaved(
        pooled,
        (c) => concurrent(POOL_MS, pools.get(c)!.select),
      ),
      poolNames,
    );
    add(
      "pool 10, concurrency 10: pg_type",
      "q/s",
      await interleaved(
        pooled,
        (c) => concurrent(POOL_MS, pools.get(c)!.pgType),
      ),
      poolNames,
    );
    add(
      "pool 10, concurrency 10: generate_series(1, 1000)",
      "rows/s",
      await interleaved(
        pooled,
        async (c) => 1000 * await concurrent(POOL_MS, pools.get(c)!.series),
      ),
      poolNames,
    );
  } finally {
    for (const pool of pools.values()) await pool.close();
  }

  // Idle connection memory.
  const memory: ({ name: string } & Idle)[] = [];
  for (const contender of contenders) {
    const bytes = await idleBytes(openIdle(contender, url));
    memory.push({ name: contender.name, ...bytes });
  }
  // An idle connection of our pool: the connection plus the pool's state.
  const poolUrl = new URL("../io/postgres_pool.ts", import.meta.url).href;
  const { createPool } = await import(poolUrl).catch(() => ({})) as Any;
  if (typeof createPool === "function") {
    const bytes = await idleBytes(async (n) => {
      const pool = createPool(url, { min: n, max: n });
      await Promise.all(
        Array.from({ length: n }, () => pool.fetch("SELECT pg_sleep(0.05)")),
      );
      return () => pool.close();
    });
    memory.push({ name: "ours (pooled)", ...bytes });
  }

  // Rows for the table.
  const out: Row[] = [];
  const find = (line: Line, name: string) =>
    line.results.find((r) => r.name === name)?.stats;
  for (const line of lines) {
    const mine = find(line, "ours");
    for (const [peer, goal] of [["postgres.js", 1.0], ["pg", 1.5]] as const) {
      const theirs = find(line, peer);
      if (theirs === undefined) continue;
      out.push({
        name: `pg ${line.workload} vs ${peer}`,
        ours: mine ? rate(mine.median, line.unit) : "not available",
        anchor: `${peer} ${rate(theirs.median, line.unit)}`,
        ratio: mine ? mine.median / theirs.median : 0,
        goal: `>= ${goal.toFixed(1)}x`,
        met: mine ? mine.median / theirs.median >= goal : false,
      });
    }
  }
  const pointLine = lines.find((l) => l.workload.includes("point SELECT"));
  if (pointLine !== undefined && pgbenchStats !== undefined) {
    for (const result of pointLine.results) {
      out.push({
        name: `pg pool point SELECT ${result.name} vs pgbench`,
        ours: rate(result.stats!.median, "q/s"),
        anchor: `pgbench ${rate(pgbenchStats.median, "tps")}`,
        ratio: result.stats!.median / pgbenchStats.median,
        goal: result.name === "ours" ? ">= 0.5x" : "context",
        met: result.name === "ours"
          ? result.stats!.median / pgbenchStats.median >= 0.5
          : undefined,
      });
    }
  }
  for (const m of memory) {
    out.push({
      name: `pg idle connection heap+ArrayBuffers (${m.name})`,
      ours: kb(m.heap + m.external),
      anchor: `heap ${kb(m.heap)}, ArrayBuffers ${kb(m.external)}`,
      ratio: (m.heap + m.external) / 65536,
      goal: m.name === "ours" ? "<= 64 KB (1.0x)" : "context",
      met: m.name === "ours" ? m.heap + m.external <= 65536 : undefined,
    });
  }

  await writeReport(lines, pgbenchStats, pgbenchNote, memory, {
    unavailable,
    poolNote,
    version: server.version,
  });
  return out;
}

async function writeReport(
  lines: Line[],
  pgbenchStats: Stats | undefined,
  pgbenchNote: string,
  memory: ({ name: string } & Idle)[],
  info: { unavailable: string; poolNote: string; version: number },
): Promise<void> {
  const cpu = (await Deno.readTextFile("/proc/cpuinfo").catch(() => ""))
    .match(/model name\s*:\s*(.*)/)?.[1] ?? Deno.build.arch;
  const load = (await Deno.readTextFile("/proc/loadavg").catch(() => ""))
    .split(" ").slice(0, 3).join(" ");
  let md = `# PostgreSQL: ours vs postgres.js and pg\n\n`;
  md += `Written by \`deno task bench:postgres\` on ${
    new Date().toISOString()
  }.\n`;
  md +=
    `PostgreSQL ${info.version} (throwaway cluster from testing/postgres.ts, fsync off, TCP 127.0.0.1), `;
  md +=
    `Deno ${Deno.version.deno}, ${cpu}, ${navigator.hardwareConcurrency} cores, load average ${load}. `;
  md +=
    `${ROUNDS} timed rounds after ${WARMUP} warm-up rounds, contenders interleaved, GC before each run; `;
  md +=
    `median (min–max). Client and server share the cores: absolute figures are not claims, the ratios measured in the same run are. "Client CPU per call" is this process's user+system time per query (per 1,000-row batch for executemany; for pools, per query with the 10 workers together), which waiting for the server does not inflate.\n\n`;
  if (info.unavailable !== "") {
    md += `**ours: not available** (${info.unavailable})\n\n`;
  }
  if (info.poolNote !== "") md += `${info.poolNote}\n\n`;
  for (const line of lines) {
    md +=
      `## ${line.workload} (${line.unit})\n\n| contender | median | range | vs postgres.js | vs pg | client CPU per call |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`;
    const by = (name: string) =>
      line.results.find((r) => r.name === name)?.stats;
    for (const { name, stats } of line.results) {
      if (stats === undefined) continue;
      const vs = (peer: string) => {
        const other = by(peer);
        return other ? `${(stats.median / other.median).toFixed(2)}x` : "-";
      };
      md += `| ${name} | ${rate(stats.median)} | ${rate(stats.min)}–${
        rate(stats.max)
      } | ${vs("postgres.js")} | ${vs("pg")} | ${
        stats.cpu === undefined ? "-" : `${stats.cpu.toFixed(0)} µs`
      } |\n`;
    }
    if (line.workload.includes("point SELECT")) {
      if (pgbenchStats !== undefined) {
        md += `| pgbench -S -M prepared -c 10 -j 2 (C, libpq) | ${
          rate(pgbenchStats.median)
        } | ${rate(pgbenchStats.min)}–${rate(pgbenchStats.max)} | | | |\n`;
      }
    }
    md += "\n";
  }
  if (pgbenchNote !== "") md += `pgbench: ${pgbenchNote}\n\n`;
  md +=
    `## Idle connection (after one query), per connection, 20 open\n\n| contender | JS heap | ArrayBuffers (external) | total |\n| --- | ---: | ---: | ---: |\n`;
  for (const m of memory) {
    md += `| ${m.name} | ${kb(m.heap)} | ${kb(m.external)} | ${
      kb(m.heap + m.external)
    } |\n`;
  }
  await Deno.mkdir(new URL("results/", import.meta.url), { recursive: true });
  await Deno.writeTextFile(new URL("results/postgres.md", import.meta.url), md);
}
