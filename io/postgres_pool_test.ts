// io/postgres_pool.ts against a real server (one throwaway cluster for the
// file; ignored loudly without PostgreSQL, failing when AIO_REQUIRE_PG=1).
import {
  createPool,
  type ListenGap,
  PoolClosedError,
  type PoolConnection,
} from "./postgres_pool.ts";
import { AdminShutdownError, ConnectionClosedError } from "./postgres.ts";
import {
  CancelledError,
  createTask,
  isCancellation,
  TaskGroup,
  timeout,
  TimeoutError,
} from "../async/mod.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready
  ? await startPostgres({ settings: { max_connections: 60 } })
  : undefined;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore }, fn);
}

async function busyBackends(): Promise<number> {
  const rows = await pg!.adminQuery(
    `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
       AND state <> 'idle' AND pid <> pg_backend_pid()`,
  );
  return Number(rows[0][0]);
}

test("acquire/release, the query methods on the pool, size/idle/waiting", async () => {
  await using pool = createPool(pg!.url, { max: 3 });
  assert.equal(pool.size, 0);
  {
    await using conn = await pool.acquire();
    assert.equal(pool.size, 1);
    assert.equal(pool.idle, 0);
    assert.equal(await conn.fetchval("SELECT 40 + $1::int", [2]), 42);
  }
  assert.equal(pool.idle, 1);
  await pool.execute("CREATE TABLE basics (id int, s text)");
  await pool.executemany("INSERT INTO basics VALUES ($1, $2)", [[1, "a"], [
    2,
    "b",
  ]]);
  assert.deepEqual(await pool.fetch("SELECT * FROM basics ORDER BY id"), [
    { id: 1, s: "a" },
    { id: 2, s: "b" },
  ]);
  assert.deepEqual(await pool.fetchrow("SELECT s FROM basics WHERE id = 2"), {
    s: "b",
  });
  const n = await pool.transaction(async (tx) => {
    await tx.execute("DELETE FROM basics WHERE id = $1", [1]);
    return await tx.fetchval("SELECT count(*)::int FROM basics");
  });
  assert.equal(n, 1);
  await assert.rejects(
    pool.transaction(async (tx) => {
      await tx.execute("DELETE FROM basics");
      throw new Error("undo");
    }),
    /undo/,
  );
  assert.equal(await pool.fetchval("SELECT count(*)::int FROM basics"), 1);
  const conn = await pool.acquire();
  await conn.release();
  await assert.rejects(conn.fetch("SELECT 1"), /released/);
  assert.equal(pool.size, 1);
  assert.equal(pool.waiting, 0);
});

test("an exhausted pool serves waiters FIFO, skips cancelled ones, and times out naming its state", async () => {
  await using pool = createPool(pg!.url, { max: 2 });
  const a = await pool.acquire();
  const b = await pool.acquire();
  const order: string[] = [];
  const got: Record<string, PoolConnection> = {};
  const controller = new AbortController();
  const w1 = pool.acquire().then((c) => (order.push("w1"), got.w1 = c));
  const w2 = pool.acquire({ signal: controller.signal });
  const w3 = pool.acquire().then((c) => (order.push("w3"), got.w3 = c));
  assert.equal(pool.waiting, 3);
  controller.abort();
  await assert.rejects(w2, CancelledError);
  assert.equal(pool.waiting, 2);
  const pidA = a.pid;
  await a.release();
  await w1;
  assert.equal(got.w1.pid, pidA); // the first released connection
  await b.release();
  await w3;
  assert.deepEqual(order, ["w1", "w3"]);
  const start = performance.now();
  const error = await pool.acquire({ timeout: 100 }).catch((e) => e);
  assert.ok(error instanceof TimeoutError);
  assert.match(error.message, /size 2, busy 2, idle 0, waiting 1, max 2/);
  assert.ok(performance.now() - start >= 90);
  // A scope's timeout is honoured the same way, and leaves no waiter.
  await assert.rejects(timeout(50, () => pool.acquire()), TimeoutError);
  assert.equal(pool.waiting, 0);
  await got.w1.release();
  await got.w3.release();
  assert.equal(pool.idle, 2);
});

test("a connection comes back clean after an open transaction, SET and LISTEN", async () => {
  await using pool = createPool(pg!.url, { max: 1 });
  let pid: number;
  {
    await using conn = await pool.acquire();
    pid = conn.pid;
    await conn.execute("LISTEN somewhere");
    await conn.execute("BEGIN");
    await conn.execute("CREATE TABLE left_open (id int)");
    await conn.execute("SET search_path TO nowhere");
    assert.equal(conn.inTransaction, true);
  }
  const conn = await pool.acquire();
  assert.equal(conn.pid, pid); // the same connection, reset
  assert.equal(conn.inTransaction, false);
  assert.equal(await conn.fetchval("SHOW search_path"), '"$user", public');
  assert.equal(
    await conn.fetchval("SELECT count(*)::int FROM pg_listening_channels()"),
    0,
  );
  assert.equal(
    await conn.fetchval("SELECT to_regclass('left_open') IS NULL"),
    true,
  );
  await conn.release();
  // A SET inside a committed transaction (nested too) is reset as well.
  await pool.transaction(async (tx) => {
    await tx.transaction(async (inner) => {
      await inner.execute("SET statement_timeout TO 12345");
    });
  });
  assert.equal(await pool.fetchval("SHOW statement_timeout"), "0");
});

test("pg_terminate_backend of a busy connection fails its query; the pool discards it and goes on", async () => {
  await using pool = createPool(pg!.url, { max: 2 });
  const conn = await pool.acquire();
  const pid = conn.pid;
  const sleeping = conn.fetch("SELECT pg_sleep(10)");
  while ((await busyBackends()) === 0) {
    await new Promise((r) => setTimeout(r, 10));
  }
  await pg!.adminQuery(`SELECT pg_terminate_backend(${pid})`);
  const error = await sleeping.catch((e) => e);
  assert.ok(
    error instanceof AdminShutdownError ||
      error instanceof ConnectionClosedError,
    String(error),
  );
  await conn.release();
  assert.equal(pool.size, 0);
  const next = await pool.fetchval<number>("SELECT pg_backend_pid()");
  assert.notEqual(next, pid);
});

test("init runs once per connection, setup per acquire; their errors discard the connection and reach the caller", async () => {
  let inits = 0;
  let setups = 0;
  await using pool = createPool(pg!.url, {
    max: 1,
    init: async (conn) => {
      inits++;
      await conn.execute("SET application_name TO 'pooled'");
    },
    setup: () => {
      setups++;
      if (setups === 3) throw new Error("setup refused");
    },
  });
  assert.equal(await pool.fetchval("SHOW application_name"), "pooled");
  assert.equal(await pool.fetchval("SELECT 1"), 1);
  await assert.rejects(pool.fetchval("SELECT 1"), /setup refused/);
  assert.equal(await pool.fetchval("SELECT 2"), 2);
  assert.equal(inits, 2); // a new connection after the failed setup
  assert.equal(setups, 4);
  await using bad = createPool(pg!.url, {
    init: () => {
      throw new Error("init refused");
    },
  });
  await assert.rejects(bad.fetch("SELECT 1"), /init refused/);
  assert.equal(bad.size, 0);
});

test("close() waits for acquired connections and refuses new acquires; terminate() closes at once", async () => {
  const pool = createPool(pg!.url, { max: 1 });
  const conn = await pool.acquire();
  const waiter = pool.acquire();
  let closed = false;
  const closing = pool.close().then(() => closed = true);
  await assert.rejects(waiter, PoolClosedError);
  await assert.rejects(pool.acquire(), PoolClosedError);
  assert.equal(await conn.fetchval("SELECT 'still mine'"), "still mine");
  assert.equal(closed, false);
  await conn.release();
  await closing;
  assert.equal(closed, true);
  assert.equal(pool.size, 0);

  const pool2 = createPool(pg!.url);
  const c2 = await pool2.acquire();
  const running = c2.fetch("SELECT pg_sleep(10)");
  pool2.terminate();
  await assert.rejects(running, ConnectionClosedError);
  await pool2.close();
});

test("close({ timeout }) terminates connections never released once the timeout passes", async () => {
  const pool = createPool(pg!.url, { max: 3 });
  const forgotten = await pool.acquire();
  const pid = await forgotten.fetchval<number>("SELECT pg_backend_pid()");
  const running = forgotten.fetch("SELECT pg_sleep(30)");
  const returned = await pool.acquire();
  // Released in time: it is closed gracefully, not terminated.
  setTimeout(() => returned.release(), 20);
  let closed = false;
  const closing = pool.close({ timeout: 300 }).then(() => closed = true);
  await assert.rejects(pool.acquire(), PoolClosedError);
  await assert.rejects(running, ConnectionClosedError);
  await closing;
  assert.equal(closed, true);
  assert.equal(pool.size, 0);
  await assert.rejects(forgotten.fetch("SELECT 1"), ConnectionClosedError);
  await forgotten.release(); // late: nothing to do, no error
  // Its backend ends (the server notices the closed socket).
  const start = performance.now();
  while (performance.now() - start < 5_000) {
    const rows = await pg!.adminQuery(
      `SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`,
    );
    if (Number(rows[0][0]) === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rows = await pg!.adminQuery(
    `SELECT count(*) FROM pg_stat_activity WHERE pid = ${pid}`,
  );
  assert.equal(Number(rows[0][0]), 0);
  await assert.rejects(
    createPool(pg!.url).close({ timeout: -1 }),
    RangeError,
  );
  await assert.rejects(
    createPool(pg!.url).close({ timeout: "1" as unknown as number }),
    TypeError,
  );
});

test("close({ timeout }) with nothing acquired closes at once and leaves no timer", async () => {
  const pool = createPool(pg!.url, { max: 2 });
  assert.equal(await pool.fetchval("SELECT 1"), 1);
  await pool.close({ timeout: 60_000 });
  assert.equal(pool.size, 0);
  assert.equal(pool.closed, true);
});

test("min connections open in the background; idleTimeout closes those above min", async () => {
  await using pool = createPool(pg!.url, { min: 2, max: 4, idleTimeout: 50 });
  const conns = await Promise.all([1, 2, 3].map(() => pool.acquire()));
  for (const c of conns) await c.release();
  assert.equal(pool.size, 3);
  const start = performance.now();
  while (pool.size > 2 && performance.now() - start < 5_000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(pool.size, 2);
});

test("maxQueries and maxLifetime retire connections on release", async () => {
  await using pool = createPool(pg!.url, { max: 1, maxQueries: 2 });
  const first = await pool.fetchval("SELECT pg_backend_pid()");
  const second = await pool.fetchval("SELECT pg_backend_pid()");
  const third = await pool.fetchval("SELECT pg_backend_pid()");
  assert.equal(first, second);
  assert.notEqual(second, third);
  await using young = createPool(pg!.url, { max: 1, maxLifetime: 0 });
  const p1 = await young.fetchval("SELECT pg_backend_pid()");
  const p2 = await young.fetchval("SELECT pg_backend_pid()");
  assert.notEqual(p1, p2);
});

test("server restart while 10 tasks loop: errors only during the outage, then every task succeeds with the same pool", async () => {
  await using pool = createPool(pg!.url, { max: 10, acquireTimeout: 30_000 });
  let restarted = -1;
  let lateErrors = 0;
  let early = 0;
  const after = new Array(10).fill(0);
  await TaskGroup.run(async (tg) => {
    for (let t = 0; t < 10; t++) {
      tg.createTask(async () => {
        for (let i = 0; after[t] < 20; i++) {
          const started = performance.now();
          try {
            const v = await pool.fetchval<number>("SELECT $1::int + 1", [i]);
            assert.equal(v, i + 1);
            if (restarted >= 0 && started > restarted) after[t]++;
          } catch (error) {
            if (restarted >= 0 && started > restarted) lateErrors++;
            else early++;
            assert.ok(!(error instanceof TypeError), String(error));
          }
        }
      });
    }
    await new Promise((r) => setTimeout(r, 100));
    await pg!.restart();
    restarted = performance.now();
  });
  assert.equal(lateErrors, 0);
  assert.deepEqual(after, new Array(10).fill(20));
  assert.ok(pool.size <= 10);
  void early; // queries in flight at the shutdown fail (0 or more)
});

// A TCP proxy that can stop forwarding: a half-open connection.
class Proxy implements AsyncDisposable {
  #listener: Deno.TcpListener;
  #pairs: { frozen: boolean; sockets: Deno.TcpConn[] }[] = [];
  #pumps: Promise<void>[] = [];
  #accepting: Promise<void>;
  constructor(target: number) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#listener = listener;
    this.#accepting = (async () => {
      for await (const client of listener) {
        let server: Deno.TcpConn;
        try {
          server = await Deno.connect({ hostname: "127.0.0.1", port: target });
        } catch {
          client.close();
          continue;
        }
        const pair = { frozen: false, sockets: [client, server] };
        this.#pairs.push(pair);
        this.#pumps.push(this.#pump(client, server, pair));
        this.#pumps.push(this.#pump(server, client, pair));
      }
    })();
  }
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }
  async #pump(
    from: Deno.TcpConn,
    to: Deno.TcpConn,
    pair: { frozen: boolean },
  ): Promise<void> {
    const buf = new Uint8Array(16 * 1024);
    try {
      while (true) {
        const n = await from.read(buf);
        if (n === null) break;
        if (pair.frozen) continue; // swallowed: the peer never hears of it
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* closed */ }
    if (!pair.frozen) {
      try {
        to.close();
      } catch { /* closed */ }
    }
  }
  freezeAll(): void {
    for (const p of this.#pairs) p.frozen = true;
  }
  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    await this.#accepting.catch(() => {});
    for (const p of this.#pairs) {
      for (const s of p.sockets) {
        try {
          s.close();
        } catch { /* closed */ }
      }
    }
    await Promise.all(this.#pumps);
  }
}

test("a half-open socket: the query fails soon after its deadline (cancel grace 2 s), and the pool recovers", async () => {
  await using proxy = new Proxy(pg!.port);
  const url = new URL(pg!.url);
  url.port = String(proxy.port);
  await using pool = createPool(url.href, { max: 1 });
  assert.equal(await pool.fetchval("SELECT 1"), 1);
  proxy.freezeAll();
  const start = performance.now();
  await assert.rejects(
    pool.fetchval("SELECT 2", [], { timeout: 200 }),
    TimeoutError,
  );
  const took = performance.now() - start;
  // The CancelRequest (over a new socket) reaches the server, but the old
  // socket never brings the answer: the connection is closed 2 s after
  // the deadline (was 10 s).
  assert.ok(took >= 190 && took < 4_000, `took ${took} ms`);
  assert.equal(await pool.fetchval("SELECT 3"), 3);
});

test("liveness check: a connection idle past livenessCheckAfter whose socket went silent is replaced; the caller never sees it", async () => {
  await using proxy = new Proxy(pg!.port);
  const url = new URL(pg!.url);
  url.port = String(proxy.port);
  await using pool = createPool(url.href, { max: 1, livenessCheckAfter: 0 });
  const before = await pool.fetchval<number>("SELECT pg_backend_pid()");
  proxy.freezeAll();
  const start = performance.now();
  // No deadline of its own: the check's (1 s) is what keeps it short.
  const after = await pool.fetchval<number>("SELECT pg_backend_pid()");
  const took = performance.now() - start;
  assert.notEqual(after, before);
  assert.ok(took < 4_000, `took ${took} ms`);
  assert.equal(pool.size, 1);
  assert.equal(pool.idle, 1);
  // Its backend is gone or going: the proxy's server side is still open,
  // so it idles until the proxy closes; nothing of ours holds it.
  {
    await using conn = await pool.acquire();
    assert.equal(await conn.fetchval("SELECT 7"), 7);
  }
});

test("LISTEN/NOTIFY: notifications arrive, survive a backend termination (gap reported), never twice", async () => {
  await using pool = createPool(pg!.url, { max: 2 });
  const gaps: ListenGap[] = [];
  await using sub = await pool.listen("events", {
    onGap: (gap) => gaps.push(gap),
  });
  await using other = await pool.listen("other");
  await pool.notify("events", "one");
  await pool.notify("other", "x");
  const first = await sub.next();
  assert.equal(first.value?.payload, "one");
  assert.equal(first.value?.channel, "events");
  assert.ok(first.value!.pid > 0);
  assert.equal((await other.next()).value?.payload, "x");
  // Kill every backend, the listener's included.
  await pg!.terminateBackends();
  const start = performance.now();
  while (sub.gaps === 0 && performance.now() - start < 10_000) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(sub.gaps, 1);
  assert.equal(gaps.length, 1);
  assert.ok(gaps[0].backAt >= gaps[0].lostAt);
  await pool.notify("events", "two");
  await pool.notify("events", "three");
  const seen: string[] = [];
  for await (const n of sub) {
    seen.push(n.payload);
    if (seen.length === 2) break;
  }
  assert.deepEqual(seen, ["two", "three"]);
  // Nothing else queued: no duplicate.
  await assert.rejects(timeout(100, () => sub.next()), TimeoutError);
  await other.close();
  assert.equal((await other.next()).done, true);
});

test("load: 200 tasks x 500 queries over a pool of 10 with random cancellations and timeouts; every result right, no leaks", async () => {
  const max = 10;
  await using pool = createPool(pg!.url, { max });
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let ok = 0;
  let cancelled = 0;
  const tasks = 200;
  // 100 000 queries. A cancel that reaches the server costs a CancelRequest
  // (a new socket and a forked process, ~20 ms here), so those are rarer
  // than the cancels that hit a call waiting for a connection.
  const perTask = 500;
  await TaskGroup.run((tg) => {
    for (let t = 0; t < tasks; t++) {
      tg.createTask(async () => {
        for (let i = 0; i < perTask; i++) {
          const n = t * 1000 + i;
          const r = random();
          try {
            let v: number | undefined;
            if (r < 0.015) {
              // cancelled while waiting or while running on the server
              v = await timeout(
                1 + Math.floor(random() * 5),
                () =>
                  pool.fetchval<number>(
                    "SELECT $1::int + pg_sleep(0.01)::text::int * 0",
                    [n],
                  ).catch((e) => {
                    throw e;
                  }),
              );
            } else if (r < 0.017) {
              // a query timeout: always cancelled on the server
              v = await pool.fetchval<number>(
                "SELECT $1::int FROM pg_sleep(0.05)",
                [n],
                { timeout: 5 },
              );
            } else if (r < 0.022) {
              // a signal aborted at a random moment
              const controller = new AbortController();
              const id = setTimeout(
                () => controller.abort(),
                Math.floor(random() * 4),
              );
              try {
                v = await pool.fetchval<number>(
                  "SELECT $1::int FROM pg_sleep(0.002)",
                  [n],
                  { signal: controller.signal },
                );
              } finally {
                clearTimeout(id);
              }
            } else if (r < 0.032) {
              // an acquire that may time out in the line
              await using conn = await pool.acquire({ timeout: 2 });
              v = await conn.fetchval<number>("SELECT $1::int", [n]);
            } else if (r < 0.052) {
              const task = createTask(() =>
                pool.fetchval<number>("SELECT $1::int", [n])
              );
              task.cancel();
              v = await task;
            } else {
              v = await pool.fetchval<number>("SELECT $1::int", [n]);
            }
            assert.equal(v, n);
            ok++;
          } catch (error) {
            if (!(error instanceof TimeoutError) && !isCancellation(error)) {
              throw error;
            }
            cancelled++;
          }
          assert.ok(pool.size <= max);
        }
      });
    }
  });
  assert.equal(ok + cancelled, tasks * perTask);
  assert.ok(ok > tasks * perTask * 0.9);
  // The cancelled tasks and the query timeouts alone are > 2 %.
  assert.ok(cancelled > tasks * perTask * 0.02, `${cancelled} cancelled`);
  assert.ok(pool.size <= max);
  assert.equal(pool.idle, pool.size);
  assert.equal(pool.waiting, 0);
  assert.equal(await busyBackends(), 0);
});

// Close the cluster after the last test.
Deno.test({
  name: "(cluster teardown)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await pg?.[Symbol.asyncDispose]();
  },
});
