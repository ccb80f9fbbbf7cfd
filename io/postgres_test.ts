// io/postgres.ts against a real server (one throwaway cluster for the file,
// from testing/postgres.ts; the tests are ignored, loudly, where there is no
// PostgreSQL, and fail instead when AIO_REQUIRE_PG=1).
import {
  AdminShutdownError,
  connect,
  type Connection,
  ConnectionClosedError,
  InvalidPasswordError,
  InvalidTextRepresentationError,
  PostgresDecodeError,
  PostgresError,
  type PostgresFields,
  PostgresSyntaxError,
  ProtocolError,
  QueryCanceledError,
  UndefinedTableError,
  UniqueViolationError,
} from "./postgres.ts";
import {
  CancelledError,
  createTask,
  TaskGroup,
  timeout,
  TimeoutError,
} from "../async/mod.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import { copyData, copyDone, query, Writer } from "./_postgres_protocol.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready ? await startPostgres({ auth: "md5" }) : undefined;

function open(
  options: Parameters<typeof connect>[1] = {},
): Promise<Connection> {
  return connect(pg!.url, options);
}

async function backendState(pid: number): Promise<string | null> {
  const rows = await pg!.adminQuery(
    `SELECT state FROM pg_stat_activity WHERE pid = ${pid}`,
  );
  return rows[0]?.[0] ?? null;
}

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore }, fn);
}

test("connect() with md5 runs fetch, fetchrow, fetchval and execute", async () => {
  await using conn = await open();
  assert.ok(conn.pid > 0);
  const rows = await conn.fetch(
    "SELECT 1 AS one, 'two' AS two, $1::int AS three",
    [3],
  );
  assert.deepEqual(rows, [{ one: 1, two: "two", three: 3 }]);
  assert.deepEqual(Object.keys(rows[0]), ["one", "two", "three"]);
  assert.deepEqual(await conn.fetchrow("SELECT 1 AS a WHERE false"), null);
  assert.deepEqual(await conn.fetchrow("SELECT 7 AS a"), { a: 7 });
  assert.equal(await conn.fetchval("SELECT 1 + 1"), 2);
  assert.equal(await conn.fetchval("SELECT 1 WHERE false"), undefined);
  assert.equal(
    await conn.execute(
      "CREATE TEMP TABLE e (id int); INSERT INTO e VALUES (1), (2); UPDATE e SET id = id + 1",
    ),
    "UPDATE 2",
  );
  assert.equal(
    await conn.execute("DELETE FROM e WHERE id > $1", [2]),
    "DELETE 1",
  );
  assert.equal(conn.serverParameter("client_encoding"), "UTF8");
});

test("the seed's example: create users, fetch with $1, rows by name", async () => {
  await using conn = await open();
  await conn.execute(
    "CREATE TEMP TABLE users (id serial PRIMARY KEY, name text NOT NULL, age int NOT NULL)",
  );
  await conn.executemany("INSERT INTO users (name, age) VALUES ($1, $2)", [
    ["ada", 36],
    ["bob", 17],
    ["cy", 52],
  ]);
  const rows = await conn.fetch(
    "SELECT name, age FROM users WHERE age > $1 ORDER BY age",
    [18],
  );
  assert.deepEqual(rows, [{ name: "ada", age: 36 }, { name: "cy", age: 52 }]);
});

test("SCRAM-SHA-256 and trust over the Unix socket; a wrong password is named", async () => {
  await pg!.adminQuery(
    "SET password_encryption = 'scram-sha-256'; CREATE ROLE u_scram LOGIN PASSWORD 'sc-pw'",
  );
  {
    await using conn = await connect({
      host: pg!.host,
      port: pg!.port,
      user: "u_scram",
      password: "sc-pw",
      database: "postgres",
      sslmode: "disable",
    });
    assert.equal(await conn.fetchval("SELECT current_user"), "u_scram");
    const method = await pg!.adminQuery(
      `SELECT 1 FROM pg_authid WHERE rolname = 'u_scram' AND rolpassword LIKE 'SCRAM-SHA-256$%'`,
    );
    assert.equal(method.length, 1);
  }
  {
    // The helper's admin role logs in with trust over the socket.
    await using conn = await connect({
      host: pg!.socketDir,
      port: pg!.port,
      user: "aio_admin",
      database: "postgres",
    });
    assert.equal(await conn.fetchval("SELECT current_user"), "aio_admin");
  }
  await assert.rejects(
    connect({
      host: pg!.host,
      port: pg!.port,
      user: "u_scram",
      password: "wrong",
      database: "postgres",
      sslmode: "disable",
    }),
    (error: PostgresError) => {
      assert.ok(error instanceof InvalidPasswordError);
      assert.equal(error.code, "28P01");
      assert.doesNotMatch(error.message, /wrong/);
      return true;
    },
  );
  await assert.rejects(
    connect(pg!.url, { password: "nope" }),
    InvalidPasswordError,
  );
});

test("connect() URLs: postgresql://, percent-encoding, ?host= for a socket, settings", async () => {
  await pg!.adminQuery(
    "SET password_encryption = 'md5'; CREATE ROLE \"u:odd@\" LOGIN PASSWORD 'p@ss:w/rd %'",
  );
  {
    const url = `postgresql://${encodeURIComponent("u:odd@")}:${
      encodeURIComponent("p@ss:w/rd %")
    }@${pg!.host}:${
      pg!.port
    }/postgres?sslmode=disable&application_name=odd&search_path=pg_catalog`;
    await using conn = await connect(url);
    assert.equal(await conn.fetchval("SELECT current_user"), "u:odd@");
    assert.equal(await conn.fetchval("SHOW application_name"), "odd");
    assert.equal(await conn.fetchval("SHOW search_path"), "pg_catalog");
  }
  {
    const url = `postgres://aio_admin@/postgres?host=${
      encodeURIComponent(pg!.socketDir)
    }&port=${pg!.port}`;
    await using conn = await connect(url, {
      serverSettings: { statement_timeout: "1234" },
    });
    assert.equal(await conn.fetchval("SHOW statement_timeout"), "1234ms");
  }
  await assert.rejects(connect("mysql://x@y/z"), /scheme must be postgres/);
  await assert.rejects(connect("not a url"), /not a URL/);
  await assert.rejects(connect({ port: 70000 }), RangeError);
  await assert.rejects(
    connect({ sslmode: "sometimes" as "prefer" }),
    /sslmode must be one of/,
  );
});

test("connect() reads the PG* environment variables", async () => {
  const keys = [
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGAPPNAME",
  ];
  const saved = keys.map((k) => Deno.env.get(k));
  try {
    Deno.env.set("PGHOST", pg!.host);
    Deno.env.set("PGPORT", String(pg!.port));
    Deno.env.set("PGUSER", pg!.user);
    Deno.env.set("PGPASSWORD", pg!.password);
    Deno.env.set("PGDATABASE", pg!.database);
    Deno.env.set("PGSSLMODE", "disable");
    Deno.env.set("PGAPPNAME", "aio-env-test");
    await using conn = await connect();
    assert.equal(
      await conn.fetchval("SELECT current_setting('application_name')"),
      "aio-env-test",
    );
  } finally {
    keys.forEach((k, i) =>
      saved[i] === undefined ? Deno.env.delete(k) : Deno.env.set(k, saved[i]!)
    );
  }
});

test("server errors carry their fields and the query, never the arguments", async () => {
  await using conn = await open();
  await conn.execute(
    "CREATE TEMP TABLE uq (id int CONSTRAINT uq_pk PRIMARY KEY, s text)",
  );
  await conn.execute("INSERT INTO uq VALUES ($1, $2)", [1, "secret-value"]);
  const sql = "INSERT INTO uq VALUES ($1, $2)";
  await assert.rejects(
    conn.execute(sql, [1, "secret-value"]),
    (error: UniqueViolationError) => {
      assert.ok(error instanceof UniqueViolationError);
      assert.ok(error instanceof PostgresError);
      assert.equal(error.code, "23505");
      assert.equal(error.severity, "ERROR");
      assert.equal(error.table, "uq");
      assert.equal(error.constraint, "uq_pk");
      assert.match(error.detail!, /Key \(id\)=\(1\)/);
      assert.equal(error.query, sql);
      assert.doesNotMatch(error.message + String(error.query), /secret-value/);
      return true;
    },
  );
  await assert.rejects(
    conn.fetch("SELECT * FROM missing_table"),
    UndefinedTableError,
  );
  await assert.rejects(conn.fetch("SELEC 1"), (error: PostgresSyntaxError) => {
    assert.ok(error instanceof PostgresSyntaxError);
    assert.equal(error.position, 1);
    return true;
  });
  await assert.rejects(
    conn.fetch("SELECT 'x'::int"),
    InvalidTextRepresentationError,
  );
  // The connection is still good.
  assert.equal(await conn.fetchval("SELECT 5"), 5);
});

test("bad arguments are refused before anything is sent; the connection still works", async () => {
  await using conn = await open();
  await assert.rejects(
    conn.fetch("SELECT $1::int, $2::int", [1]),
    /has 2 parameters \(\$1\.\.\$2\) but 1 argument was given/,
  );
  await assert.rejects(
    conn.fetch("SELECT $1::int", ["abc"]),
    /argument \$1 cannot be sent as int4: expected an integer/,
  );
  await assert.rejects(
    conn.fetch("SELECT $1::int", [undefined]),
    /argument \$1 is undefined \(use null/,
  );
  await assert.rejects(conn.fetch("SELECT $1::int2", [40000]), /int2's range/);
  await assert.rejects(conn.fetch("SELECT $1::int8", [1.5]), /int8/);
  await assert.rejects(
    conn.fetch("SELECT $1::bool", [1]),
    /expected a boolean/,
  );
  await assert.rejects(
    conn.fetch("SELECT 1", "x" as unknown as unknown[]),
    TypeError,
  );
  await assert.rejects(conn.fetch(42 as unknown as string), TypeError);
  await assert.rejects(
    conn.executemany("SELECT $1::int", [[1], ["zz"]]),
    /argument \$1/,
  );
  assert.equal(await conn.fetchval("SELECT $1::int", [41]), 41);
  await conn.close();
  await assert.rejects(conn.fetch("SELECT 1"), ConnectionClosedError);
  assert.equal(conn.closed, true);
  await conn.close(); // idempotent
});

test("timeout() cancels the query on the server; the connection stays usable", async () => {
  await using conn = await open();
  const start = performance.now();
  await assert.rejects(
    timeout(50, () => conn.fetch("SELECT pg_sleep(10)")),
    TimeoutError,
  );
  const elapsed = performance.now() - start;
  assert.ok(elapsed < 500, `took ${elapsed} ms`);
  // The await settled only after the server answered: the backend is idle.
  assert.equal(await backendState(conn.pid), "idle");
  assert.equal(await conn.fetchval("SELECT 1"), 1);
  // The query option does the same.
  await assert.rejects(
    conn.fetch("SELECT pg_sleep(10)", [], { timeout: 30 }),
    TimeoutError,
  );
  assert.equal(await conn.fetchval("SELECT 2"), 2);
  await assert.rejects(
    conn.execute("SELECT pg_sleep(10)", [], { timeout: 30 }),
    TimeoutError,
  );
  assert.equal(await conn.fetchval("SELECT 3"), 3);
});

test("a TaskGroup sibling's failure and an aborted signal cancel on the server", async () => {
  await using conn = await open();
  const boom = new Error("sibling failed");
  await assert.rejects(
    TaskGroup.run(async (tg) => {
      tg.createTask(() => conn.fetch("SELECT pg_sleep(10)"));
      tg.createTask(async () => {
        await conn.fetchval("SELECT 1").catch(() => {}); // queued behind the sleep
      });
      await new Promise((r) => setTimeout(r, 30));
      throw boom;
    }),
    (error: AggregateError) => error.errors.includes(boom),
  );
  assert.equal(await backendState(conn.pid), "idle");
  const controller = new AbortController();
  const query = assert.rejects(
    conn.fetch("SELECT pg_sleep(10)", [], { signal: controller.signal }),
    CancelledError,
  );
  setTimeout(() => controller.abort(), 30);
  await query;
  assert.equal(await backendState(conn.pid), "idle");
  assert.equal(await conn.fetchval("SELECT 4"), 4);
  // A cancel from elsewhere (pg_cancel_backend) is the server's error.
  const other = assert.rejects(
    conn.fetch("SELECT pg_sleep(10)"),
    QueryCanceledError,
  );
  await new Promise((r) => setTimeout(r, 30));
  await pg!.adminQuery(`SELECT pg_cancel_backend(${conn.pid})`);
  await other;
});

test("concurrent calls run in call order; a cancelled waiter leaves the line untouched", async () => {
  await using conn = await open();
  await conn.execute("CREATE TEMP TABLE log (n int)");
  const order: number[] = [];
  const calls = [1, 2, 3, 4, 5].map((n) =>
    conn.execute("INSERT INTO log VALUES ($1)", [n]).then(() => order.push(n))
  );
  const waiter = createTask(() => conn.execute("INSERT INTO log VALUES (99)"));
  waiter.cancel();
  await Promise.all(calls);
  await assert.rejects(waiter, CancelledError);
  assert.deepEqual(order, [1, 2, 3, 4, 5]);
  const rows = await conn.fetch("SELECT n FROM log ORDER BY n");
  assert.deepEqual(rows.map((r) => r.n), [1, 2, 3, 4, 5]);
});

test("transaction() commits, rolls back on throw and on cancel, nests savepoints", async () => {
  await using conn = await open();
  await conn.execute("CREATE TEMP TABLE tx (n int)");
  const value = await conn.transaction(async (tx) => {
    await tx.execute("INSERT INTO tx VALUES (1)");
    return 42;
  });
  assert.equal(value, 42);
  const boom = new Error("boom");
  await assert.rejects(
    conn.transaction(async (tx) => {
      await tx.execute("INSERT INTO tx VALUES (2)");
      throw boom;
    }),
    boom,
  );
  await assert.rejects(
    timeout(50, () =>
      conn.transaction(async (tx) => {
        await tx.execute("INSERT INTO tx VALUES (3)");
        await tx.fetch("SELECT pg_sleep(10)");
      })),
    TimeoutError,
  );
  assert.equal(conn.inTransaction, false);
  await conn.transaction(async (tx) => {
    await tx.execute("INSERT INTO tx VALUES (4)");
    await assert.rejects(
      tx.transaction(async (inner) => {
        await inner.execute("INSERT INTO tx VALUES (5)");
        throw boom;
      }),
      boom,
    );
    await tx.transaction((inner) => inner.execute("INSERT INTO tx VALUES (6)"));
  });
  const rows = await conn.fetch("SELECT n FROM tx ORDER BY n");
  assert.deepEqual(rows.map((r) => r.n), [1, 4, 6]);
  for (
    const isolation of [
      "read committed",
      "repeatable read",
      "serializable",
    ] as const
  ) {
    const shown = await conn.transaction(
      (tx) => tx.fetchval("SHOW transaction_isolation"),
      { isolation, readOnly: true },
    );
    assert.equal(shown, isolation);
  }
  await assert.rejects(
    conn.transaction((tx) => tx.execute("CREATE TABLE ro_t (n int)"), {
      readOnly: true,
    }),
    (error: PostgresError) => error.code === "25006",
  );
});

test("a cancel that lands during COMMIT: the COMMIT finishes, the outcome is definite", async () => {
  await using conn = await open();
  // A deferred constraint trigger makes COMMIT itself take 300 ms.
  await conn.execute(`
    CREATE TEMP TABLE slow_commit (n int);
    CREATE FUNCTION pg_temp.sleepy() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$;
    CREATE CONSTRAINT TRIGGER slow AFTER INSERT ON slow_commit
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.sleepy();
  `);
  const start = performance.now();
  const value = await timeout(100, () =>
    conn.transaction(async (tx) => {
      await tx.execute("INSERT INTO slow_commit VALUES (1)");
      return "committed";
    }));
  // The deadline passed during COMMIT, which ran to its end (shielded):
  // the transaction reports success, and the row is there.
  assert.ok(performance.now() - start >= 250);
  assert.equal(value, "committed");
  assert.equal(await conn.fetchval("SELECT count(*)::int FROM slow_commit"), 1);
  assert.equal(conn.inTransaction, false);
});

test("the request seam carries a COPY out and in (what the next layer builds on)", async () => {
  await using conn = await open();
  const w = new Writer();
  const text = new TextDecoder();
  const out: string[] = [];
  query(w, "COPY (SELECT i, 'r' || i FROM generate_series(1, 3) i) TO STDOUT");
  const copied = await conn._exclusive(() =>
    conn._request(w.finish(), {
      onMessage(type, buf, start, end) {
        if (type !== 0x64) return false; // CopyData
        out.push(text.decode(buf.subarray(start, end)));
        return true;
      },
      result: () => out.join(""),
    }, "COPY TO")
  );
  assert.equal(copied, "1\tr1\n2\tr2\n3\tr3\n");
  await conn.execute("CREATE TEMP TABLE copied (n int, s text)");
  query(w, "COPY copied FROM STDIN");
  await conn._exclusive(() =>
    conn._request(w.finish(), {
      onMessage(type) {
        if (type !== 0x47) return false; // CopyInResponse: send the rows
        const data = new Writer();
        copyData(data, new TextEncoder().encode(copied as string));
        copyDone(data);
        conn._send(data.finish());
        return true;
      },
      result: () => undefined,
    }, "COPY FROM")
  );
  assert.deepEqual(await conn.fetch("SELECT * FROM copied ORDER BY n"), [
    { n: 1, s: "r1" },
    { n: 2, s: "r2" },
    { n: 3, s: "r3" },
  ]);
  let closedWith: Error | undefined;
  conn._onClose = (reason) => closedWith = reason;
  await conn.close();
  assert.ok(closedWith instanceof ConnectionClosedError);
});

test("executemany is one pipelined batch: all or nothing", async () => {
  await using conn = await open();
  await conn.execute("CREATE TEMP TABLE many (id int PRIMARY KEY, s text)");
  const batch = Array.from({ length: 1000 }, (_, i) => [i, `s${i}`]);
  await conn.executemany("INSERT INTO many VALUES ($1, $2)", batch);
  assert.equal(await conn.fetchval("SELECT count(*) FROM many"), 1000n);
  await assert.rejects(
    conn.executemany("INSERT INTO many VALUES ($1, $2)", [[2000, "a"], [
      1,
      "dup",
    ], [2001, "b"]]),
    UniqueViolationError,
  );
  assert.equal(
    await conn.fetchval("SELECT count(*) FROM many WHERE id >= 2000"),
    0n,
  );
  await conn.executemany("INSERT INTO many VALUES ($1, $2)", []);
});

test("prepare() makes a named statement; the LRU cache evicts and re-prepares", async () => {
  await using conn = await open({ statementCacheSize: 2 });
  {
    await using stmt = await conn.prepare("SELECT $1::int + 1 AS n");
    assert.equal(await stmt.fetchval([41]), 42);
    assert.deepEqual(await stmt.fetchrow([1]), { n: 2 });
    assert.deepEqual(stmt.parameterTypes, ["int4"]);
    assert.deepEqual(stmt.columns, ["n"]);
  }
  const count = () =>
    conn.fetchval(
      "SELECT count(*)::int FROM pg_prepared_statements WHERE name LIKE 'aio_%'",
    );
  for (const n of [1, 2, 3, 4]) await conn.fetchval(`SELECT ${n}`);
  // Two cached statements (the count query is one of them).
  assert.equal(await count(), 2);
  // A hit does not parse again.
  const before = await count();
  await conn.fetchval(
    "SELECT count(*)::int FROM pg_prepared_statements WHERE name LIKE 'aio_%'",
  );
  assert.equal(await count(), before);
});

test("an evicted statement is closed on the server even when the next Bind is refused", async () => {
  await using conn = await open({ statementCacheSize: 1 });
  await using count = await conn.prepare(
    "SELECT count(*)::int FROM pg_prepared_statements WHERE name ~ '^aio_[0-9]+$'",
  );
  await conn.fetchval("SELECT 1");
  assert.equal(await count.fetchval(), 1);
  // A miss evicts "SELECT 1"; its Bind is refused before anything is sent.
  await assert.rejects(conn.fetchval("SELECT $1::int", ["bad"]), TypeError);
  assert.equal(await count.fetchval(), 1); // the Close went with this one
});

test("a cached plan whose result type changed is re-prepared once (0A000)", async () => {
  await using conn = await open();
  await conn.execute("CREATE TEMP TABLE shape (a int)");
  await conn.execute("INSERT INTO shape VALUES (1)");
  assert.deepEqual(await conn.fetch("SELECT * FROM shape"), [{ a: 1 }]);
  await conn.execute("ALTER TABLE shape ADD COLUMN b text DEFAULT 'x'");
  assert.deepEqual(await conn.fetch("SELECT * FROM shape"), [{ a: 1, b: "x" }]);
});

test("notices go to onNotice; nothing is printed by default", async () => {
  const notices: PostgresFields[] = [];
  await using conn = await open({ onNotice: (n) => notices.push(n) });
  await conn.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
  assert.equal(notices.length, 1);
  assert.equal(notices[0].message, "hello 42");
  assert.equal(notices[0].severity, "NOTICE");
});

test("setTypeCodec() reads and writes a type the user's way", async () => {
  await using conn = await open();
  await conn.setTypeCodec("numeric", {
    decode: (text) => Number(text),
    encode: (value) => String(value),
  });
  assert.equal(await conn.fetchval("SELECT 1.25::numeric"), 1.25);
  assert.deepEqual(await conn.fetchval("SELECT '{1.5,2.5}'::numeric[]"), [
    1.5,
    2.5,
  ]);
  assert.equal(await conn.fetchval("SELECT $1::numeric * 2", [0.5]), 1);
  // A binary codec: point is two float8s.
  await conn.setTypeCodec("point", {
    format: "binary",
    decode: (data) => {
      const bytes = data as Uint8Array;
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      return { x: view.getFloat64(0), y: view.getFloat64(8) };
    },
    encode: (value) => {
      const { x, y } = value as { x: number; y: number };
      const bytes = new Uint8Array(16);
      new DataView(bytes.buffer).setFloat64(0, x);
      new DataView(bytes.buffer).setFloat64(8, y);
      return bytes;
    },
  });
  assert.deepEqual(await conn.fetchval("SELECT point(1.5, -2)"), {
    x: 1.5,
    y: -2,
  });
  assert.deepEqual(
    await conn.fetchval("SELECT $1::point", [{ x: 3, y: 4 }]),
    { x: 3, y: 4 },
  );
  assert.deepEqual(
    await conn.fetchval("SELECT ARRAY[point(0, 1), NULL]"),
    [{ x: 0, y: 1 }, null],
  );
});

test("a decoder that throws fails its query only; the connection goes on", async () => {
  await using conn = await open();
  await conn.setTypeCodec("money", {
    decode: () => {
      throw new Error("no money today");
    },
  });
  await assert.rejects(
    conn.fetch("SELECT g::money AS m FROM generate_series(1, 3) g"),
    (error: Error) =>
      error instanceof PostgresDecodeError &&
      /column "m" \(money\).*no money today/.test(error.message),
  );
  assert.equal(await conn.fetchval("SELECT 'fine'"), "fine");
});

test("a backend terminated under a query fails it with a clear error", async () => {
  const conn = await open();
  const query = assert.rejects(
    conn.fetch("SELECT pg_sleep(10)"),
    (error: Error) => {
      assert.ok(
        error instanceof PostgresError ||
          error instanceof ConnectionClosedError,
      );
      return true;
    },
  );
  await new Promise((r) => setTimeout(r, 30));
  await pg!.adminQuery(`SELECT pg_terminate_backend(${conn.pid})`);
  await query;
  await assert.rejects(conn.fetch("SELECT 1"), ConnectionClosedError);
  await conn.close();
});

// The kernel's view of our end of a TCP connection (Linux /proc/net/tcp*):
// its "tr" column is 2 while a keepalive timer is armed.
async function tcpTimer(localPort: number, remotePort: number) {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await Deno.readTextFile(file).catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6) continue;
      if (
        f[1].endsWith(`:${hex(localPort)}`) &&
        f[2].endsWith(`:${hex(remotePort)}`)
      ) return f[5].split(":")[0];
    }
  }
  return undefined;
}

Deno.test({
  name: "TCP connections have keepalive probes on (setKeepAlive)",
  ignore: ignore || Deno.build.os !== "linux",
}, async () => {
  await using conn = await open();
  const port = await conn.fetchval<number>("SELECT inet_client_port()");
  assert.ok(port !== null, "the test cluster must be reached over TCP");
  assert.equal(await tcpTimer(port, pg!.port), "02");
});

// ---------------------------------------------------------------------------
// A fake server (Deno.listen) for what a real one never does: forged SCRAM
// signatures, garbage, a connection closed mid-message. No cluster needed.

const utf8 = new TextEncoder();

function frame(
  type: string,
  ...parts: (Uint8Array | string | number[])[]
): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === "string"
      ? utf8.encode(p)
      : p instanceof Uint8Array
      ? p
      : new Uint8Array(p)
  );
  const len = chunks.reduce((n, c) => n + c.length, 4);
  const out = new Uint8Array(1 + len);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, len);
  let at = 5;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const int32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
};

class FakeClient {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  async #fill(n: number): Promise<boolean> {
    while (this.#buf.length < n) {
      const chunk = new Uint8Array(4096);
      const got = await this.#conn.read(chunk);
      if (got === null) return false;
      const next = new Uint8Array(this.#buf.length + got);
      next.set(this.#buf);
      next.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = next;
    }
    return true;
  }
  /** The startup packet (untyped). */
  async startup(): Promise<Uint8Array> {
    await this.#fill(4);
    const len = new DataView(this.#buf.buffer).getInt32(0);
    await this.#fill(len);
    const body = this.#buf.slice(4, len);
    this.#buf = this.#buf.slice(len);
    return body;
  }
  /** One typed message, or null at EOF. */
  async message(): Promise<{ type: string; body: Uint8Array } | null> {
    if (!(await this.#fill(5))) return null;
    const len = new DataView(this.#buf.buffer).getInt32(1);
    await this.#fill(1 + len);
    const type = String.fromCharCode(this.#buf[0]);
    const body = this.#buf.slice(5, 1 + len);
    this.#buf = this.#buf.slice(1 + len);
    return { type, body };
  }
  async send(...frames: Uint8Array[]): Promise<void> {
    for (const f of frames) {
      let off = 0;
      while (off < f.length) off += await this.#conn.write(f.subarray(off));
    }
  }
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }
}

const AUTH_OK = frame("R", int32(0));
const READY = frame("Z", "I");
const KEY = frame("K", int32(1), int32(2));

/** Runs `script` for the first client of a fresh listener; returns its port. */
function fakeServer(script: (client: FakeClient) => Promise<void>): {
  port: number;
  done: Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const done = (async () => {
    const conn = await listener.accept();
    listener.close();
    const client = new FakeClient(conn);
    try {
      await script(client);
    } finally {
      client.close();
    }
  })();
  return { port: (listener.addr as Deno.NetAddr).port, done };
}

function fakeConnect(port: number, extra: Parameters<typeof connect>[0] = {}) {
  return connect({
    host: "127.0.0.1",
    port,
    user: "u",
    password: "pw",
    database: "d",
    sslmode: "disable",
    ...(extra as object),
  });
}

async function scramServer(
  client: FakeClient,
  signature: string | null,
): Promise<void> {
  await client.startup();
  await client.send(frame("R", int32(10), "SCRAM-SHA-256\0\0"));
  const first = await client.message();
  const text = new TextDecoder().decode(first!.body);
  const nonce = /r=([^,\0]+)/.exec(text)![1];
  await client.send(
    frame("R", int32(11), `r=${nonce}srv,s=${btoa("salt")},i=4096`),
  );
  await client.message(); // client-final
  if (signature === null) await client.send(AUTH_OK, KEY, READY);
  else {await client.send(
      frame("R", int32(12), `v=${signature}`),
      AUTH_OK,
      KEY,
      READY,
    );}
  await client.message(); // whatever comes next, or EOF
}

Deno.test("a fake server with a forged SCRAM signature fails the connect", async () => {
  const { port, done } = fakeServer((c) =>
    scramServer(c, btoa("x".repeat(32)))
  );
  await assert.rejects(fakeConnect(port), /signature is wrong/);
  await done;
});

Deno.test("a fake server that skips the SCRAM signature fails the connect", async () => {
  const { port, done } = fakeServer((c) => scramServer(c, null));
  await assert.rejects(fakeConnect(port), /skipped the SCRAM signature/);
  await done;
});

Deno.test("cleartext and trust against a fake server; the password is sent only when asked", async () => {
  let received = "";
  const a = fakeServer(async (c) => {
    await c.startup();
    await c.send(frame("R", int32(3)));
    const msg = await c.message();
    received = new TextDecoder().decode(msg!.body).replace("\0", "");
    await c.send(AUTH_OK, KEY, READY);
    assert.equal((await c.message())?.type, "X"); // Terminate on close()
  });
  const conn = await fakeConnect(a.port);
  assert.equal(received, "pw");
  await conn.close();
  await a.done;
  const b = fakeServer(async (c) => {
    const startup = new TextDecoder().decode(await c.startup());
    assert.match(startup, /user\0u\0database\0d\0/);
    await c.send(
      AUTH_OK,
      frame("S", "server_version\0" + "15.0\0"),
      KEY,
      READY,
    );
    await c.message();
  });
  const trusted = await fakeConnect(b.port, { password: undefined });
  assert.equal(trusted.serverParameter("server_version"), "15.0");
  await trusted.close();
  await b.done;
});

Deno.test("garbage from the server is a ProtocolError that closes the connection", async () => {
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await c.send(AUTH_OK, KEY, READY);
    await c.message(); // the query
    await c.send(new Uint8Array([0x01, 0x02, 0x03, 0x04, 0x05, 0x06]));
    await c.message();
  });
  const conn = await fakeConnect(port);
  await assert.rejects(conn.fetch("SELECT 1"), ProtocolError);
  assert.equal(conn.closed, true);
  await assert.rejects(conn.fetch("SELECT 1"), ConnectionClosedError);
  await conn.close();
  await done;
});

Deno.test("a server that closes mid-message fails the query, never hangs", async () => {
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await c.send(AUTH_OK, KEY, READY);
    await c.message(); // Parse/Describe/Sync arrive as one write
    await c.send(
      frame("1"),
      frame("t", [0, 0]),
      frame(
        "T",
        [0, 1],
        "a\0",
        int32(0),
        [0, 0],
        int32(23),
        [0, 4],
        int32(-1),
        [0, 1],
      ),
      READY,
    );
    await c.message(); // Bind/Execute/Sync
    const row = frame("D", [0, 1], int32(4), int32(7));
    await c.send(frame("2"), row.subarray(0, 7)); // half a DataRow, then gone
  });
  const conn = await fakeConnect(port);
  await assert.rejects(conn.fetch("SELECT a"), ConnectionClosedError);
  await conn.close();
  await done;
});

Deno.test("sslmode=require against a server without TLS fails instead of downgrading", async () => {
  const { port, done } = fakeServer(async (c) => {
    await c.startup(); // the SSLRequest
    await c.send(new Uint8Array([0x4e])); // 'N'
    assert.equal(await c.message(), null); // the client hangs up, says nothing
  });
  await assert.rejects(
    fakeConnect(port, { sslmode: "require" }),
    /does not offer TLS/,
  );
  await done;
});

Deno.test("a server that never answers the startup: connectTimeout rejects, nothing hangs", async () => {
  let release!: () => void;
  const hold = new Promise<void>((r) => release = r);
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await hold; // say nothing
  });
  const start = performance.now();
  await assert.rejects(fakeConnect(port, { connectTimeout: 50 }), TimeoutError);
  assert.ok(performance.now() - start < 2000);
  release();
  await done;
});

Deno.test("a connect cancelled by its signal rejects with the cancellation", async () => {
  let release!: () => void;
  const hold = new Promise<void>((r) => release = r);
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await hold;
  });
  const controller = new AbortController();
  const attempt = assert.rejects(
    fakeConnect(port, { signal: controller.signal }),
    CancelledError,
  );
  setTimeout(() => controller.abort(), 20);
  await attempt;
  release();
  await done;
});

Deno.test("an error the server sends while idle (57P01) is why the connection closed", async () => {
  let sent!: () => void;
  const gone = new Promise<void>((r) => sent = r);
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await c.send(AUTH_OK, KEY, READY);
    await c.send(
      frame(
        "E",
        "SFATAL\0",
        "VFATAL\0",
        "C57P01\0",
        "Mterminating connection due to administrator command\0",
        "\0",
      ),
    );
    sent();
  });
  const conn = await fakeConnect(port);
  await gone;
  await done;
  await assert.rejects(conn.fetch("SELECT 1"), (error: Error) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.ok(error.cause instanceof AdminShutdownError);
    assert.match(error.message, /administrator command/);
    return true;
  });
  await conn.close();
});

test("statementCacheSize 0 prepares unnamed statements, keeping none on the server", async () => {
  await using conn = await open({ statementCacheSize: 0 });
  for (let i = 0; i < 3; i++) {
    assert.equal(await conn.fetchval("SELECT $1::int * 2", [i]), i * 2);
  }
  assert.equal(
    await conn.fetchval("SELECT count(*)::int FROM pg_prepared_statements"),
    0,
  );
});

test("many concurrent calls on one connection each get their own result", async () => {
  await using conn = await open();
  const results = await Promise.all(
    Array.from(
      { length: 200 },
      (_, i) =>
        i % 3 === 0
          ? conn.fetchval("SELECT $1::int + 1", [i])
          : i % 3 === 1
          ? conn.fetchrow("SELECT $1::text AS s", [`v${i}`]).then((r) => r!.s)
          : conn.fetchval("SELECT $1::int8 * 2", [i]),
    ),
  );
  results.forEach((value, i) =>
    assert.deepEqual(
      value,
      i % 3 === 0 ? i + 1 : i % 3 === 1 ? `v${i}` : BigInt(i * 2),
    )
  );
});

Deno.test("a fake server's corrupted answers: always a clear error, never a hang or a crash", async () => {
  // A valid answer to Parse/Describe/Sync + Bind/Execute/Sync, then flipped
  // bytes and cuts, seeded so a failure can be replayed.
  const answer = [
    frame("1"),
    frame("t", [0, 1], int32(23)),
    frame(
      "T",
      [0, 2],
      "a\0",
      int32(0),
      [0, 0],
      int32(23),
      [0, 4],
      int32(-1),
      [0, 1],
      "b\0",
      int32(0),
      [0, 0],
      int32(25),
      [0, 0xff, 0xff, 0xff, 0xff, 0xff],
      [0, 0],
    ),
    READY,
  ];
  const rows = [
    frame("2"),
    ...Array.from(
      { length: 5 },
      (_, i) => frame("D", [0, 2], int32(4), int32(i), int32(2), "hi"),
    ),
    frame("C", "SELECT 5\0"),
    READY,
  ];
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const allowed = [
    ProtocolError,
    ConnectionClosedError,
    PostgresDecodeError,
    PostgresError,
    TypeError,
  ];
  for (let round = 0; round < 60; round++) {
    const corrupt = (bytes: Uint8Array): Uint8Array => {
      const out = bytes.slice();
      const flips = Math.floor(random() * 3);
      for (let k = 0; k < flips; k++) {
        out[Math.floor(random() * out.length)] = random() * 256;
      }
      return random() < 0.2
        ? out.subarray(0, Math.floor(random() * out.length))
        : out;
    };
    const first = new Uint8Array(answer.reduce((n, f) => n + f.length, 0));
    answer.reduce((at, f) => (first.set(f, at), at + f.length), 0);
    const second = new Uint8Array(rows.reduce((n, f) => n + f.length, 0));
    rows.reduce((at, f) => (second.set(f, at), at + f.length), 0);
    const early = random() < 0.5;
    const [a, b] = early ? [corrupt(first), second] : [first, corrupt(second)];
    // The server hangs up after the corrupted part: the client must end
    // with an error then, whatever it made of the bytes.
    const { port, done } = fakeServer(async (c) => {
      await c.startup();
      await c.send(AUTH_OK, KEY, READY);
      if ((await c.message()) === null) return;
      await c.send(a);
      if (early || (await c.message()) === null) return;
      await c.send(b);
    });
    const conn = await fakeConnect(port);
    try {
      await conn.fetch("SELECT a, b FROM t WHERE a > $1", [1]);
    } catch (error) {
      assert.ok(
        allowed.some((kind) => error instanceof kind),
        `round ${round}: ${error}`,
      );
    }
    await conn.close();
    await done;
  }
});

Deno.test("a transaction cancelled while BEGIN runs is rolled back, not left open", async () => {
  const seen: string[] = [];
  let answer!: () => void;
  const answered = new Promise<void>((r) => answer = r);
  const { port, done } = fakeServer(async (c) => {
    await c.startup();
    await c.send(AUTH_OK, KEY, READY);
    const sqlOf = (m: { body: Uint8Array } | null) =>
      m === null ? "EOF" : new TextDecoder().decode(m.body).replace("\0", "");
    seen.push(sqlOf(await c.message())); // BEGIN, answered late
    await answered;
    await c.send(frame("C", "BEGIN\0"), frame("Z", "T"));
    seen.push(sqlOf(await c.message()));
    await c.send(frame("C", "ROLLBACK\0"), READY);
    await c.message(); // Terminate or EOF
  });
  const conn = await fakeConnect(port);
  const controller = new AbortController();
  const tx = assert.rejects(
    createTask(() => conn.transaction(() => "never"), {
      signal: controller.signal,
    }),
    CancelledError,
  );
  setTimeout(() => {
    controller.abort();
    setTimeout(answer, 20); // the server finishes BEGIN after the cancel
  }, 20);
  await tx;
  assert.deepEqual(seen, ["BEGIN", "ROLLBACK"]);
  assert.equal(conn.inTransaction, false);
  await conn.close();
  await done;
});

Deno.test({
  name: "stop the file's cluster",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await pg?.[Symbol.asyncDispose]();
});
