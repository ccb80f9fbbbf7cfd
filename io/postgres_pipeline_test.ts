// Pipelining on one connection (issue 10), against a real server: one
// throwaway cluster for the file. A loopback proxy counts the Syncs the
// client writes, which shows queries go out before earlier ones answered.
import {
  connect,
  type Connection,
  DivisionByZeroError,
  QueryCanceledError,
} from "./postgres.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import { createTask, TaskGroup, timeout, TimeoutError } from "../async/mod.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready ? await startPostgres() : undefined;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore }, fn);
}

/**
 * A TCP proxy to the cluster that counts the Sync messages clients send;
 * `syncs(n)` resolves once n have passed in all.
 */
class SyncCounter implements AsyncDisposable {
  count = 0;
  #listener: Deno.TcpListener;
  #waiters: { n: number; resolve: () => void }[] = [];
  #pumps: Promise<void>[] = [];
  #conns: Deno.Conn[] = [];
  #accepting: Promise<void>;

  constructor() {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get url(): string {
    const u = new URL(pg!.url);
    u.port = String(this.#listener.addr.port);
    return u.href;
  }

  syncs(n: number): Promise<void> {
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) {
        const server = await Deno.connect({
          hostname: "127.0.0.1",
          port: pg!.port,
        });
        this.#conns.push(client, server);
        this.#pumps.push(this.#up(client, server), this.#down(server, client));
      }
    } catch { /* closed */ }
  }

  // Client to server, parsed: untyped messages until the startup packet,
  // then typed ones; a Sync is 'S' with length 4.
  async #up(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    let pending = new Uint8Array(0);
    let started = false;
    const buf = new Uint8Array(65536);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        const joined = new Uint8Array(pending.length + n);
        joined.set(pending);
        joined.set(buf.subarray(0, n), pending.length);
        const view = new DataView(joined.buffer);
        let pos = 0;
        while (true) {
          if (!started) {
            if (joined.length - pos < 8) break;
            const len = view.getInt32(pos);
            if (joined.length - pos < len) break;
            if (view.getInt32(pos + 4) === 196608) started = true;
            pos += len;
          } else {
            if (joined.length - pos < 5) break;
            const len = view.getInt32(pos + 1);
            if (joined.length - pos < len + 1) break;
            if (joined[pos] === 0x53 && len === 4) this.#counted();
            pos += len + 1;
          }
        }
        pending = joined.slice(pos);
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    try {
      await to.closeWrite();
    } catch { /* closed */ }
  }

  async #down(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch { /* closed */ }
  }

  #counted(): void {
    this.count++;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.count < w.n) return true;
      w.resolve();
      return false;
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting;
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await Promise.all(this.#pumps);
  }
}

/** Holds an advisory lock on its own connection until released. */
async function lock(key: number): Promise<AsyncDisposable & Connection> {
  const locker = await connect(pg!.url);
  await locker.execute(`SELECT pg_advisory_lock(${key})`);
  return locker;
}

/** Waits (by asking the server, no sleeps) until `pid` waits for a lock. */
async function blockedOnLock(pid: number): Promise<void> {
  await using admin = await connect(pg!.url);
  for (let i = 0; i < 10_000; i++) {
    const waiting = await admin.fetchval<boolean>(
      "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted)",
      [pid],
    );
    if (waiting) return;
  }
  throw new Error(`backend ${pid} never waited for a lock`);
}

test("concurrent queries are written before earlier ones answered, and each gets its own result", async () => {
  await using proxy = new SyncCounter();
  await using conn = await connect(proxy.url);
  // Warm the cache: the queries below are cache hits (one write each).
  assert.equal(await conn.fetchval("SELECT $1::int * 10 AS v", [0]), 0);
  await conn.fetch("SELECT pg_advisory_lock($1::int), $2::int AS v", [0, 0]);
  await conn.fetch("SELECT pg_advisory_unlock($1::int)", [0]);
  await using locker = await lock(101);
  const base = proxy.count;
  // The first blocks on the lock; the 9 behind it go out anyway.
  const first = conn.fetch<{ v: number }>(
    "SELECT pg_advisory_lock($1::int), $2::int AS v",
    [101, -1],
  );
  const rest = Array.from(
    { length: 9 },
    (_, i) => conn.fetchval<number>("SELECT $1::int * 10 AS v", [i + 1]),
  );
  await proxy.syncs(base + 10);
  let settled = false;
  first.finally(() => settled = true);
  await blockedOnLock(conn.pid);
  assert.equal(settled, false, "the first query is still blocked");
  await locker.execute("SELECT pg_advisory_unlock_all()");
  assert.equal((await first)[0].v, -1);
  assert.deepEqual(
    await Promise.all(rest),
    [10, 20, 30, 40, 50, 60, 70, 80, 90],
  );
  assert.equal(
    await conn.fetchval("SELECT pg_advisory_unlock($1::int)", [101]),
    true,
  );
});

test("an error in the middle of a pipeline stays with its query", async () => {
  await using conn = await connect(pg!.url);
  const results = await Promise.allSettled([
    conn.fetchval("SELECT $1::int AS v", [1]),
    conn.fetchval("SELECT $1::int + 1 AS v", [1]),
    conn.fetchval("SELECT 1 / $1::int AS v", [0]),
    conn.fetchval("SELECT $1::int + 2 AS v", [1]),
    conn.execute("SELECT $1::int", [4]),
  ]);
  assert.deepEqual(results.map((r) => r.status), [
    "fulfilled",
    "fulfilled",
    "rejected",
    "fulfilled",
    "fulfilled",
  ]);
  assert.ok(
    (results[2] as PromiseRejectedResult).reason instanceof DivisionByZeroError,
  );
  assert.equal((results[3] as PromiseFulfilledResult<unknown>).value, 3);
  assert.equal(conn.inTransaction, false);
  assert.equal(await conn.fetchval("SELECT 'usable'"), "usable");
});

test("a query cancelled while queued behind another is not cancelled on the server until it runs; its neighbours are untouched", async () => {
  await using conn = await connect(pg!.url);
  await using locker = await lock(102);
  const controller = new AbortController();
  const head = conn.fetchval<number>(
    "SELECT 7 AS v FROM pg_advisory_lock($1::int)",
    [102],
  );
  const middle = conn.fetch("SELECT pg_sleep(30)", [], {
    signal: controller.signal,
  });
  const tail = conn.fetchval<number>("SELECT $1::int AS v", [9]);
  await blockedOnLock(conn.pid);
  // Cancelled while the head runs: no CancelRequest yet (it would stop
  // the head).
  controller.abort();
  await locker.execute("SELECT pg_advisory_unlock_all()");
  assert.equal(await head, 7, "the head was not cancelled");
  const error = await middle.then(() => undefined, (e) => e);
  assert.ok(error !== undefined, "the cancelled query rejected");
  assert.ok(!(error instanceof QueryCanceledError), "with the cancellation");
  assert.equal(await tail, 9);
  assert.equal(
    await conn.fetchval("SELECT pg_advisory_unlock($1::int)", [102]),
    true,
  );
  assert.equal(await conn.fetchval("SELECT 'usable'"), "usable");
});

test("cancelling the running head (a timeout) leaves the queries behind it their results", async () => {
  await using conn = await connect(pg!.url);
  await using locker = await lock(103);
  const controller = new AbortController();
  const head = conn.fetch("SELECT pg_advisory_lock($1::int)", [103], {
    signal: controller.signal,
  });
  const behind = Array.from(
    { length: 5 },
    (_, i) => conn.fetchval<number>("SELECT $1::int AS v", [i]),
  );
  await blockedOnLock(conn.pid);
  controller.abort();
  await assert.rejects(head);
  assert.deepEqual(await Promise.all(behind), [0, 1, 2, 3, 4]);
  // A timeout on a query in the middle, with neighbours either side.
  const results = await Promise.allSettled([
    conn.fetchval("SELECT $1::int AS v", [1]),
    conn.fetch("SELECT pg_sleep(30)", [], { timeout: 100 }),
    conn.fetchval("SELECT $1::int AS v", [3]),
  ]);
  assert.deepEqual(results.map((r) => r.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
  assert.equal((results[2] as PromiseFulfilledResult<unknown>).value, 3);
  assert.equal(conn.inTransaction, false);
  assert.equal(await conn.fetchval("SELECT 'usable'"), "usable");
  await locker.execute("SELECT pg_advisory_unlock_all()");
});

test("other callers' queries wait for a transaction; calls made within it go on", async () => {
  await using conn = await connect(pg!.url);
  await conn.execute("CREATE TABLE pipeline_tx (n int)");
  const order: string[] = [];
  let release!: () => void;
  const inside = new Promise<void>((resolve) => release = resolve);
  let begun!: () => void;
  const started = new Promise<void>((resolve) => begun = resolve);
  const tx = conn.transaction(async (tx) => {
    await tx.execute("INSERT INTO pipeline_tx VALUES ($1)", [1]);
    begun();
    await inside;
    // The connection itself (not only the handle) works inside.
    const [a, b] = await Promise.all([
      conn.fetchval("SELECT count(*) FROM pipeline_tx"),
      tx.fetchval("SELECT $1::int AS v", [2]),
    ]);
    order.push("tx");
    return [a, b];
  });
  await started;
  // Issued while the transaction is open: must not run inside it.
  const outside = conn.fetchval<boolean>(
    "SELECT pg_current_xact_id_if_assigned() IS NULL AS outside",
  ).then((v) => {
    order.push("outside");
    return v;
  });
  const outsideExec = conn.execute("SELECT 1; SELECT 2");
  release();
  assert.deepEqual(await tx, [1n, 2]);
  assert.equal(await outside, true, "not in the transaction");
  assert.equal(await outsideExec, "SELECT 1");
  assert.deepEqual(order, ["tx", "outside"]);
  assert.equal(conn.inTransaction, false);
  await conn.execute("DROP TABLE pipeline_tx");
});

test("concurrent cache misses of one SQL share one Parse", async () => {
  await using conn = await connect(pg!.url);
  const sql = "SELECT $1::int + 100 AS v";
  const values = await Promise.all(
    Array.from({ length: 8 }, (_, i) => conn.fetchval<number>(sql, [i])),
  );
  assert.deepEqual(values, [100, 101, 102, 103, 104, 105, 106, 107]);
  const n = await conn.fetchval(
    "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1",
    [sql],
  );
  assert.equal(n, 1n);
});

test("exclusive calls wait for the pipeline and hold back later queries", async () => {
  await using conn = await connect(pg!.url);
  const results = await Promise.all([
    conn.fetchval("SELECT $1::int AS v", [1]),
    conn.execute(
      "CREATE TEMP TABLE pipeline_x (n int); INSERT INTO pipeline_x VALUES (5)",
    ),
    conn.fetchval("SELECT n FROM pipeline_x"),
    conn.prepare("SELECT $1::int * 2 AS v").then((s) => s.fetchval([21])),
    conn.fetchval("SELECT $1::int AS v", [3]),
  ]);
  assert.deepEqual(results, [1, "INSERT 0 1", 5, 42, 3]);
});

test("seeded rounds of pipelined queries, errors and cancels: every survivor gets its own value, the connection lives", async () => {
  await using conn = await connect(pg!.url);
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let round = 0; round < 5; round++) {
    const controllers: AbortController[] = [];
    const calls = Array.from({ length: 40 }, (_, i) => {
      const r = random();
      if (r < 0.15) {
        return conn.fetchval("SELECT 1 / $1::int AS v", [0]).then(
          () => "no error",
          (e) => e instanceof DivisionByZeroError ? "error" : String(e),
        );
      }
      const controller = new AbortController();
      const sleep = r < 0.4 ? 0.02 : 0;
      const promise = conn.fetchval<number>(
        "SELECT $1::int AS v FROM pg_sleep($2::float8)",
        [i, sleep],
        { signal: controller.signal },
      );
      if (r < 0.3) controllers.push(controller);
      return promise.then((v) => v, () => "cancelled");
    });
    // Cancel some of them at once, others once the first answers came.
    controllers.slice(0, 2).forEach((c) => c.abort());
    calls[5].then(() => controllers.slice(2).forEach((c) => c.abort()));
    const results = await Promise.all(calls);
    results.forEach((value, i) => {
      assert.ok(
        value === i || value === "error" || value === "cancelled",
        `call ${i} got ${String(value)}`,
      );
    });
    assert.ok(results.includes("error"));
    assert.ok(results.includes("cancelled"));
    assert.ok(results.filter((v) => typeof v === "number").length > 20);
    assert.equal(conn.closed, false);
    assert.equal(conn.inTransaction, false);
  }
  assert.equal(await conn.fetchval("SELECT 'usable'"), "usable");
});

test("a cursor holds its connection: other tasks' queries wait instead of running inside its transaction", async () => {
  await using conn = await connect(pg!.url);
  const seen: number[] = [];
  let other: PromiseLike<unknown[]> | undefined;
  let cursorTx: string | undefined;
  for await (
    const row of conn.cursor<{ g: number; tx: string }>(
      "SELECT g, txid_current()::text AS tx FROM generate_series(1, 10) g",
      [],
      { prefetch: 2 },
    )
  ) {
    seen.push(row.g);
    cursorTx = row.tx;
    if (row.g === 1) {
      // Another task, concurrently on the same connection: a read that
      // would see the cursor's transaction id, and an error that would
      // abort that transaction.
      other = createTask(() =>
        Promise.all([
          conn.fetchval<string | null>(
            "SELECT txid_current_if_assigned()::text",
          ),
          conn.fetchval("SELECT 1 / $1::int", [0]).then(
            () => "no error",
            (e) => e instanceof DivisionByZeroError ? "error" : e,
          ),
          conn.fetchval<boolean>("SELECT $1::int = 7", [7]),
        ])
      );
    }
    // The loop body yields to the other task between rows.
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const [txid, failed, seven] = await other!;
  assert.notEqual(txid, cursorTx);
  assert.equal(txid, null); // its own transaction, which wrote nothing
  assert.equal(failed, "error");
  assert.equal(seven, true);
  assert.equal(conn.inTransaction, false);
});

test("a cursor's loop body runs its own calls in the cursor's transaction, in a task or outside every scope", async () => {
  await using conn = await connect(pg!.url);
  await conn.execute("CREATE TEMP TABLE cursor_copy (g int)");
  const loop = async () => {
    const txids = new Set<string>();
    for await (
      const row of conn.cursor<{ g: number; tx: string }>(
        "SELECT g, txid_current()::text AS tx FROM generate_series(1, 6) g",
        [],
        { prefetch: 2 },
      )
    ) {
      // Used to wait for the loop's end: the loop never ended.
      await conn.execute("INSERT INTO cursor_copy VALUES ($1)", [row.g]);
      txids.add(row.tx);
      txids.add((await conn.fetchval<string>("SELECT txid_current()::text"))!);
    }
    return txids.size;
  };
  assert.equal(await loop(), 1); // outside every scope
  assert.equal(await createTask(loop), 1); // in a task
  // In a task of a group, the loop's own calls still join (scopes nest).
  assert.equal(await TaskGroup.run(async (tg) => await tg.createTask(loop)), 1);
  assert.equal(
    await conn.fetchval("SELECT count(*)::int FROM cursor_copy"),
    18,
  );
  assert.equal(conn.inTransaction, false);
});

test("a cursor cancelled mid-loop rolls back, closes its portal and lets waiting calls in", async () => {
  await using conn = await connect(pg!.url);
  // Another task (outside the cancelled scope) queries once the cursor runs.
  const started = Promise.withResolvers<void>();
  const waiting = (async () => {
    await started.promise;
    return await conn.fetchval<number>("SELECT $1::int", [42]);
  })();
  let rows = 0;
  await assert.rejects(
    timeout(150, async () => {
      for await (
        const _ of conn.cursor(
          "SELECT g FROM generate_series(1, 1000000) g",
          [],
          {
            prefetch: 10,
          },
        )
      ) {
        rows++;
        started.resolve();
        await new Promise((r) => setTimeout(r, 2));
      }
    }),
    TimeoutError,
  );
  assert.ok(rows > 0);
  assert.equal(await waiting, 42);
  assert.equal(conn.inTransaction, false);
  assert.equal(
    await conn.fetchval(
      "SELECT count(*)::int FROM pg_cursors WHERE name <> ''",
    ),
    0,
  );
  // Inside transaction() the cursor shares the transaction's turn: calls
  // in the loop body go on.
  const inner = await conn.transaction(async (tx) => {
    const got: number[] = [];
    for await (
      const row of conn.cursor<{ g: number }>(
        "SELECT g FROM generate_series(1, 4) g",
        [],
        { prefetch: 2 },
      )
    ) got.push(await tx.fetchval<number>("SELECT $1::int * 10", [row.g]));
    return got;
  });
  assert.deepEqual(inner, [10, 20, 30, 40]);
});

Deno.test({
  name: "stop the pipeline file's cluster",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await pg?.[Symbol.asyncDispose]();
});
