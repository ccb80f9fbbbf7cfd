// COPY and cursors (io/_postgres_copy.ts, io/_postgres_cursor.ts) through
// Connection's methods, against a real server (one cluster for the file).
import { connect, type Connection } from "./postgres.ts";
import { CancelledError, timeout, TimeoutError } from "../async/mod.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready ? await startPostgres() : undefined;

function test(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore }, fn);
}

function open(): Promise<Connection> {
  return connect(pg!.url);
}

async function activeBackends(): Promise<number> {
  const rows = await pg!.adminQuery(
    `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'
       AND state <> 'idle' AND pid <> pg_backend_pid()`,
  );
  return Number(rows[0][0]);
}

test("COPY 100k rows in and out, compared row by row", async () => {
  await using conn = await open();
  await conn.execute(
    "CREATE TEMP TABLE big (id int, name text, score float8, tags text[], at timestamptz)",
  );
  const n = 100_000;
  const at = new Date("2024-01-02T03:04:05.678Z");
  const rows = Array.from(
    { length: n },
    (_, i) => [i, `n\t${i}\\ "x"\n`, i / 4, ["a", `b${i}`], at],
  );
  assert.equal(await conn.copyFrom("big", rows), `COPY ${n}`);
  // Out, as text, parsed back and compared with what went in.
  const text = await new Response(
    conn.copyTo("SELECT id, name, score FROM big ORDER BY id"),
  ).text();
  const lines = text.split("\n");
  assert.equal(lines.pop(), "");
  assert.equal(lines.length, n);
  for (let i = 0; i < n; i++) {
    const [id, name, score] = lines[i].split("\t");
    assert.equal(Number(id), i);
    assert.equal(
      name,
      `n\\t${i}\\\\ "x"\\n`,
    );
    assert.equal(Number(score), i / 4);
  }
  // And through the driver's own decoding.
  const back = await conn.fetch(
    "SELECT id, name, tags, at FROM big WHERE id IN (0, 77777) ORDER BY id",
  );
  assert.deepEqual(back, [
    { id: 0, name: 'n\t0\\ "x"\n', tags: ["a", "b0"], at },
    { id: 77777, name: 'n\t77777\\ "x"\n', tags: ["a", "b77777"], at },
  ]);
  // COPY out of a table, CSV with a header.
  const csv = await new Response(
    conn.copyTo("big", {
      format: "csv",
      header: true,
      columns: ["id", "name"],
    }),
  ).text();
  assert.ok(csv.startsWith('id,name\n0,"n\t0\\ ""x""\n"\n'));
});

test("copyFrom takes object rows with columns, async iterables and ReadableStreams; copyTo streams a binary COPY between connections", async () => {
  await using a = await open();
  await using b = await open();
  await a.execute("CREATE TABLE shared_src (id int, v text)");
  await b.execute("CREATE TABLE shared_dst (id int, v text)");
  await a.copyFrom("shared_src", [{ v: "one", id: 1 }, { id: 2, v: null }], {
    columns: ["id", "v"],
  });
  async function* more() {
    for (let i = 3; i <= 5; i++) yield [i, `v${i}`];
  }
  assert.equal(await a.copyFrom("shared_src", more()), "COPY 3");
  assert.equal(
    await a.copyFrom("shared_src", ReadableStream.from([[6, "six"]])),
    "COPY 1",
  );
  assert.equal(
    await b.copyFrom(
      "shared_dst",
      a.copyTo("shared_src", { format: "binary" }),
      {
        format: "binary",
      },
    ),
    "COPY 6",
  );
  assert.deepEqual(
    await b.fetch("SELECT * FROM shared_dst ORDER BY id"),
    [
      { id: 1, v: "one" },
      { id: 2, v: null },
      { id: 3, v: "v3" },
      { id: 4, v: "v4" },
      { id: 5, v: "v5" },
      { id: 6, v: "six" },
    ],
  );
  await assert.rejects(a.copyFrom("shared_src", [{ id: 1 }]), /columns/);
  await assert.rejects(a.copyFrom("", []), TypeError);
  await a.execute("DROP TABLE shared_src");
  await b.execute("DROP TABLE shared_dst");
});

test("a COPY cancelled midway (scope, signal, failing source) leaves nothing and the connection survives", async () => {
  await using conn = await open();
  await conn.execute("CREATE TEMP TABLE c (id int)");
  // A source that never ends: the scope's deadline cancels the COPY.
  async function* endless() {
    for (let i = 0;; i++) {
      yield [i];
      if (i % 1000 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  }
  await assert.rejects(
    timeout(100, () => conn.copyFrom("c", endless())),
    TimeoutError,
  );
  assert.equal(await conn.fetchval("SELECT count(*)::int FROM c"), 0);
  // A source that throws: CopyFail, and the source's error.
  async function* broken() {
    yield [1];
    throw new Error("source broke");
  }
  await assert.rejects(conn.copyFrom("c", broken()), /source broke/);
  assert.equal(await conn.fetchval("SELECT count(*)::int FROM c"), 0);
  // A signal aborted during a COPY out: the server stops it.
  const controller = new AbortController();
  const stream = conn.copyTo(
    "SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g",
    { signal: controller.signal },
  );
  const reader = stream.getReader();
  await reader.read();
  controller.abort();
  await assert.rejects(
    (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })(),
    CancelledError,
  );
  // Cancelling the stream itself works the same way.
  const stream2 = conn.copyTo(
    "SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g",
  );
  const r2 = stream2.getReader();
  await r2.read();
  await r2.cancel();
  assert.equal(await conn.fetchval("SELECT 'survived'"), "survived");
  assert.equal(await activeBackends(), 0);
});

test("copyFrom of an array into a missing table: the CopyData sent with the Query is ignored, the error is the server's, the connection lives", async () => {
  await using conn = await open();
  await assert.rejects(conn.copyFrom("no_such_table", [[1]]), /no_such_table/);
  // More than one message: the rest is never sent.
  const many = Array.from({ length: 50_000 }, (_, i) => [i, "x".repeat(20)]);
  await assert.rejects(conn.copyFrom("no_such_table", many), /no_such_table/);
  assert.equal(await conn.fetchval("SELECT 'survived'"), "survived");
});

test("copyFrom pulls a fast source only as far as the socket takes it (a slow server: bounded, not the whole source)", async () => {
  await using conn = await open();
  await using watch = await open();
  // Each row the server takes ticks a sequence (seen by other sessions at
  // once) and costs it 20 ms.
  await conn.execute(`
    CREATE SEQUENCE copy_seen;
    CREATE TEMP TABLE slow (v text);
    CREATE FUNCTION pg_temp.tick() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN PERFORM nextval('copy_seen'); PERFORM pg_sleep(0.02); RETURN NEW; END $$;
    CREATE TRIGGER tick BEFORE INSERT ON slow FOR EACH ROW EXECUTE FUNCTION pg_temp.tick();`);
  const n = 60;
  const row = ["x".repeat(1024 * 1024)]; // 1 MB: one CopyData each
  let ahead = 0;
  async function* rows() {
    for (let i = 0; i < n; i++) {
      const taken = Number(
        await watch.fetchval(
          `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM copy_seen`,
        ),
      );
      ahead = Math.max(ahead, i - taken);
      yield row;
    }
  }
  assert.equal(await conn.copyFrom("slow", rows()), `COPY ${n}`);
  // Without backpressure the source is drained at once (ahead ≈ n): all
  // of it waits in the client's write queue.
  assert.ok(ahead <= 25, `the source ran ${ahead} rows (MB) ahead`);
  assert.equal(await conn.fetchval("SELECT count(*)::int FROM slow"), n);
  await conn.execute("DROP TRIGGER tick ON slow; DROP SEQUENCE copy_seen");
});

test("copyTo with a slow consumer stops reading: the server waits on its socket instead of the client buffering the table", async () => {
  await using conn = await open();
  await using watch = await open();
  // About 50 MB of rows.
  const stream = conn.copyTo(
    "SELECT g, repeat('x', 200) FROM generate_series(1, 250000) g",
  );
  const reader = stream.getReader();
  const first = await reader.read();
  assert.ok(first.value!.length > 0);
  // The consumer now holds off. The server must end up blocked writing to
  // us (wait_event ClientWrite), its query still running, poll after poll.
  let blocked = 0;
  for (let i = 0; i < 200 && blocked < 5; i++) {
    const [state] = await watch.fetch<{ state: string; wait: string | null }>(
      "SELECT state, wait_event AS wait FROM pg_stat_activity WHERE pid = $1",
      [conn.pid],
    );
    assert.equal(state.state, "active", "the COPY ran to its end unread");
    blocked = state.wait === "ClientWrite" ? blocked + 1 : 0;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(blocked, 5);
  // Reading on gets everything, in order.
  let rows = (new TextDecoder().decode(first.value).match(/\n/g) ?? []).length;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    for (let i = 0; i < r.value.length; i++) if (r.value[i] === 10) rows++;
  }
  assert.equal(rows, 250000);
  assert.equal(await conn.fetchval("SELECT 'survived'"), "survived");
});

test("copyTo with a stalled consumer still times out at its deadline: the cancel's answer is read, the connection lives", async () => {
  await using conn = await open();
  const stream = conn.copyTo(
    "SELECT g, repeat('x', 200) FROM generate_series(1, 250000) g",
    { timeout: 300 },
  );
  const reader = stream.getReader();
  assert.ok((await reader.read()).value!.length > 0);
  // The consumer reads no more. At the deadline the COPY must stop on the
  // server and free the connection for the next query, well before the 2 s
  // cancel grace that would close it (reads had paused: the server's
  // answer was never read).
  const start = performance.now();
  const failed = reader.closed.then(() => "closed", (e) => e);
  assert.equal(await conn.fetchval("SELECT 'next'"), "next");
  assert.ok(performance.now() - start < 1_500);
  assert.equal(conn.closed, false);
  assert.ok((await failed) instanceof TimeoutError);
});

test("cursor: batches of prefetch rows; break closes it; inside a transaction it stays in it", async () => {
  await using conn = await open();
  const seen: number[] = [];
  for await (
    const row of conn.cursor<{ g: number }>(
      "SELECT g FROM generate_series(1, $1::int) g",
      [250],
      { prefetch: 100 },
    )
  ) seen.push(row.g);
  assert.equal(seen.length, 250);
  assert.equal(seen[249], 250);
  assert.equal(conn.inTransaction, false);
  // break: the cursor (and its own transaction) end.
  let count = 0;
  for await (
    const _ of conn.cursor("SELECT g FROM generate_series(1, 1000000) g", [], {
      prefetch: 10,
    })
  ) {
    if (++count === 15) break;
  }
  assert.equal(conn.inTransaction, false);
  assert.equal(
    await conn.fetchval(
      "SELECT count(*)::int FROM pg_cursors WHERE name <> ''",
    ),
    0,
  );
  // Inside a transaction: the cursor uses it, and closes on break.
  await conn.transaction(async (tx) => {
    for await (
      const _ of conn.cursor("SELECT 1 FROM generate_series(1, 50)", [], {
        prefetch: 5,
      })
    ) {
      break;
    }
    assert.equal(
      await tx.fetchval(
        "SELECT count(*)::int FROM pg_cursors WHERE name <> ''",
      ),
      0,
    );
  });
  // Two cursors of the same query at once (in one transaction: outside,
  // the second waits for the first) get different names.
  await conn.transaction(async () => {
    const a = conn.cursor("SELECT g FROM generate_series(1, 3) g")
      [Symbol.asyncIterator]();
    const b = conn.cursor("SELECT g FROM generate_series(1, 3) g")
      [Symbol.asyncIterator]();
    assert.deepEqual((await a.next()).value, { g: 1 });
    assert.deepEqual((await b.next()).value, { g: 1 });
    await a.return?.();
    await b.return?.();
  });
  await assert.rejects(
    (async () => {
      for await (const _ of conn.cursor("SELECT * FROM no_such_table")) {
        /* */
      }
    })(),
    /no_such_table/,
  );
  assert.equal(conn.inTransaction, false);
});

Deno.test({
  name: "(cluster teardown)",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await pg?.[Symbol.asyncDispose]();
  },
});
