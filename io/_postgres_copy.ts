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

// A CopyData of rows is sent once it holds this many bytes: few large
// messages, one socket write each.
const MESSAGE = 256 * 1024;
// copyFrom stops pulling its source while more than this waits to be
// written (the server is slower than the source).
const HIGH_WATER = 1024 * 1024;
// copyTo pauses the connection's reads while its stream holds this much.
const READ_HIGH_WATER = 256 * 1024;

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

// A value's text form, as the server's input functions read it (the slow
// path of RowEncoder: dates, arrays, bytes, JSON).
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

const SPECIAL = /[\\\t\n\r]/;

// COPY text format: backslash, tab, newline and CR escaped; NULL is \N.
function escape(text: string): string {
  if (!SPECIAL.test(text)) return text;
  return text.replace(
    /[\\\t\n\r]/g,
    (c) =>
      c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r",
  );
}

const encoder = new TextEncoder();

function rowValues(
  row: unknown,
  columns: string[] | undefined,
): readonly unknown[] | Record<string, unknown> {
  if (Array.isArray(row)) return row;
  if (row !== null && typeof row === "object") {
    if (columns === undefined) {
      throw new TypeError(
        "Cannot COPY: rows given as objects need the 'columns' option",
      );
    }
    return row as Record<string, unknown>;
  }
  throw new TypeError(
    `Cannot COPY: each row must be an array or an object, got ${
      row === null ? "null" : typeof row
    }`,
  );
}

/**
 * Rows in COPY's text format, written straight into one CopyData message
 * (type, length, then the lines): the lines of a message are joined and
 * encoded with one `encodeInto`; a string value is tested for characters
 * to escape by one precompiled regex.
 */
export class RowEncoder {
  #buf: Uint8Array;
  #pos = 5;
  #columns: string[] | undefined;

  /**
   * An encoder for rows of `columns` (needed for object rows).
   *
   * @param columns The columns, in order.
   */
  constructor(columns?: string[]) {
    this.#columns = columns;
    this.#buf = new Uint8Array(MESSAGE + 64 * 1024);
  }

  /** Whether the current message is full (time to `take()` it). */
  get full(): boolean {
    return this.#pos >= MESSAGE;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    const bigger = new Uint8Array(Math.max(need, this.#buf.length * 2));
    bigger.set(this.#buf.subarray(0, this.#pos));
    this.#buf = bigger;
  }

  /**
   * Appends one row: an array of values, or an object read by `columns`.
   *
   * @param row The row.
   */
  row(row: unknown): void {
    const values = rowValues(row, this.#columns);
    this.#one[0] = Array.isArray(values)
      ? values
      : this.#columns!.map((c) => (values as Record<string, unknown>)[c]);
    this.rows(this.#one, 0, 1);
  }

  #one: unknown[] = [undefined];

  /**
   * Appends the array rows of `items` from `start`, up to `end` or until
   * the message is full or an item is not an array.
   *
   * @param items The rows.
   * @param start The first index.
   * @param end The index after the last.
   * @returns The index of the first item not appended.
   */
  rows(items: readonly unknown[], start: number, end: number): number {
    // The lines are joined as one string (V8's number-to-string and
    // concatenation are builtins, fast even before the JIT has warmed up,
    // which a once-per-COPY loop seldom has), then encoded in one
    // `encodeInto`: no string per row, no bytes per value.
    let text = "";
    let i = start;
    const room = MESSAGE - this.#pos;
    // At least one row, however full the message.
    for (; i < end && (i === start || text.length < room); i++) {
      const values = items[i];
      if (!Array.isArray(values)) break;
      const n = values.length;
      for (let k = 0; k < n; k++) {
        if (k > 0) text += "\t";
        const v = values[k];
        if (v === null || v === undefined) text += "\\N";
        else if (typeof v === "number" && (v | 0) === v) text += v;
        else if (typeof v === "string") text += escape(v);
        else if (typeof v === "boolean") text += v ? "t" : "f";
        else text += escape(textOf(v));
      }
      text += "\n";
    }
    if (text.length > 0) this.#text(text);
    return i;
  }

  // Encodes the lines `s`.
  #text(s: string): void {
    this.#ensure(s.length * 3);
    const { written } = encoder.encodeInto(
      s,
      this.#buf.subarray(this.#pos),
    );
    this.#pos += written;
  }

  /**
   * The CopyData message of the rows so far (and a CopyDone after it when
   * `last`), or undefined when there are none and not `last`; the encoder
   * starts a new message.
   *
   * @param last Whether to end the COPY.
   * @returns The bytes to send.
   */
  take(last = false): Uint8Array | undefined {
    let end = this.#pos;
    let buf = this.#buf;
    let start = 0;
    if (end === 5) {
      if (!last) return undefined;
      start = end = 5; // no rows: CopyDone alone
    } else {
      buf[0] = 0x64;
      new DataView(buf.buffer).setInt32(1, end - 1);
    }
    if (last) {
      this.#ensure(5);
      buf = this.#buf;
      buf[end] = 0x63;
      buf[end + 1] = buf[end + 2] = buf[end + 3] = 0;
      buf[end + 4] = 4;
      end += 5;
    }
    // The socket may hold on to these bytes: the next rows get a new buffer.
    const out = buf.subarray(start, end);
    this.#buf = new Uint8Array(last ? 0 : this.#buf.length);
    this.#pos = 5;
    return out;
  }
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
 * request; the connection stays usable. The source is pulled only while
 * less than about 1 MB waits to be written to the socket: a fast source
 * waits for a slow server instead of piling up in memory.
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
      let head = w.finish();
      // An array's first message goes out with the Query, not one round
      // trip later (a server that fails the COPY ignores the CopyData that
      // follows); a small array is then Query, CopyData and CopyDone in one
      // write.
      const rows = new RowEncoder(columns);
      let first = 0;
      let sentAll = false;
      if (Array.isArray(source)) {
        first = rows.rows(source, 0, source.length);
        sentAll = first === source.length;
        const data = sentAll ? rows.take(true)! : rows.take();
        if (data !== undefined) {
          const both = new Uint8Array(head.length + data.length);
          both.set(head);
          both.set(data, head.length);
          head = both;
        }
      }
      const request = conn._request(
        head,
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
        return null;
      }, () => {
        settled = true;
        ready(false);
        return null;
      });
      let sourceError: unknown = undefined;
      let failed = false;
      if (await started && !sentAll) {
        const send = (bytes: Uint8Array) => {
          conn._send(bytes);
          return conn._drained(HIGH_WATER);
        };
        try {
          if (Array.isArray(source)) {
            // An array of rows: encoded a message at a time, no iterator.
            let i = first;
            while (!settled && i < source.length) {
              const next = rows.rows(source, i, source.length);
              if (next === i) {
                const item = source[i++];
                if (item instanceof Uint8Array) {
                  const pending = rows.take();
                  if (pending !== undefined) conn._send(pending);
                  const data = new Writer(item.length + 5);
                  copyData(data, item);
                  const wait = send(data.finish());
                  if (wait !== undefined) await Promise.race([wait, done]);
                } else rows.row(item);
              } else i = next;
              if (rows.full) {
                const wait = send(rows.take()!);
                if (wait !== undefined) await Promise.race([wait, done]);
              }
            }
            it = [][Symbol.iterator]();
          }
          while (!settled) {
            let step = it.next();
            if (step instanceof Promise) {
              const raced = await Promise.race([step, done]);
              if (raced === null) break;
              step = raced;
            }
            const r = step as IteratorResult<unknown>;
            if (r.done) break;
            const item = r.value;
            let wait: Promise<void> | undefined;
            if (item instanceof Uint8Array) {
              const pending = rows.take();
              if (pending !== undefined) conn._send(pending);
              const data = new Writer(item.length + 5);
              copyData(data, item);
              wait = send(data.finish());
            } else {
              rows.row(item);
              if (rows.full) wait = send(rows.take()!);
            }
            // Backpressure: the source waits while the socket is behind
            // (or until the request ends: cancelled, a server error).
            if (wait !== undefined) await Promise.race([wait, done]);
          }
          if (!settled) conn._send(rows.take(true)!);
        } catch (error) {
          sourceError = error;
          failed = true;
          if (!settled) {
            const data = new Writer(256);
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
 * turn is held until the server has answered. A slow consumer slows the
 * server: once about 256 KB wait in the stream, the connection stops
 * reading until the consumer pulls again.
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
  // A cancel must reach the server's answer: reading goes on.
  const stop = () => {
    conn._resumeReading();
    abort.abort(outer?.reason);
  };
  if (outer?.aborted) abort.abort(outer.reason);
  else outer?.addEventListener("abort", stop, { once: true });
  let cancelled = false;
  let finished: Promise<unknown> | undefined;
  // The CopyData messages of one socket read (one per row) become one
  // chunk: they are gathered while the read loop dispatches them, and
  // handed on in a microtask, once that batch is done. When the stream's
  // queue holds READ_HIGH_WATER bytes, the connection stops reading until
  // the consumer pulls (the server then waits on its socket).
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
    if (used >= (ctrl.desiredSize ?? 0)) conn._pauseReading();
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
      }).finally(() => {
        outer?.removeEventListener("abort", stop);
        conn._resumeReading();
      });
    },
    pull() {
      conn._resumeReading();
    },
    async cancel() {
      cancelled = true;
      conn._resumeReading();
      abort.abort();
      await finished;
    },
  }, {
    highWaterMark: READ_HIGH_WATER,
    size: (chunk) => chunk.byteLength,
  });
}
