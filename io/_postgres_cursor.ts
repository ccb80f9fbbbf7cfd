/**
 * Server-side cursors: `DECLARE … NO SCROLL CURSOR` then `FETCH n`
 * batches, inside a transaction. When none is open, the cursor opens one
 * and commits it when the loop ends (also by `break`; a failed FETCH or a
 * cancellation rolls it back), and holds the connection until then: the
 * calls of the iterating code (the loop body, and tasks started in its
 * scope) run in that transaction, as they would inside `transaction()`;
 * other tasks' queries wait instead of running inside it. Leaving the loop
 * closes the cursor and lets the waiting calls in.
 *
 * @example Batches of 2 over 5 rows
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { cursor } from "./_postgres_cursor.ts";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using conn = await connect(pg.url);
 * const seen: number[] = [];
 * for await (const row of cursor(conn, "SELECT g FROM generate_series(1, $1::int) g", [5], { prefetch: 2 })) {
 *   seen.push(row.g as number);
 * }
 * assert.deepEqual(seen, [1, 2, 3, 4, 5]);
 * assert.equal(conn.inTransaction, false);
 * ```
 *
 * @module
 */
import { shield } from "../async/mod.ts";
import type { Connection, QueryOptions, Row } from "./postgres.ts";

/** Options of a cursor. */
export interface CursorOptions extends QueryOptions {
  /** Rows fetched per round trip (default 100). */
  prefetch?: number;
}

// Cursor names in use per connection: a name is reused once free, so the
// statement cache sees few distinct FETCH texts.
const inUse = new WeakMap<Connection, Set<string>>();

// FNV-1a: the query's shape goes into the cursor's name, so a cached
// FETCH statement always describes rows of the same query.
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}

/**
 * Iterates over a query's rows through a server-side cursor.
 *
 * @param conn The connection.
 * @param sql A query (SELECT, VALUES…).
 * @param args Its arguments.
 * @param options `prefetch`, signal, timeout (per round trip).
 * @returns The rows.
 */
export async function* cursor<R extends Row = Row>(
  conn: Connection,
  sql: string,
  args?: readonly unknown[],
  options?: CursorOptions,
): AsyncGenerator<R, void, undefined> {
  if (typeof sql !== "string") {
    throw new TypeError(
      `Cannot open a cursor: the query must be a string, got ${typeof sql}`,
    );
  }
  if (args !== undefined && !Array.isArray(args)) {
    throw new TypeError(
      `Cannot open a cursor: 'args' must be an array, got ${typeof args}`,
    );
  }
  const prefetch = options?.prefetch ?? 100;
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw new RangeError(
      `Cannot open a cursor: 'prefetch' must be an integer >= 1, got ${prefetch}`,
    );
  }
  // Outside a transaction the cursor holds the connection for its whole
  // life: other callers' queries would otherwise run inside its
  // transaction (or commit it). Inside `transaction()` the transaction
  // holds it already.
  const hold = await conn._hold(options);
  const run = hold === undefined ? <T>(fn: () => Promise<T>) => fn() : hold.run;
  let names = inUse.get(conn);
  if (names === undefined) inUse.set(conn, names = new Set());
  const base = `aio_cur_${hash(sql)}`;
  let name = base;
  for (let i = 1; names.has(name); i++) name = `${base}_${i}`;
  names.add(name);
  let ownTx = false;
  let declared = false;
  let failed = false;
  const q = { signal: options?.signal, timeout: options?.timeout };
  try {
    ownTx = !conn.inTransaction;
    if (ownTx) await run(() => conn.execute("BEGIN"));
    await run(() =>
      conn.execute(
        `DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`,
        args ?? [],
        q,
      )
    );
    declared = true;
    const fetch = `FETCH ${prefetch} FROM ${name}`;
    while (true) {
      const rows = await run(() => conn.fetch<R>(fetch, [], q));
      for (const row of rows) yield row;
      if (rows.length < prefetch) break;
    }
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    names.delete(name);
    try {
      await shield(() =>
        run(async () => {
          if (conn.closed) return;
          try {
            if (ownTx) {
              await conn.execute(failed ? "ROLLBACK" : "COMMIT");
            } else if (declared && conn.inTransaction) {
              await conn.execute(`CLOSE ${name}`);
            }
          } catch { /* a failed transaction: its own error is what matters */ }
        })
      );
    } finally {
      hold?.release();
    }
  }
}
