// asyncpg: the seed's example on a throwaway server — create a users
// table, fetch the users older than $1 and print them — then what cancel
// scopes add: a query that outlives its timeout is stopped on the server,
// and the same connection answers the next query.
import { timeout, TimeoutError } from "@aio/std/async";
import { connect } from "@aio/std/io/postgres";
import { startPostgres } from "@aio/std/testing/postgres";
import { stopwatch } from "./_log.ts";

/** Runs the seed's asyncpg example; returns the rows and what a timeout did. */
export async function main(): Promise<{
  users: { name: string; age: number }[];
  timedOut: boolean;
  idleAfterCancel: boolean;
}> {
  const log = stopwatch(
    "asyncpg: connect, fetch with $1, cancel on the server",
  );
  await using pg = await startPostgres({ auth: "scram-sha-256" });
  log(`throwaway PostgreSQL ${pg.version} on port ${pg.port}`);

  // connection = await asyncpg.connect(user=..., password=..., host=...)
  await using conn = await connect({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    database: pg.database,
    sslmode: "disable",
  });
  await conn.execute(
    "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, age int NOT NULL)",
  );
  await conn.executemany("INSERT INTO users (name, age) VALUES ($1, $2)", [
    ["Ada", 36],
    ["Linus", 17],
    ["Grace", 45],
  ]);

  // rows = await connection.fetch('SELECT * FROM users WHERE age > $1', 18)
  const rows = await conn.fetch<{ name: string; age: number }>(
    "SELECT name, age FROM users WHERE age > $1 ORDER BY id",
    [18],
  );
  for (const row of rows) log(`User: ${row.name}, Age: ${row.age}`);

  // A query that outlives its scope is cancelled on the server: the await
  // ends once the server has stopped it, and the connection is reusable.
  let timedOut = false;
  try {
    await timeout(100, () => conn.fetch("SELECT pg_sleep(30)"));
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    timedOut = true;
  }
  const [[state]] = await pg.adminQuery(
    `SELECT state FROM pg_stat_activity WHERE pid = ${conn.pid}`,
  );
  log(`pg_sleep(30) timed out after 100 ms; the backend is ${state}`);
  log(
    `and the connection still answers: 1 + 1 = ${await conn.fetchval(
      "SELECT 1 + 1",
    )}`,
  );
  return {
    users: rows,
    timedOut,
    idleAfterCancel: state === "idle",
  };
}

if (import.meta.main) await main();
