/**
 * COPY FROM STDIN and COPY TO STDOUT over a connection's request seam
 * (`_exclusive` / `_request` / `_send`): rows are encoded in COPY's text
 * format, bytes pass through in the format the caller names.
 *
 * @example COPY rows in, bytes out
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { copyFrom, copyTo } from "./_postgres_copy.ts";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using conn = await connect(pg.url);
 * await conn.execute("CREATE TEMP TABLE t (id int, name text)");
 * assert.equal(await copyFrom(conn, "t", [[1, "a\tb"], [2, null]]), "COPY 2");
 * const text = await new Response(copyTo(conn, "t")).text();
 * assert.equal(text, "1\ta\\tb\n2\t\\N\n");
 * ```
 *
 * @module
 */
import type { Connection, QueryOptions } from "./postgres.ts";
import {
  Backend,
  copyData,
  copyDone,
  copyFail,
  query,
  Writer,
} from "./_postgres_protocol.ts";

/** What `copyFrom` takes: rows (arrays or objects) or bytes, in any of these containers. */
export type CopySource =
  | Iterable<readonly unknown[] | Record<string, unknown> | Uint8Array>
  | AsyncIterable<readonly unknown[] | Record<string, unknown> | Uint8Array>
  | ReadableStream<readonly unknown[] | Record<string, unknown> | Uint8Array>;

/** Options of `copyFrom`. */
export interface CopyFromOptions extends QueryOptions {
  /** The columns to fill, in the rows' order (needed for object rows). */
  columns?: string[];
  /**
   * The format of byte sources: `"text"` (default), `"csv"` or `"binary"`.
   * Rows are always sent in text format.
   */
  format?: "text" | "csv" | "binary";
}

/** Options of `copyTo`. */
export interface CopyToOptions extends QueryOptions {
  /** `"text"` (default), `"csv"` or `"binary"`. */
  format?: "text" | "csv" | "binary";
  /** A header line (csv only). */
  header?: boolean;
  /** The columns of a table to copy. */
  columns?: string[];
}

// Characters of rows per CopyData (a Writer reserves 3 bytes per unit).
const CHUNK = 16 * 1024;

/** Quotes `name` or `schema.name` as identifiers. */
export function quoteName(name: string): string {
  return name.split(".").map((part) => `"${part.replaceAll('"', '""')}"`)
    .join(".");
}

function columnList(columns: string[] | undefined): string {
  if (columns === undefined) return "";
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== "string")) {
    throw new TypeError(
      `Cannot COPY: 'columns' must be an array of column names, got ${typeof columns}`,
    );
  }
  return ` (${columns.map(quoteName).join(", ")})`;
}

function formatOption(format: string | undefined, header?: boolean): string {
  if (format === undefined || format === "text") return "";
  if (format !== "csv" && format !== "binary") {
    throw new TypeError(
      `Cannot COPY: 'format' must be "text", "csv" or "binary", got ${
        String(format)
      }`,
    );
  }
  return ` (FORMAT ${format}${header ? ", HEADER" : ""})`;
}

const HEX = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

// A value's text form, as the server's input functions read it.
function textOf(value: unknown): string {
  switch (typeof value) {
    case "string":
      return value;
    case "number":
      return Number.isNaN(value)
        ? "NaN"
        : value === Infinity
        ? "Infinity"
        : value === -Infinity
        ? "-Infinity"
        : String(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "t" : "f";
  }
  if (value instanceof Date) {
    const t = value.getTime();
    return t === Infinity
      ? "infinity"
      : t === -Infinity
      ? "-infinity"
      : value.toISOString();
  }
  if (value instanceof Uint8Array) {
    let s = "\\x";
    for (let i = 0; i < value.length; i++) s += HEX[value[i]];
    return s;
  }
  if (Array.isArray(value)) {
    return `{${
      value.map((v) =>
        v === null || v === undefined
          ? "NULL"
          : `"${textOf(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`
      ).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

// COPY text format: backslash, tab, newline and CR escaped; NULL is \N.
function escape(text: string): string {
  if (!/[\\\t\n\r]/.test(text)) return text;
  return text.replace(
    /[\\\t\n\r]/g,
    (c) =>
      c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r",
  );
}

/** One row as a COPY text line. */
export function encodeRow(
  row: readonly unknown[] | Record<string, unknown>,
  columns: string[] | undefined,
): string {
  let values: readonly unknown[];
  if (Array.isArray(row)) values = row;
  else if (row !== null && typeof row === "object") {
    if (columns === undefined) {
      throw new TypeError(
        "Cannot COPY: rows given as objects need the 'columns' option",
      );
    }
    values = columns.map((c) => (row as Record<string, unknown>)[c]);
  } else {
    throw new TypeError(
      `Cannot COPY: each row must be an array or an object, got ${
        row === null ? "null" : typeof row
      }`,
    );
  }
  let line = "";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) line += "\t";
    const v = values[i];
    line += v === null || v === undefined ? "\\N" : escape(textOf(v));
  }
  return line + "\n";
}

function iterate(
  source: CopySource,
): AsyncIterator<unknown> | Iterator<unknown> {
  if (source instanceof ReadableStream) {
    return source[Symbol.asyncIterator]();
  }
  const s = source as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
  if (typeof s[Symbol.asyncIterator] === "function") {
    return s[Symbol.asyncIterator]!();
  }
  if (typeof s[Symbol.iterator] === "function") return s[Symbol.iterator]!();
  throw new TypeError(
    `Cannot COPY: 'source' must be an array, an iterable, an async iterable or a ReadableStream, got ${typeof source}`,
  );
}

/**
 * COPY `table` FROM STDIN, rows or bytes from `source`. A source that
 * throws, or a cancelled scope, ends the COPY with CopyFail / a cancel
 * request; the connection stays usable.
 *
 * @param conn The connection.
 * @param table The table.
 * @param source The rows or bytes.
 * @param options Columns, format, signal, timeout.
 * @returns The status tag (`COPY n`).
 */
export function copyFrom(
  conn: Connection,
  table: string,
  source: CopySource,
  options?: CopyFromOptions,
): Promise<string> {
  let sql: string;
  let it: AsyncIterator<unknown> | Iterator<unknown>;
  try {
    if (typeof table !== "string" || table === "") {
      throw new TypeError(
        `Cannot COPY: 'table' must be a non-empty string, got ${typeof table}`,
      );
    }
    sql = `COPY ${quoteName(table)}${columnList(options?.columns)} FROM STDIN${
      formatOption(options?.format)
    }`;
    it = iterate(source);
  } catch (error) {
    return Promise.reject(error);
  }
  const columns = options?.columns;
  return conn._timed(options, () =>
    conn._exclusive(async () => {
      let ready!: (go: boolean) => void;
      const started = new Promise<boolean>((resolve) => ready = resolve);
      let tag = "";
      const w = new Writer(256);
      query(w, sql);
      const request = conn._request(
        w.finish(),
        {
          onMessage(type, buf, start, end) {
            if (type === Backend.CopyInResponse) {
              ready(true);
              return true;
            }
            if (type === Backend.CommandComplete) {
              tag = new TextDecoder().decode(buf.subarray(start, end - 1));
              return true;
            }
            return false;
          },
          result: () => tag,
        },
        sql,
        options,
      );
      let settled = false;
      const done = request.then(() => {
        settled = true;
        ready(false);
      }, () => {
        settled = true;
        ready(false);
      });
      let sourceError: unknown = undefined;
      let failed = false;
      if (await started) {
        const data = new Writer(CHUNK * 3 + 1024);
        let pending = "";
        const flushText = () => {
          if (pending.length === 0) return;
          data.begin(Backend.CopyData).str(pending).end();
          pending = "";
          conn._send(data.finish());
        };
        try {
          while (!settled) {
            let step = it.next();
            if (step instanceof Promise) {
              const raced = await Promise.race([step, done.then(() => null)]);
              if (raced === null) break;
              step = raced;
            }
            const r = step as IteratorResult<unknown>;
            if (r.done) break;
            const item = r.value;
            if (item instanceof Uint8Array) {
              flushText();
              copyData(data, item);
              conn._send(data.finish());
            } else {
              pending += encodeRow(
                item as readonly unknown[] | Record<string, unknown>,
                columns,
              );
              if (pending.length >= CHUNK) flushText();
            }
          }
          if (!settled) {
            flushText();
            copyDone(data);
            conn._send(data.finish());
          }
        } catch (error) {
          sourceError = error;
          failed = true;
          if (!settled) {
            copyFail(
              data,
              `the client's source failed: ${
                error instanceof Error ? error.name : "error"
              }`,
            );
            conn._send(data.finish());
          }
        } finally {
          if (settled && !failed) {
            // The request ended first (cancelled, or a server error): stop
            // the source without waiting on it.
            Promise.resolve((it as AsyncIterator<unknown>).return?.()).catch(
              () => {},
            );
          }
        }
      }
      try {
        return await request as string;
      } catch (error) {
        throw failed ? sourceError : error;
      }
    }, options));
}

/**
 * COPY a table or a query TO STDOUT as a byte stream. Cancelling the
 * stream (or its reader) cancels the COPY on the server; the connection's
 * turn is held until the server has answered.
 *
 * @param conn The connection.
 * @param sqlOrTable A table name (`t`, `schema.t`) or a query.
 * @param options Format, header, columns, signal.
 * @returns The bytes, in chunks as the server sent them.
 */
export function copyTo(
  conn: Connection,
  sqlOrTable: string,
  options?: CopyToOptions,
): ReadableStream<Uint8Array> {
  if (typeof sqlOrTable !== "string" || sqlOrTable.trim() === "") {
    throw new TypeError(
      `Cannot COPY: 'sqlOrTable' must be a table name or a query, got ${typeof sqlOrTable}`,
    );
  }
  const isQuery = /^\s*(?:select|with|values|table|\()/i.test(sqlOrTable) ||
    /\s/.test(sqlOrTable.trim());
  const sql = `COPY ${
    isQuery
      ? `(${sqlOrTable})`
      : quoteName(sqlOrTable) + columnList(options?.columns)
  } TO STDOUT${formatOption(options?.format, options?.header)}`;
  const abort = new AbortController();
  const outer = options?.signal;
  if (outer?.aborted) abort.abort(outer.reason);
  else {outer?.addEventListener("abort", () => abort.abort(outer.reason), {
      once: true,
    });}
  let cancelled = false;
  let finished: Promise<unknown> | undefined;
  // The CopyData messages of one socket read (one per row) become one
  // chunk: they are gathered while the read loop dispatches them, and
  // handed on in a microtask, once that batch is done.
  let batch = new Uint8Array(0);
  let used = 0;
  let scheduled = false;
  let ctrl: ReadableStreamDefaultController<Uint8Array>;
  const flush = () => {
    scheduled = false;
    if (used === 0 || cancelled) return;
    const chunk = batch.slice(0, used);
    used = 0;
    if (batch.length > 256 * 1024) batch = new Uint8Array(0);
    ctrl.enqueue(chunk);
  };
  const add = (buf: Uint8Array, start: number, end: number) => {
    const n = end - start;
    if (used + n > batch.length) {
      const bigger = new Uint8Array(Math.max(16 * 1024, (used + n) * 2));
      bigger.set(batch.subarray(0, used));
      batch = bigger;
    }
    batch.set(buf.subarray(start, end), used);
    used += n;
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  return new ReadableStream<Uint8Array>({
    start(controller) {
      ctrl = controller;
      const w = new Writer(256);
      query(w, sql);
      finished = conn._timed(
        options,
        () =>
          conn._exclusive(
            () =>
              conn._request(
                w.finish(),
                {
                  onMessage(type, buf, start, end) {
                    if (type === Backend.CopyData) {
                      if (!cancelled) add(buf, start, end);
                      return true;
                    }
                    return type === Backend.CopyOutResponse ||
                      type === Backend.CopyDone;
                  },
                  result: () => undefined,
                },
                sql,
                { signal: abort.signal },
              ),
            { signal: abort.signal },
          ),
      ).then(() => {
        flush();
        if (!cancelled) controller.close();
      }, (error) => {
        if (!cancelled) controller.error(error);
      });
    },
    async cancel() {
      cancelled = true;
      abort.abort();
      await finished;
    },
  }, { highWaterMark: 0 });
}
