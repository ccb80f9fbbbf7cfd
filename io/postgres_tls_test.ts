// TLS against a throwaway cluster with a throwaway CA (and cleartext
// password authentication, which TLS makes reasonable).
import { connect, PostgresConnectionError } from "./postgres.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready
  ? await startPostgres({ auth: "password", tls: true })
  : undefined;

const sslInUse = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

function base() {
  return {
    host: "localhost",
    port: pg!.port,
    user: pg!.user,
    password: pg!.password,
    database: pg!.database,
  };
}

Deno.test({
  name: "the cluster's URL (verify-full + sslrootcert) connects over TLS",
  ignore,
}, async () => {
  await using conn = await connect(pg!.url);
  assert.equal(await conn.fetchval(sslInUse), true);
});

Deno.test({ name: "each sslmode with the private CA", ignore }, async (t) => {
  for (
    const sslmode of ["prefer", "require", "verify-ca", "verify-full"] as const
  ) {
    await t.step(sslmode, async () => {
      await using conn = await connect({
        ...base(),
        sslmode,
        caCerts: [pg!.caCert!],
      });
      assert.equal(await conn.fetchval(sslInUse), true);
    });
  }
  await t.step("disable", async () => {
    await using conn = await connect({ ...base(), sslmode: "disable" });
    assert.equal(await conn.fetchval(sslInUse), false);
  });
});

Deno.test({
  name:
    "an untrusted certificate fails verify modes; prefer falls back to plaintext",
  ignore,
}, async () => {
  // Deno always verifies: without the CA, require fails rather than
  // trusting blindly.
  await assert.rejects(
    connect({ ...base(), sslmode: "require" }),
    (error: Error) =>
      error instanceof PostgresConnectionError &&
      /TLS handshake failed/.test(error.message),
  );
  await using conn = await connect({ ...base(), sslmode: "prefer" });
  assert.equal(await conn.fetchval(sslInUse), false);
});

Deno.test({
  name: "a query cancelled over TLS is cancelled on the server",
  ignore,
}, async () => {
  await using conn = await connect(pg!.url);
  const controller = new AbortController();
  const query = assert.rejects(
    conn.fetch("SELECT pg_sleep(10)", [], { signal: controller.signal }),
  );
  setTimeout(() => controller.abort(), 30);
  await query;
  assert.equal(await conn.fetchval("SELECT 1"), 1);
});

Deno.test({
  name: "stop the TLS cluster",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  await pg?.[Symbol.asyncDispose]();
});
