// asyncpg's pool: the seed's `create_pool(...)` + `async with
// pool.acquire() as conn:`, then what a pool must survive — 20 tasks over
// 5 connections with the server restarted under them, and LISTEN/NOTIFY.
import { TaskGroup } from "@aio/std/async";
import { createPool } from "@aio/std/io/postgres-pool";
import { startPostgres } from "@aio/std/testing/postgres";
import { stopwatch } from "./_log.ts";

/** Runs the pool example; returns what each part saw. */
export async function main(): Promise<{
  adults: string[];
  maxSize: number;
  sumAfterRestart: number;
  notified: string;
}> {
  const log = stopwatch("asyncpg's pool: acquire, restart, LISTEN/NOTIFY");
  await using pg = await startPostgres();
  // pool = await asyncpg.create_pool(dsn, max_size=5)
  await using pool = createPool(pg.url, { max: 5 });
  {
    // async with pool.acquire() as conn:
    await using conn = await pool.acquire();
    await conn.execute("CREATE TABLE users (name text, age int)");
    await conn.copyFrom("users", [["Ada", 36], ["Linus", 17], ["Grace", 45]]);
  } // the connection goes back to the pool here
  const adults = (await pool.fetch<{ name: string }>(
    "SELECT name FROM users WHERE age > $1 ORDER BY name",
    [18],
  )).map((r) => r.name);
  log(`adults: ${adults.join(", ")}`);

  // 20 tasks share 5 connections; acquires wait their turn, first come first served.
  let maxSize = 0;
  await TaskGroup.run((tg) => {
    for (let i = 0; i < 20; i++) {
      tg.createTask(async () => {
        await pool.fetchval("SELECT pg_sleep(0.01)");
        maxSize = Math.max(maxSize, pool.size);
      });
    }
  });
  log(`20 tasks ran over at most ${maxSize} connections`);

  // The server restarts: idle connections hear its shutdown and leave the
  // pool, and the next queries open new ones — same pool, no error.
  await pg.restart();
  let sumAfterRestart = 0;
  await TaskGroup.run((tg) => {
    for (let i = 1; i <= 10; i++) {
      tg.createTask(async () => {
        const v = await pool.fetchval<number>("SELECT $1::int", [i]);
        sumAfterRestart += v;
      });
    }
  });
  log(`after a server restart, 10 queries summed to ${sumAfterRestart}`);

  // LISTEN/NOTIFY on the pool's own listening connection.
  await using sub = await pool.listen("greetings");
  await pool.notify("greetings", "hello");
  const { value } = await sub.next();
  log(`notification on ${value!.channel}: ${value!.payload}`);
  return { adults, maxSize, sumAfterRestart, notified: value!.payload };
}

if (import.meta.main) await main();
