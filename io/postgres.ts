/**
 * A PostgreSQL client over the wire protocol — asyncpg's API in camelCase:
 * {@linkcode connect}, `fetch`, `fetchrow`, `fetchval`, `execute`,
 * `executemany`, `prepare`, `transaction`, with server-side cancellation: a
 * query whose cancel scope is cancelled (a timeout, a failed TaskGroup
 * sibling, an aborted signal) is stopped on the server, and its await
 * settles once the server has answered.
 *
 * @example Usage
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres(); // a throwaway server
 * await using conn = await connect(pg.url);
 * await conn.execute("CREATE TABLE users (name text, age int)");
 * await conn.executemany("INSERT INTO users VALUES ($1, $2)", [["ada", 36], ["bob", 17]]);
 * const rows = await conn.fetch("SELECT * FROM users WHERE age > $1", [18]);
 * assert.deepEqual(rows, [{ name: "ada", age: 36 }]);
 * const n = await conn.transaction(async (tx) => {
 *   await tx.execute("DELETE FROM users WHERE age < $1", [18]);
 *   return await tx.fetchval("SELECT count(*) FROM users");
 * });
 * assert.equal(n, 1n); // count(*) is an int8: a bigint
 * ```
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  shield,
  type SignalOptions,
  suspend,
  timeout as withTimeout,
  Waiter,
} from "../async/mod.ts";
import {
  currentScope,
  registerResource,
  resourceClosed,
} from "../async/_internal.ts";
import type { CancelScope } from "../async/cancel_scope.ts";
import {
  Backend,
  cancelRequest,
  Decoder,
  type ErrorFields,
  type Field,
  type Notification,
  parseErrorFields,
  parseNotification,
  parseParameterDescription,
  parseRowDescription,
  ProtocolError,
  Reader,
  Writer,
} from "./_postgres_protocol.ts";
import * as fe from "./_postgres_protocol.ts";
import {
  type BinaryDecode,
  type Codec,
  EncodeError,
  typeName,
  TypeRegistry,
  type UserCodec,
} from "./_postgres_types.ts";
import { md5Password, ScramClient, type ScramError } from "./_scram.ts";
import {
  copyFrom,
  type CopyFromOptions,
  type CopySource,
  copyTo,
  type CopyToOptions,
} from "./_postgres_copy.ts";
import { cursor, type CursorOptions } from "./_postgres_cursor.ts";

export { ProtocolError };
export type { Notification, UserCodec };
export type { CopyFromOptions, CopySource, CopyToOptions, CursorOptions };

// ---------------------------------------------------------------------------
// Errors

/** The fields of a server error or notice (asyncpg's names, camelCase). */
export interface PostgresFields {
  /** SQLSTATE code, e.g. `"23505"`. */
  code: string;
  /** ERROR, FATAL, PANIC (errors) or WARNING, NOTICE, DEBUG, INFO, LOG. */
  severity: string;
  /** The primary message. */
  message: string;
  /** Secondary detail. */
  detail?: string;
  /** A suggestion what to do. */
  hint?: string;
  /** 1-based character position of the error in the query text. */
  position?: number;
  /** Call stack context. */
  where?: string;
  /** Schema name. */
  schema?: string;
  /** Table name. */
  table?: string;
  /** Column name. */
  column?: string;
  /** Data type name. */
  dataType?: string;
  /** Constraint name. */
  constraint?: string;
  /** Source file, line and routine of the server that raised it. */
  routine?: string;
}

function fieldsOf(raw: ErrorFields): PostgresFields {
  const fields: PostgresFields = {
    code: raw.C ?? "XX000",
    severity: raw.V ?? raw.S ?? "ERROR",
    message: raw.M ?? "unknown server error",
  };
  if (raw.D !== undefined) fields.detail = raw.D;
  if (raw.H !== undefined) fields.hint = raw.H;
  if (raw.P !== undefined) fields.position = Number(raw.P);
  if (raw.W !== undefined) fields.where = raw.W;
  if (raw.s !== undefined) fields.schema = raw.s;
  if (raw.t !== undefined) fields.table = raw.t;
  if (raw.c !== undefined) fields.column = raw.c;
  if (raw.d !== undefined) fields.dataType = raw.d;
  if (raw.n !== undefined) fields.constraint = raw.n;
  if (raw.R !== undefined) fields.routine = raw.R;
  return fields;
}

/**
 * An error the server reported, with its fields (`code` is the SQLSTATE)
 * and the query text (never the parameter values). Common SQLSTATEs have
 * subclasses to catch by name, e.g. {@linkcode UniqueViolationError}.
 *
 * @example Catching a server error by SQLSTATE
 * ```ts
 * import { PostgresError } from "@aio/std/io/postgres";
 * import assert from "node:assert/strict";
 *
 * const error = new PostgresError({ code: "42P01", severity: "ERROR", message: 'relation "x" does not exist' });
 * assert.equal(error.code, "42P01");
 * assert.ok(error instanceof Error);
 * ```
 */
export class PostgresError extends Error implements PostgresFields {
  /** SQLSTATE code. */
  code: string;
  /** Severity. */
  severity: string;
  /** Secondary detail. */
  detail?: string;
  /** Suggestion. */
  hint?: string;
  /** Position in the query text. */
  position?: number;
  /** Context. */
  where?: string;
  /** Schema. */
  schema?: string;
  /** Table. */
  table?: string;
  /** Column. */
  column?: string;
  /** Data type. */
  dataType?: string;
  /** Constraint. */
  constraint?: string;
  /** Server routine. */
  routine?: string;
  /** The query that failed, when a query did. */
  query?: string;

  /**
   * Makes the error from the server's fields.
   *
   * @param fields The server's fields.
   * @param query The query text.
   */
  constructor(fields: PostgresFields, query?: string) {
    super(fields.message);
    this.name = new.target.name;
    this.code = fields.code;
    this.severity = fields.severity;
    Object.assign(this, fields);
    if (query !== undefined) this.query = query;
  }
}

/** 23505: a unique constraint was violated. */
export class UniqueViolationError extends PostgresError {}
/** 23503: a foreign key constraint was violated. */
export class ForeignKeyViolationError extends PostgresError {}
/** 23502: NULL in a NOT NULL column. */
export class NotNullViolationError extends PostgresError {}
/** 23514: a check constraint was violated. */
export class CheckViolationError extends PostgresError {}
/** 40001: the transaction could not be serialized; retry it. */
export class SerializationError extends PostgresError {}
/** 40P01: a deadlock was detected; retry the transaction. */
export class DeadlockDetectedError extends PostgresError {}
/** 57014: the statement was cancelled (statement_timeout, pg_cancel_backend). */
export class QueryCanceledError extends PostgresError {}
/** 55P03: a lock could not be obtained (NOWAIT, lock_timeout). */
export class LockNotAvailableError extends PostgresError {}
/** 42P01: the table does not exist. */
export class UndefinedTableError extends PostgresError {}
/** 42703: the column does not exist. */
export class UndefinedColumnError extends PostgresError {}
/** 42601: a syntax error in the SQL text. */
export class PostgresSyntaxError extends PostgresError {}
/** 22P02: a value's text could not be read as its type. */
export class InvalidTextRepresentationError extends PostgresError {}
/** 22012: division by zero. */
export class DivisionByZeroError extends PostgresError {}
/** 28P01: the password is wrong. */
export class InvalidPasswordError extends PostgresError {}
/** 28000: the server refused this user/database/host (pg_hba.conf). */
export class InvalidAuthorizationError extends PostgresError {}
/** 57P01: the server is shutting down (or the backend was terminated). */
export class AdminShutdownError extends PostgresError {}

const BY_CODE: Record<string, typeof PostgresError> = {
  "23505": UniqueViolationError,
  "23503": ForeignKeyViolationError,
  "23502": NotNullViolationError,
  "23514": CheckViolationError,
  "40001": SerializationError,
  "40P01": DeadlockDetectedError,
  "57014": QueryCanceledError,
  "55P03": LockNotAvailableError,
  "42P01": UndefinedTableError,
  "42703": UndefinedColumnError,
  "42601": PostgresSyntaxError,
  "22P02": InvalidTextRepresentationError,
  "22012": DivisionByZeroError,
  "28P01": InvalidPasswordError,
  "28000": InvalidAuthorizationError,
  "57P01": AdminShutdownError,
};

function serverError(raw: ErrorFields, query?: string): PostgresError {
  const fields = fieldsOf(raw);
  return new (BY_CODE[fields.code] ?? PostgresError)(fields, query);
}

/**
 * A result value could not be decoded (a user codec threw, or the bytes do
 * not fit the type): the query fails, the connection stays usable.
 *
 * @example Usage
 * ```ts
 * import { PostgresDecodeError } from "@aio/std/io/postgres";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new PostgresDecodeError("bad").name, "PostgresDecodeError");
 * ```
 */
export class PostgresDecodeError extends Error {
  /**
   * Makes the error.
   *
   * @param message What could not be decoded.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PostgresDecodeError";
  }
}

/**
 * The connection is closed (by `close()`, by the server, or by a network
 * failure): open a new one. `cause` holds what closed it, when known.
 *
 * @example Usage
 * ```ts
 * import { ConnectionClosedError } from "@aio/std/io/postgres";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new ConnectionClosedError("gone").name, "ConnectionClosedError");
 * ```
 */
export class ConnectionClosedError extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionClosedError";
  }
}

/**
 * The connection could not be established on the client's side: the socket,
 * TLS, or an authentication method we refuse (a wrong SCRAM signature, an
 * unsupported method). Server refusals are {@linkcode PostgresError}s.
 *
 * @example Usage
 * ```ts
 * import { PostgresConnectionError } from "@aio/std/io/postgres";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new PostgresConnectionError("no") instanceof Error);
 * ```
 */
export class PostgresConnectionError extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened.
   * @param options The cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PostgresConnectionError";
  }
}

// ---------------------------------------------------------------------------
// Options

/**
 * TLS modes, as libpq names them. Deno's TLS always verifies the server's
 * certificate chain (against the system roots or `caCerts`) and its host
 * name, so `require`, `verify-ca` and `verify-full` all behave as
 * `verify-full` once TLS is up; `prefer` tries TLS and falls back to
 * plaintext only when the server does not offer TLS or the handshake fails;
 * `disable` never asks. A mode that says TLS never falls back.
 */
export type SslMode =
  | "disable"
  | "prefer"
  | "require"
  | "verify-ca"
  | "verify-full";

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** Host name, IP, or a directory holding the Unix socket (starts with `/`). */
  host?: string;
  /** Port (default 5432). */
  port?: number;
  /** User (default `$PGUSER`, `$USER`, then "postgres"). */
  user?: string;
  /** Password. */
  password?: string;
  /** Database (default: the user name). */
  database?: string;
  /** TLS mode (default "prefer" over TCP; Unix sockets never use TLS). */
  sslmode?: SslMode;
  /** PEM certificates of a private CA to trust. */
  caCerts?: string[];
  /** `application_name` shown in pg_stat_activity. */
  applicationName?: string;
  /** Milliseconds to establish the connection (default 60 000). */
  connectTimeout?: number;
  /** Run-time parameters sent at startup (`{ search_path: "app" }`). */
  serverSettings?: Record<string, string>;
  /** How many statements the LRU statement cache keeps (default 100). */
  statementCacheSize?: number;
  /** Called with each notice the server sends (default: ignored). */
  onNotice?: (notice: PostgresFields) => void;
  /** Aborts the connection attempt. */
  signal?: AbortSignal;
}

/** Options of every query method. */
export interface QueryOptions {
  /** Aborts the query; it is cancelled on the server. */
  signal?: AbortSignal;
  /**
   * Milliseconds before the query is cancelled on the server and rejects
   * with `TimeoutError`.
   */
  timeout?: number;
}

/** Options for {@linkcode Connection.transaction}. */
export interface TransactionOptions {
  /** Isolation level. */
  isolation?: "read committed" | "repeatable read" | "serializable";
  /** `READ ONLY`. */
  readOnly?: boolean;
  /** `DEFERRABLE` (serializable read-only only). */
  deferrable?: boolean;
}

/** A result row: column names to values, in column order. */
export type Row = Record<string, unknown>;

interface Resolved {
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  sslmode: SslMode;
  caCerts: string[] | undefined;
  applicationName: string | undefined;
  connectTimeout: number;
  serverSettings: Record<string, string>;
  statementCacheSize: number;
  onNotice: ((notice: PostgresFields) => void) | undefined;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: the variables simply do not apply
  }
}

const SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"];

function parseUrl(text: string): ConnectOptions {
  let url: URL;
  // libpq allows "postgres://user@/db?host=/socket/dir" (no host); the URL
  // parser does not allow credentials without a host: put one in, drop it.
  const NO_HOST = "aio-no-host.invalid";
  const fixed = text.replace(
    /^(postgres(?:ql)?:\/\/[^/?#]*@)(?=[/?#]|$)/,
    `$1${NO_HOST}`,
  );
  try {
    url = new URL(fixed);
  } catch {
    throw new TypeError(
      "Cannot connect to PostgreSQL: the connection string is not a URL (expected postgres://user:password@host:port/database)",
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new TypeError(
      `Cannot connect to PostgreSQL: the URL scheme must be postgres: or postgresql:, got ${url.protocol}`,
    );
  }
  const out: ConnectOptions = {};
  if (url.hostname && url.hostname !== NO_HOST) {
    // "[::1]" is how a URL spells an IPv6 host; sockets want "::1".
    out.host = decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, "$1");
  }
  if (url.port) out.port = Number(url.port);
  if (url.username) out.user = decodeURIComponent(url.username);
  if (url.password) out.password = decodeURIComponent(url.password);
  const db = decodeURIComponent(url.pathname.slice(1));
  if (db) out.database = db;
  const settings: Record<string, string> = {};
  for (const [key, value] of url.searchParams) {
    switch (key) {
      case "host":
        out.host = value;
        break;
      case "port":
        out.port = Number(value);
        break;
      case "user":
        out.user = value;
        break;
      case "password":
        out.password = value;
        break;
      case "dbname":
      case "database":
        out.database = value;
        break;
      case "sslmode":
        out.sslmode = value as SslMode;
        break;
      case "application_name":
        out.applicationName = value;
        break;
      case "connect_timeout":
        out.connectTimeout = Number(value) * 1000;
        break;
      case "sslrootcert":
        // libpq's CA file; read by connect().
        (out as { sslrootcert?: string }).sslrootcert = value;
        break;
      default:
        settings[key] = value;
    }
  }
  if (Object.keys(settings).length > 0) out.serverSettings = settings;
  return out;
}

function resolveOptions(
  target: string | URL | ConnectOptions | undefined,
  extra: ConnectOptions | undefined,
): Resolved {
  let given: ConnectOptions;
  if (typeof target === "string" || target instanceof URL) {
    given = { ...parseUrl(String(target)), ...extra };
  } else if (
    target === undefined || (typeof target === "object" && target !== null)
  ) {
    given = { ...target, ...extra };
  } else {
    throw new TypeError(
      `Cannot connect to PostgreSQL: expected a URL or an options object, got ${typeof target}`,
    );
  }
  const user = given.user ?? env("PGUSER") ?? env("USER") ?? "postgres";
  const host = given.host ?? env("PGHOST") ?? "localhost";
  const port = given.port ?? Number(env("PGPORT") ?? 5432);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new RangeError(
      `Cannot connect to PostgreSQL: the port must be an integer 1..65535, got ${port}`,
    );
  }
  const sslmode = (given.sslmode ?? env("PGSSLMODE") ??
    (host.startsWith("/") ? "disable" : "prefer")) as SslMode;
  if (!SSL_MODES.includes(sslmode)) {
    throw new TypeError(
      `Cannot connect to PostgreSQL: sslmode must be one of ${
        SSL_MODES.join(", ")
      }, got ${sslmode}`,
    );
  }
  const statementCacheSize = given.statementCacheSize ?? 100;
  if (!Number.isInteger(statementCacheSize) || statementCacheSize < 0) {
    throw new RangeError(
      `Cannot connect to PostgreSQL: statementCacheSize must be an integer >= 0, got ${statementCacheSize}`,
    );
  }
  const connectTimeout = given.connectTimeout ?? 60_000;
  if (!(connectTimeout >= 0)) {
    throw new RangeError(
      `Cannot connect to PostgreSQL: connectTimeout must be a number >= 0, got ${connectTimeout}`,
    );
  }
  return {
    host,
    port,
    user,
    password: given.password ?? env("PGPASSWORD"),
    database: given.database ?? env("PGDATABASE") ?? user,
    sslmode,
    caCerts: given.caCerts,
    applicationName: given.applicationName ?? env("PGAPPNAME"),
    connectTimeout,
    serverSettings: given.serverSettings ?? {},
    statementCacheSize,
    onNotice: given.onNotice,
  };
}

// ---------------------------------------------------------------------------
// Sockets

type Socket = Deno.Conn;

async function writeAll(socket: Socket, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    off += await socket.write(off === 0 ? bytes : bytes.subarray(off));
  }
}

function openSocket(o: Resolved, signal?: AbortSignal): Promise<Socket> {
  if (o.host.startsWith("/")) {
    return Deno.connect({
      transport: "unix",
      path: `${o.host}/.s.PGSQL.${o.port}`,
    }) as Promise<Socket>;
  }
  const at = { hostname: o.host, port: o.port, signal };
  return Deno.connect(at).then((conn) => {
    // One write per request: never let Nagle hold it back.
    conn.setNoDelay(true);
    // Keepalive probes find a peer that vanished while the connection idles
    // (after the OS's keepalive time; the pool's liveness check and the
    // cancel grace cover the rest). TLS wraps this socket, so it has them too.
    conn.setKeepAlive?.(true);
    return conn;
  });
}

// Reads one whole message during startup, before the read loop runs.
async function readMessage(socket: Socket, dec: Decoder): Promise<number> {
  while (true) {
    const type = dec.next();
    if (type !== -1) return type;
    const n = await socket.read(dec.reserve());
    if (n === null) {
      throw new ConnectionClosedError(
        "Cannot connect to PostgreSQL: the server closed the connection during startup",
      );
    }
    dec.advance(n);
  }
}

async function negotiateTls(socket: Socket, o: Resolved): Promise<Socket> {
  const w = new Writer(16);
  fe.sslRequest(w);
  await writeAll(socket, w.finish());
  const answer = new Uint8Array(1);
  const n = await socket.read(answer);
  if (n === null) {
    throw new PostgresConnectionError(
      `Cannot connect to PostgreSQL at ${o.host}:${o.port}: the server closed the connection after SSLRequest`,
    );
  }
  if (answer[0] === 0x4e) { // 'N': no TLS here
    if (o.sslmode === "prefer") return socket;
    throw new PostgresConnectionError(
      `Cannot connect to PostgreSQL at ${o.host}:${o.port}: sslmode is ${o.sslmode} but the server does not offer TLS (use sslmode=prefer or disable to allow plaintext)`,
    );
  }
  if (answer[0] !== 0x53) {
    throw new ProtocolError(
      `Cannot connect to PostgreSQL: unexpected answer to SSLRequest, got byte 0x${
        answer[0].toString(16)
      }`,
    );
  }
  const tls = await Deno.startTls(socket as Deno.TcpConn, {
    hostname: o.host,
    caCerts: o.caCerts,
  });
  try {
    await tls.handshake(); // verification errors surface here, not later
  } catch (error) {
    try {
      tls.close();
    } catch { /* closed */ }
    throw new TlsHandshakeError(
      `Cannot connect to PostgreSQL at ${o.host}:${o.port}: the TLS handshake failed (${
        (error as Error).message
      }); Deno verifies the certificate and host name in every sslmode, pass the CA in 'caCerts' or 'sslrootcert'`,
      { cause: error },
    );
  }
  return tls;
}

class TlsHandshakeError extends Error {}

// ---------------------------------------------------------------------------
// Jobs: one request on the wire, from its write to its ReadyForQuery.

const enum Kind {
  Simple, // Query: status tag of the last statement
  Prepare, // Parse + Describe: the statement's shape
  Rows, // Bind + Execute: rows
  Many, // n × (Bind + Execute): nothing
  Close, // Close statement: nothing
  Custom, // a RequestHandler's (COPY, cursors…)
}

/**
 * The internal seam for features built on a connection (COPY, cursors,
 * LISTEN — the next layer): a request's messages go to `onMessage` first;
 * it returns true for those it consumed. Its `result()` is what the request
 * resolves with at ReadyForQuery (an ErrorResponse rejects it instead).
 * `buf[start, end)` is the message body, valid during the call only.
 */
export interface RequestHandler {
  /** Sees a message of the request; true if it consumed it. */
  onMessage(type: number, buf: Uint8Array, start: number, end: number): boolean;
  /** The request's value, at ReadyForQuery. */
  result(): unknown;
}

interface Statement {
  name: string;
  sql: string;
  params: number[];
  fields: Field[];
  names: string[];
  decoders: BinaryDecode[];
  formats: number[];
  // Set when the registry changed under it (setTypeCodec).
  generation: number;
}

const NO_FIELDS: Field[] = [];

class Job extends Waiter<unknown> {
  kind: Kind;
  sql: string;
  conn: Connection;
  rows: Row[] = [];
  tag = "";
  error: unknown = undefined;
  stmt: Statement | undefined;
  params: number[] | undefined = undefined;
  fields: Field[] | undefined = undefined;
  // Set on cancellation: resolved once ReadyForQuery arrived.
  ended: Promise<void> | undefined = undefined;
  endedResolve: (() => void) | undefined = undefined;
  cancelled: unknown = undefined;
  handler: RequestHandler | undefined = undefined;
  // The transaction status its ReadyForQuery reported.
  status = 0;
  // Written while a CancelRequest for an earlier query was on its way: a
  // 57014 may be that request's, arriving late.
  collateral = false;
  // Whether the server was asked to stop it.
  asked = false;
  // Settles the wait of a job cancelled while queued behind others.
  stoppedResolve: (() => void) | undefined = undefined;

  constructor(conn: Connection, kind: Kind, sql: string, stmt?: Statement) {
    super();
    this.conn = conn;
    this.kind = kind;
    this.sql = sql;
    this.stmt = stmt;
  }

  protected withdraw(error: unknown): PromiseLike<unknown> {
    this.cancelled = error;
    this.ended = new Promise<void>((resolve) => {
      this.endedResolve = resolve;
    });
    // A CancelRequest stops whatever the backend runs now, so only the
    // query at the head of the pipeline is asked to stop; one queued behind
    // others is asked once it is the head (its bytes are on the wire
    // already: it cannot be withdrawn, its result is dropped).
    if (this.conn._running() === this) return this.ask();
    return new Promise<void>((resolve) => {
      this.stoppedResolve = resolve;
    });
  }

  // Asks the server to stop this job, then waits for its ReadyForQuery.
  ask(): Promise<void> {
    this.asked = true;
    const conn = this.conn;
    const asked = conn._cancelOnServer();
    // A server that never answers must not hold the caller forever: after
    // CANCEL_GRACE ms the connection is closed instead (failing the job) —
    // a socket gone silent (half-open) fails soon after its deadline.
    let id: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      id = setTimeout(() => {
        conn.terminate();
        resolve();
      }, CANCEL_GRACE);
    });
    const stopped = Promise.race([Promise.all([asked, this.ended]), grace])
      .then(() => clearTimeout(id));
    const resolve = this.stoppedResolve;
    if (resolve !== undefined) stopped.then(resolve);
    return stopped;
  }
}

// The gate a transaction or `_exclusive` opened, for the calls made within.
const holds = new AsyncLocalStorage<Gate>();

/**
 * Who may use a connection now. Queries (a Bind/Execute/Sync each) share
 * it: each is written at once, pipelined behind those in flight. An
 * exclusive operation (a simple-query execute, COPY, prepare, a whole
 * transaction) waits until the queries before it have ended and holds back
 * those after it, FIFO. A transaction or `_exclusive` holds its gate and
 * opens an inner one for the calls made within it (found through the async
 * context), so that its own calls go on while other callers wait.
 */
class Gate {
  conn: Connection;
  parent: Gate | undefined;
  outer: Gate | undefined;
  txDepth: number;
  exclusive = false;
  active = 0;
  turns: Turn[] = [];
  closed = false;
  // A cursor's hold: the calls made in this scope (or scopes nested in it:
  // the loop body and the tasks it starts) are within the hold too, since
  // they cannot run inside the `for await` callback as a transaction's do.
  owner: CancelScope | undefined | null = null;

  constructor(
    conn: Connection,
    parent: Gate | undefined,
    outer: Gate | undefined,
    txDepth: number,
  ) {
    this.conn = conn;
    this.parent = parent;
    this.outer = outer;
    this.txDepth = txDepth;
  }

  // Undefined when entered at once, else the wait (with the gate entered).
  enter(
    exclusive: boolean,
    options: SignalOptions | undefined,
  ): Promise<Gate> | undefined {
    if (
      this.turns.length === 0 && !this.exclusive &&
      (!exclusive || this.active === 0)
    ) {
      if (exclusive) this.exclusive = true;
      else this.active++;
      return undefined;
    }
    const turn = new Turn(this, exclusive);
    const promise = turn.wait(options);
    if (turn.pending) this.turns.push(turn);
    return promise;
  }

  leave(exclusive: boolean): void {
    if (exclusive) this.exclusive = false;
    else this.active--;
    this.#wake();
  }

  #wake(): void {
    const turns = this.turns;
    while (turns.length > 0 && !this.exclusive) {
      const turn = turns[0];
      if (turn.exclusive && this.active > 0) return;
      turns.shift();
      if (!turn.resolve(this)) continue;
      if (turn.exclusive) this.exclusive = true;
      else this.active++;
    }
  }

  forget(turn: Turn): void {
    const i = this.turns.indexOf(turn);
    if (i < 0) return;
    this.turns.splice(i, 1);
    this.#wake(); // an exclusive turn withdrawn may free queries behind it
  }

  // Hands the calls still waiting here to the outer gate (its holder
  // leaves it next, which lets them in).
  close(): void {
    this.closed = true;
    const parent = this.parent!;
    for (const turn of this.turns) turn.gate = parent;
    parent.turns.unshift(...this.turns);
    this.turns = [];
  }
}

/**
 * How long a cancelled query may take to stop (the CancelRequest's own
 * round trip included) before its connection is closed: a server that is
 * alive answers a cancel within milliseconds; one that does not is
 * unreachable or its socket is dead.
 */
const CANCEL_GRACE = 2_000;

// What each connection exposes to its jobs and cancel requests.
const internals = new WeakMap<Connection, {
  target: Resolved;
  pid: number;
  secret: number;
}>();

async function cancelOnServer(conn: Connection): Promise<void> {
  const info = internals.get(conn);
  if (info === undefined || info.pid === 0) return;
  let socket: Socket | undefined;
  // Bounded like the wait for the query's end: no connect or read of it
  // outlives the grace.
  const abort = new AbortController();
  const timer = setTimeout(() => {
    abort.abort();
    try {
      socket?.close();
    } catch { /* closed */ }
    socket = undefined;
  }, CANCEL_GRACE);
  try {
    socket = await openSocket(info.target, abort.signal);
    if (abort.signal.aborted) return;
    const w = new Writer(16);
    cancelRequest(w, info.pid, info.secret);
    await writeAll(socket, w.finish());
    // The server closes the socket once it has signalled the backend.
    const sink = new Uint8Array(16);
    while ((await socket.read(sink)) !== null) { /* drain */ }
  } catch {
    // Nothing else to do: the query will end on its own or with the socket.
  } finally {
    clearTimeout(timer);
    try {
      socket?.close();
    } catch { /* already closed */ }
  }
}

function argsError(method: string, args: unknown): Promise<never> {
  return Promise.reject(
    new TypeError(
      `Cannot ${method}: 'args' must be an array of query arguments, got ${
        args === null ? "null" : typeof args
      }`,
    ),
  );
}

function sqlError(method: string, sql: unknown): Promise<never> {
  return Promise.reject(
    new TypeError(
      `Cannot ${method}: the query must be a string, got ${typeof sql}`,
    ),
  );
}

const emptyArgs: readonly unknown[] = [];

/**
 * A connection to a PostgreSQL server — asyncpg's `Connection`. Made by
 * {@linkcode connect}. Queries made concurrently (`fetch`, `fetchrow`,
 * `fetchval`, `execute` with arguments, prepared statements) are
 * pipelined: each is written at once with its own Sync, so they run in
 * call order without waiting for each other's answers, and an error stays
 * with its query. Exclusive calls (`execute` without arguments, which may
 * hold several statements, `executemany`, `prepare`, COPY, a whole
 * `transaction()`) wait for the queries before them and hold back those
 * after them; calls made within a transaction's function go on, other
 * callers' wait. A cancelled query still queued behind others is asked to
 * stop only once the server runs it (a CancelRequest stops whatever runs);
 * a call cancelled before it was written leaves without touching the wire.
 *
 * @example Concurrent calls, a TaskGroup, and a cancel that reaches the server
 * ```ts
 * import { connect, type Row } from "@aio/std/io/postgres";
 * import { TaskGroup } from "@aio/std/async";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using conn = await connect(pg.url);
 * const controller = new AbortController();
 * let sum = 0;
 * let rows: Row[] = [];
 * await TaskGroup.run((tg) => {
 *   tg.createTask(async () => {
 *     sum = await conn.fetchval<number>("SELECT $1::int + $2::int", [2, 3]);
 *   });
 *   tg.createTask(async () => {
 *     rows = await conn.fetch("SELECT g FROM generate_series(1, 3) g");
 *   });
 * });
 * assert.equal(sum, 5);
 * assert.deepEqual(rows.map((r) => r.g), [1, 2, 3]);
 * // An aborted signal stops the statement on the server.
 * setTimeout(() => controller.abort(), 20);
 * await assert.rejects(conn.fetch("SELECT pg_sleep(10)", [], { signal: controller.signal }));
 * assert.equal(await conn.fetchval("SELECT 'usable'"), "usable");
 * ```
 */
export class Connection implements AsyncDisposable {
  #socket: Socket;
  #dec: Decoder;
  #w = new Writer(1024);
  #o: Resolved;
  #registry = new TypeRegistry();
  #generation = 0;
  #serverParams = new Map<string, string>();
  #status = 0x49; // 'I'
  #closed: Error | undefined = undefined;
  #fatal: PostgresError | undefined = undefined;
  #loop: Promise<void> | undefined = undefined;
  // In-flight jobs, oldest first: queries are pipelined, answered in order.
  #inflight: Job[] = [];
  #inflightHead = 0;
  // Writes not yet handed to the socket, while one is in progress.
  #writeQueue: Uint8Array[] = [];
  #writing = false;
  // Bytes handed to #send and not yet written; a COPY's writer waits
  // (`_drained`) while they are above its mark, its read side may pause
  // the read loop (`_pauseReading`).
  #unwritten = 0;
  #drainMark = 0;
  #drainWake: (() => void) | undefined = undefined;
  #readPause: Promise<void> | undefined = undefined;
  #readResume: (() => void) | undefined = undefined;
  // Who may use the connection (see Gate); inner gates of open
  // transactions and `_exclusive` calls.
  #root: Gate = new Gate(this, undefined, undefined, 0);
  #gates = new Set<Gate>();
  // Concurrent misses of one SQL share its Parse.
  #preparing = new Map<string, Promise<Statement>>();
  // CancelRequests on their way.
  #cancelling = 0;
  #cache = new Map<string, Statement>();
  #pendingCloses: string[] = [];
  #nextName = 0;
  #lastSql: string | undefined = undefined;
  #closesInWriter = 0;
  #onNotification: ((n: Notification) => void) | undefined = undefined;
  #onClose: ((reason: Error) => void) | undefined = undefined;

  /** @ignore Use {@linkcode connect}. */
  constructor(
    socket: Socket,
    dec: Decoder,
    o: Resolved,
    pid: number,
    secret: number,
    params: Map<string, string>,
  ) {
    this.#socket = socket;
    this.#dec = dec;
    this.#o = o;
    this.#serverParams = params;
    internals.set(this, { target: o, pid, secret });
    this.#loop = this.#readLoop();
    registerResource(this, "Connection"); // debug mode's unclosed report
  }

  /** The server's backend process id (for `pg_cancel_backend` and logs). */
  get pid(): number {
    return internals.get(this)!.pid;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /** Whether a transaction is open (the server's last ReadyForQuery said so). */
  get inTransaction(): boolean {
    return this.#status !== 0x49;
  }

  /**
   * A server run-time parameter it reported (`server_version`,
   * `TimeZone`, …), or undefined.
   *
   * @param name The parameter's name.
   * @returns Its value.
   */
  serverParameter(name: string): string | undefined {
    return this.#serverParams.get(name);
  }

  // -------------------------------------------------------------------------
  // Turn taking

  // The caller's gate: the innermost one of this connection its async
  // context holds (it runs within a transaction), else the root.
  #gate(): Gate {
    if (this.#gates.size === 0) return this.#root;
    for (let g = holds.getStore(); g !== undefined; g = g.outer) {
      if (g.conn === this && !g.closed) return g;
    }
    const scope = currentScope();
    for (const g of this.#gates) {
      if (g.owner === null || g.closed) continue;
      // Iterated outside every scope: such code is one caller (the main
      // program); tasks have scopes of their own.
      if (g.owner === undefined) {
        if (scope === undefined) return g;
        continue;
      }
      for (let s = scope; s !== undefined; s = s.parent) {
        if (s === g.owner) return g;
      }
    }
    return this.#root;
  }

  // Enters the caller's gate: the gate (entered at once) or the wait.
  #enter(
    exclusive: boolean,
    options: SignalOptions | undefined,
  ): Gate | Promise<Gate> {
    if (this.#closed !== undefined) return Promise.reject(this.#closedError());
    const gate = this.#gate();
    return gate.enter(exclusive, options) ?? gate;
  }

  // Runs `fn` (its caller holds `gate` exclusively) with an inner gate for
  // the calls made within it.
  #within<T>(gate: Gate, txDepth: number, fn: () => Promise<T>): Promise<T> {
    const inner = new Gate(this, gate, holds.getStore(), txDepth);
    this.#gates.add(inner);
    return holds.run(inner, fn).finally(() => {
      inner.close();
      this.#gates.delete(inner);
    });
  }

  /** @ignore The job the server is running (the head of the pipeline). */
  _running(): Job | undefined {
    return this.#inflight[this.#inflightHead];
  }

  /**
   * @ignore Sends a CancelRequest for the head job; the jobs behind it may
   * be hit instead if it arrives late (they may retry).
   */
  _cancelOnServer(): Promise<void> {
    for (let i = this.#inflightHead + 1; i < this.#inflight.length; i++) {
      this.#inflight[i].collateral = true;
    }
    this.#cancelling++;
    // The server's answer must be read: a COPY TO whose consumer stalled
    // paused the reads, and the cancel would wait for its grace instead.
    this._resumeReading();
    return cancelOnServer(this).finally(() => {
      this.#cancelling--;
    });
  }

  #closedError(): Error {
    const cause = this.#closed;
    if (cause instanceof ConnectionClosedError) return cause;
    return new ConnectionClosedError(
      `Cannot use the PostgreSQL connection: it is closed (${
        cause?.message ?? "unknown reason"
      }); open a new one`,
      { cause },
    );
  }

  // -------------------------------------------------------------------------
  // Wire

  #send(bytes: Uint8Array): void {
    this.#unwritten += bytes.length;
    if (this.#writing) {
      this.#writeQueue.push(bytes);
      return;
    }
    this.#writing = true;
    // The usual case, one write that takes everything, costs no async frame.
    this.#socket.write(bytes).then((n) => {
      this.#unwritten -= n;
      if (n < bytes.length) this.#flush(bytes.subarray(n));
      else if (this.#writeQueue.length > 0) {
        this.#flush(this.#writeQueue.shift()!);
      } else {
        this.#writing = false;
        if (this.#drainWake !== undefined) this.#wakeDrained();
      }
    }, (error) => {
      this.#writing = false;
      this.#fail(error);
    });
  }

  async #flush(bytes: Uint8Array): Promise<void> {
    try {
      while (true) {
        await writeAll(this.#socket, bytes);
        this.#unwritten -= bytes.length;
        if (this.#drainWake !== undefined) this.#wakeDrained();
        const next = this.#writeQueue.shift();
        if (next === undefined) break;
        bytes = next;
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#writing = false;
    }
  }

  #wakeDrained(): void {
    if (this.#unwritten > this.#drainMark && this.#closed === undefined) return;
    const wake = this.#drainWake!;
    this.#drainWake = undefined;
    wake();
  }

  // Starts `job` (written as `bytes`); resolves with its result, rejects
  // with its error, or — cancelled — once the server answered.
  #run(
    job: Job,
    bytes: Uint8Array,
    options: SignalOptions | undefined,
  ): Promise<unknown> {
    const promise = job.wait(options);
    if (!job.pending) return promise; // cancelled before anything was sent
    if (this.#closed !== undefined) {
      job.reject(this.#closedError());
      return promise;
    }
    if (this.#cancelling > 0) job.collateral = true;
    this.#inflight.push(job);
    this.#send(bytes);
    if (this.#closesInWriter > 0) {
      this.#pendingCloses.splice(0, this.#closesInWriter);
      this.#closesInWriter = 0;
    }
    return promise;
  }

  async #readLoop(): Promise<void> {
    const dec = this.#dec;
    const socket = this.#socket;
    try {
      while (true) {
        let type: number;
        while ((type = dec.next()) !== -1) this.#dispatch(type, dec);
        if (this.#readPause !== undefined) await this.#readPause;
        const n = await socket.read(dec.reserve());
        if (n === null) {
          throw new ConnectionClosedError(
            "Cannot use the PostgreSQL connection: the server closed it",
          );
        }
        dec.advance(n);
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  #fail(error: unknown): void {
    if (this.#closed !== undefined) return;
    // A FATAL error the server sent before closing is the real reason.
    const job = this.#inflight[this.#inflightHead];
    const reason = job?.error instanceof PostgresError
      ? job.error
      : this.#fatal ?? error;
    this.#closed = reason instanceof Error ? reason : new Error(String(reason));
    resourceClosed(this);
    this._resumeReading();
    if (this.#drainWake !== undefined) this.#wakeDrained();
    try {
      this.#socket.close();
    } catch { /* already closed */ }
    const closed = this.#closedError();
    for (let i = this.#inflightHead; i < this.#inflight.length; i++) {
      const j = this.#inflight[i];
      j.reject(j.error ?? (reason instanceof ProtocolError ? reason : closed));
      j.endedResolve?.();
      j.stoppedResolve?.();
    }
    this.#inflight = [];
    this.#inflightHead = 0;
    for (const gate of [this.#root, ...this.#gates]) {
      for (const turn of gate.turns.splice(0)) turn.reject(closed);
    }
    const onClose = this.#onClose;
    this.#onClose = undefined;
    onClose?.(this.#closed);
  }

  #dispatch(type: number, dec: Decoder): void {
    const job = this.#inflight[this.#inflightHead];
    if (
      job !== undefined && job.handler !== undefined &&
      job.handler.onMessage(type, dec.buf, dec.start, dec.end)
    ) return;
    switch (type) {
      case Backend.DataRow:
        if (job !== undefined && job.kind === Kind.Rows) {
          // A value that cannot be decoded (a user codec's error, a bogus
          // length) fails its query; the framing is intact, so the
          // connection goes on.
          if (job.error !== undefined) return;
          try {
            job.rows.push(this.#row(job.stmt!, dec));
          } catch (error) {
            if (!(error instanceof PostgresDecodeError)) throw error;
            job.error = error;
          }
          return;
        }
        // execute() keeps only the tag, with or without arguments.
        if (
          job !== undefined &&
          (job.kind === Kind.Simple || job.kind === Kind.Many)
        ) return;
        break;
      case Backend.BindComplete:
      case Backend.ParseComplete:
      case Backend.CloseComplete:
        if (job !== undefined) return;
        break;
      case Backend.CommandComplete:
        if (job !== undefined) {
          job.tag = new Reader(
            dec.buf,
            dec.view,
            dec.start,
            dec.end,
            "CommandComplete",
          ).cstr();
          return;
        }
        break;
      case Backend.ReadyForQuery:
        if (job !== undefined) {
          job.status = this.#status = dec.buf[dec.start];
          this.#inflight[this.#inflightHead] = undefined as unknown as Job;
          if (++this.#inflightHead === this.#inflight.length) {
            this.#inflight.length = 0;
            this.#inflightHead = 0;
          }
          this.#finish(job);
          // A query cancelled while queued is asked to stop once it runs.
          const next = this.#inflight[this.#inflightHead];
          if (next?.cancelled !== undefined && !next.asked) next.ask();
          return;
        }
        break;
      case Backend.ErrorResponse: {
        const raw = parseErrorFields(
          new Reader(dec.buf, dec.view, dec.start, dec.end, "ErrorResponse"),
        );
        const error = serverError(raw, job?.sql);
        if (job !== undefined) {
          job.error ??= error;
          return;
        }
        // An error outside any request (e.g. 57P01 at shutdown): the
        // server closes the connection next, and this is why.
        this.#fatal ??= error;
        return;
      }
      case Backend.RowDescription:
        if (job !== undefined) {
          job.fields = parseRowDescription(
            new Reader(dec.buf, dec.view, dec.start, dec.end, "RowDescription"),
          );
          return;
        }
        break;
      case Backend.NoData:
        if (job !== undefined) {
          job.fields = NO_FIELDS;
          return;
        }
        break;
      case Backend.ParameterDescription:
        if (job !== undefined) {
          job.params = parseParameterDescription(
            new Reader(
              dec.buf,
              dec.view,
              dec.start,
              dec.end,
              "ParameterDescription",
            ),
          );
          return;
        }
        break;
      case Backend.EmptyQueryResponse:
      case Backend.PortalSuspended:
        if (job !== undefined) return;
        break;
      case Backend.NoticeResponse: {
        const notice = fieldsOf(parseErrorFields(
          new Reader(dec.buf, dec.view, dec.start, dec.end, "NoticeResponse"),
        ));
        const onNotice = this.#o.onNotice;
        if (onNotice !== undefined) {
          try {
            onNotice(notice);
          } catch (error) {
            queueMicrotask(() => {
              throw error;
            });
          }
        }
        return;
      }
      case Backend.ParameterStatus: {
        const r = new Reader(
          dec.buf,
          dec.view,
          dec.start,
          dec.end,
          "ParameterStatus",
        );
        this.#serverParams.set(r.cstr(), r.cstr());
        return;
      }
      case Backend.NotificationResponse: {
        const n = parseNotification(
          new Reader(
            dec.buf,
            dec.view,
            dec.start,
            dec.end,
            "NotificationResponse",
          ),
        );
        this.#onNotification?.(n);
        return;
      }
      case Backend.CopyInResponse:
        // COPY FROM STDIN through execute(): refuse it cleanly.
        if (job !== undefined) {
          const w = new Writer(64);
          fe.copyFail(w, "COPY FROM STDIN is not supported by execute()");
          this.#send(w.finish());
          return;
        }
        break;
      case Backend.CopyOutResponse:
      case Backend.CopyData:
      case Backend.CopyDone:
        if (job !== undefined) return; // COPY TO STDOUT via execute(): dropped
        break;
    }
    throw new ProtocolError(
      `Cannot use the PostgreSQL connection: unexpected message '${
        String.fromCharCode(type)
      }' ${job === undefined ? "while idle" : "during a query"}`,
    );
  }

  #finish(job: Job): void {
    if (job.cancelled !== undefined) {
      job.endedResolve!();
      return;
    }
    if (job.error !== undefined) {
      job.reject(job.error);
      return;
    }
    switch (job.kind) {
      case Kind.Rows:
        job.resolve(job.rows);
        return;
      case Kind.Prepare:
        job.resolve(undefined);
        return;
      case Kind.Custom:
        job.resolve(job.handler!.result());
        return;
      default:
        job.resolve(job.tag);
    }
  }

  #row(stmt: Statement, dec: Decoder): Row {
    const buf = dec.buf;
    const view = dec.view;
    const end = dec.end;
    let pos = dec.start + 2;
    const names = stmt.names;
    const decoders = stmt.decoders;
    const n = names.length;
    if (pos > end || view.getInt16(pos - 2) !== n) {
      throw new ProtocolError(
        `Cannot decode a PostgreSQL DataRow: expected ${n} columns`,
      );
    }
    const row: Row = {};
    for (let i = 0; i < n; i++) {
      if (pos + 4 > end) throw this.#truncatedRow();
      const len = view.getInt32(pos);
      pos += 4;
      if (len < 0) {
        row[names[i]] = null;
        continue;
      }
      if (pos + len > end) throw this.#truncatedRow();
      try {
        row[names[i]] = decoders[i](buf, view, pos, pos + len);
      } catch (error) {
        throw new PostgresDecodeError(
          `Cannot decode column "${names[i]}" (${
            typeName(stmt.fields[i].typeOid, this.#registry)
          }) of the result: ${(error as Error)?.message ?? error}`,
          { cause: error },
        );
      }
      pos += len;
    }
    return row;
  }

  #truncatedRow(): ProtocolError {
    return new ProtocolError(
      "Cannot decode a PostgreSQL DataRow: a value overruns the message",
    );
  }

  // -------------------------------------------------------------------------
  // Statements

  #statement(
    fields: Field[],
    params: number[],
    name: string,
    sql: string,
  ): Statement {
    const names = new Array<string>(fields.length);
    const decoders = new Array<BinaryDecode>(fields.length);
    const formats = new Array<number>(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const col = this.#registry.column(fields[i].typeOid);
      names[i] = fields[i].name;
      decoders[i] = col.decode;
      formats[i] = col.format;
    }
    return {
      name,
      sql,
      params,
      fields,
      names,
      decoders,
      formats,
      generation: this.#generation,
    };
  }

  // Closes of evicted statements ride with the next extended request; they
  // leave the list only once that request was sent (a refused Bind or a
  // cancelled wait keeps them); a simple Query leaves them pending.
  #writePendingCloses(w: Writer): void {
    const closes = this.#pendingCloses;
    for (let i = 0; i < closes.length; i++) fe.close(w, "S", closes[i]);
    this.#closesInWriter = closes.length;
  }

  // Parses and describes `sql` as statement `name` ("" for unnamed).
  async #prepare(
    sql: string,
    name: string,
    options: SignalOptions | undefined,
  ): Promise<Statement> {
    for (let attempt = 0;; attempt++) {
      const w = this.#w;
      this.#writePendingCloses(w);
      fe.parse(w, name, sql);
      fe.describe(w, "S", name);
      fe.sync(w);
      const job = new Job(this, Kind.Prepare, sql);
      try {
        await this.#run(job, w.finish(), options);
      } catch (error) {
        if (attempt === 0 && hitByCancel(job, error)) continue;
        throw error;
      }
      return this.#statement(
        job.fields ?? NO_FIELDS,
        job.params ?? [],
        name,
        sql,
      );
    }
  }

  // A cache miss; concurrent misses of one SQL share one Parse.
  async #miss(
    sql: string,
    options: SignalOptions | undefined,
  ): Promise<Statement> {
    while (true) {
      const hit = this.#hit(sql);
      if (hit !== undefined) return hit;
      const pending = this.#preparing.get(sql);
      if (pending === undefined) break;
      // Its failure (or its caller's cancellation) is not ours: look again.
      await suspend<void>((resolve) => {
        pending.then(() => resolve(), () => resolve());
      }, options);
    }
    const preparing = this.#cached(sql, options);
    this.#preparing.set(sql, preparing);
    try {
      return await preparing;
    } finally {
      if (this.#preparing.get(sql) === preparing) this.#preparing.delete(sql);
    }
  }

  // The cached statement for `sql`, prepared on a miss (LRU eviction).
  // The cache hit path: no promise, no re-Parse.
  #hit(sql: string): Statement | undefined {
    const cache = this.#cache;
    const hit = cache.get(sql);
    if (hit === undefined || hit.generation !== this.#generation) return;
    // Most recently used goes last (Map keeps insertion order); the same
    // statement again needs no move.
    if (this.#lastSql !== sql && cache.size > 1) {
      cache.delete(sql);
      cache.set(sql, hit);
      this.#lastSql = sql;
    }
    return hit;
  }

  async #cached(
    sql: string,
    options: SignalOptions | undefined,
  ): Promise<Statement> {
    const cache = this.#cache;
    const hit = cache.get(sql);
    if (hit !== undefined && hit.generation === this.#generation) {
      return this.#hit(sql)!;
    }
    if (hit !== undefined) {
      cache.delete(sql);
      this.#pendingCloses.push(hit.name);
    }
    const size = this.#o.statementCacheSize;
    if (size === 0) return await this.#prepare(sql, "", options);
    const name = `aio_${this.#nextName++}`;
    let stmt: Statement;
    try {
      stmt = await this.#prepare(sql, name, options);
    } catch (error) {
      // Cancelled after the Parse went through, the statement may exist:
      // close it with the next request (closing a missing one is no error).
      this.#pendingCloses.push(name);
      throw error;
    }
    while (cache.size >= size) {
      const oldest = cache.keys().next().value as string;
      this.#pendingCloses.push(cache.get(oldest)!.name);
      cache.delete(oldest);
    }
    cache.set(sql, stmt);
    return stmt;
  }

  #bind(
    w: Writer,
    stmt: Statement,
    args: readonly unknown[],
    method: string,
  ): void {
    const types = stmt.params;
    const n = types.length;
    if (args.length !== n) {
      throw new TypeError(
        `Cannot ${method}: the query has ${n} parameter${
          n === 1 ? "" : "s"
        } ($1..$${n}) but ${args.length} argument${
          args.length === 1 ? " was" : "s were"
        } given`,
      );
    }
    w.begin(0x42).u8(0).cstr(stmt.name).i16(n);
    let fmtAt = w.reserve(2 * n);
    w.i16(n);
    for (let i = 0; i < n; i++) {
      const value = args[i];
      let format = 0;
      if (value === null) {
        w.i32(-1);
      } else if (value === undefined) {
        throw new TypeError(
          `Cannot ${method}: argument $${
            i + 1
          } is undefined (use null for SQL NULL)`,
        );
      } else {
        const oid = types[i];
        const codec = this.#registry.get(oid);
        const slot = w.lengthSlot();
        try {
          format = encodeValue(w, codec, value);
        } catch (error) {
          if (error instanceof EncodeError || error instanceof TypeError) {
            throw new TypeError(
              `Cannot ${method}: argument $${i + 1} cannot be sent as ${
                typeName(oid, this.#registry)
              }: ${error.message}`,
            );
          }
          throw error;
        }
        w.fillLength(slot);
      }
      w.view.setInt16(fmtAt, format);
      fmtAt += 2;
    }
    const formats = stmt.formats;
    w.i16(formats.length);
    for (let i = 0; i < formats.length; i++) w.i16(formats[i]);
    w.end();
  }

  // Bind + Execute + Sync, pipelined: written at once behind the queries
  // in flight, each with its own Sync (an error ends only its own query).
  // A cached statement is retried once when the server says its plan
  // changed its result type (0A000) or it is gone (26000, evicted by a
  // concurrent miss); any query once when a CancelRequest meant for an
  // earlier one hit it outside a transaction (it did nothing then).
  async #pipelined(
    kind: Kind,
    method: string,
    sql: string,
    prepared: Statement | undefined,
    args: readonly unknown[],
    options: QueryOptions | undefined,
  ): Promise<unknown> {
    // Without a cache, a miss uses the unnamed statement, which a
    // concurrent miss would replace: serialised.
    const exclusive = prepared === undefined &&
      this.#o.statementCacheSize === 0;
    const entered = this.#enter(exclusive, options);
    const gate = entered instanceof Gate ? entered : await entered;
    try {
      for (let attempt = 0;; attempt++) {
        let stmt: Statement;
        if (prepared !== undefined) {
          stmt = prepared;
          if (stmt.generation !== this.#generation) {
            Object.assign(
              stmt,
              this.#statement(stmt.fields, stmt.params, stmt.name, stmt.sql),
            );
          }
        } else stmt = this.#hit(sql) ?? await this.#miss(sql, options);
        const w = this.#w;
        this.#writePendingCloses(w);
        try {
          this.#bind(w, stmt, args, method);
        } catch (error) {
          w.discard();
          this.#closesInWriter = 0;
          throw error;
        }
        fe.execute(w);
        fe.sync(w);
        const job = new Job(this, kind, sql, stmt);
        try {
          return await this.#run(job, w.finish(), options);
        } catch (error) {
          if (attempt === 0 && hitByCancel(job, error)) continue;
          if (
            attempt === 0 && prepared === undefined &&
            error instanceof PostgresError &&
            (error.code === "0A000" || error.code === "26000") &&
            job.status === 0x49 && stmt.name !== ""
          ) {
            if (this.#cache.get(sql) === stmt) {
              this.#cache.delete(sql);
              this.#pendingCloses.push(stmt.name);
            }
            continue;
          }
          throw error;
        } finally {
          if (job.ended !== undefined) await job.ended;
        }
      }
    } finally {
      gate.leave(exclusive);
    }
  }

  #withTimeout<T>(
    options: QueryOptions | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    const ms = options?.timeout;
    if (ms === undefined) return fn();
    if (typeof ms !== "number" || !(ms >= 0)) {
      return Promise.reject(
        new RangeError(
          `Cannot run the query: 'timeout' must be a number of milliseconds >= 0, got ${ms}`,
        ),
      );
    }
    return withTimeout(ms, fn);
  }

  // -------------------------------------------------------------------------
  // Public query API

  /**
   * Runs a query and returns all its rows — asyncpg's `fetch`. Values are
   * sent as `$n` parameters, never spliced into the SQL text.
   *
   * @example Usage
   * ```ts ignore
   * const rows = await conn.fetch("SELECT * FROM users WHERE age > $1", [18]);
   * rows[0].name;
   * ```
   *
   * @param sql The query, with `$1`, `$2`… placeholders.
   * @param args The values of the placeholders.
   * @param options A signal and a timeout.
   * @typeParam R The row type you expect (not checked at run time).
   * @returns The rows, as objects keyed by column name.
   */
  fetch<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]> {
    if (typeof sql !== "string") return sqlError("fetch", sql);
    if (args !== undefined && !Array.isArray(args)) {
      return argsError("fetch", args);
    }
    if (options?.timeout !== undefined) {
      return this.#withTimeout(
        options,
        () =>
          this.#pipelined(
            Kind.Rows,
            "fetch",
            sql,
            undefined,
            args ?? emptyArgs,
            options,
          ),
      ) as Promise<R[]>;
    }
    return this.#pipelined(
      Kind.Rows,
      "fetch",
      sql,
      undefined,
      args ?? emptyArgs,
      options,
    ) as Promise<R[]>;
  }

  /**
   * Runs a query and returns its first row, or `null` — asyncpg's
   * `fetchrow`.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The first row or null.
   */
  async fetchrow<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R | null> {
    const rows = await this.fetch<R>(sql, args, options);
    return rows.length > 0 ? rows[0] : null;
  }

  /**
   * Runs a query and returns the first column of its first row (or
   * `undefined` when there is no row) — asyncpg's `fetchval`.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The value.
   */
  async fetchval<T = unknown>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T> {
    const rows = await this.fetch(sql, args, options);
    if (rows.length === 0) return undefined as T;
    for (const key in rows[0]) return rows[0][key] as T;
    return undefined as T;
  }

  /**
   * Runs SQL and returns the status tag (e.g. `"INSERT 0 1"`) — asyncpg's
   * `execute`. Without arguments it may hold several statements separated
   * by `;` and returns the last one's tag.
   *
   * @param sql The statement(s).
   * @param args Arguments (one statement only, then).
   * @param options A signal and a timeout.
   * @returns The status tag.
   */
  execute(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<string> {
    if (typeof sql !== "string") return sqlError("execute", sql);
    if (args !== undefined && !Array.isArray(args)) {
      return argsError("execute", args);
    }
    return this.#withTimeout(options, async () => {
      if (args !== undefined && args.length > 0) {
        return await this.#executeArgs(sql, args, options);
      }
      const gate = await this.#enter(true, options);
      try {
        const w = this.#w;
        fe.query(w, sql);
        const job = new Job(this, Kind.Simple, sql);
        try {
          return await this.#run(job, w.finish(), options) as string;
        } finally {
          if (job.ended !== undefined) await job.ended;
        }
      } finally {
        gate.leave(true);
      }
    });
  }

  #executeArgs(
    sql: string,
    args: readonly unknown[],
    options: QueryOptions | undefined,
  ): Promise<string> {
    return this.#pipelined(
      Kind.Many,
      "execute",
      sql,
      undefined,
      args,
      options,
    ) as Promise<string>;
  }

  /**
   * Runs one statement for each argument list, pipelined: all Binds and
   * Executes go out in one write with one Sync, so the batch is all or
   * nothing (outside a transaction) — asyncpg's `executemany`.
   *
   * @param sql The statement.
   * @param argsList One argument array per execution.
   * @param options A signal and a timeout.
   */
  executemany(
    sql: string,
    argsList: readonly (readonly unknown[])[],
    options?: QueryOptions,
  ): Promise<void> {
    if (typeof sql !== "string") return sqlError("executemany", sql);
    if (!Array.isArray(argsList)) return argsError("executemany", argsList);
    for (const args of argsList) {
      if (!Array.isArray(args)) return argsError("executemany", args);
    }
    return this.#withTimeout(options, async () => {
      if (argsList.length === 0) return;
      const gate = await this.#enter(true, options);
      try {
        const stmt = this.#hit(sql) ?? await this.#cached(sql, options);
        const w = this.#w;
        this.#writePendingCloses(w);
        try {
          for (const args of argsList) {
            this.#bind(w, stmt, args, "executemany");
            fe.execute(w);
          }
        } catch (error) {
          w.discard();
          this.#closesInWriter = 0;
          throw error;
        }
        fe.sync(w);
        const job = new Job(this, Kind.Many, sql, stmt);
        try {
          await this.#run(job, w.finish(), options);
        } finally {
          if (job.ended !== undefined) await job.ended;
        }
      } finally {
        gate.leave(true);
      }
    });
  }

  /**
   * Prepares a named server-side statement, outside the LRU cache —
   * asyncpg's `prepare`. Close it with `close()` or `await using`.
   *
   * @param sql The statement.
   * @param options A signal.
   * @returns The prepared statement.
   */
  async prepare(
    sql: string,
    options?: QueryOptions,
  ): Promise<PreparedStatement> {
    if (typeof sql !== "string") return sqlError("prepare", sql);
    const gate = await this.#enter(true, options);
    try {
      const stmt = await this.#prepare(
        sql,
        `aio_p${this.#nextName++}`,
        options,
      );
      return new PreparedStatement(this, stmt);
    } finally {
      gate.leave(true);
    }
  }

  /** @ignore Runs a prepared statement. */
  _runPrepared(
    stmt: Statement,
    args: readonly unknown[],
    options: QueryOptions | undefined,
  ): Promise<Row[]> {
    return this.#pipelined(
      Kind.Rows,
      "run the prepared statement",
      stmt.sql,
      stmt,
      args,
      options,
    ) as Promise<Row[]>;
  }

  /** @ignore Deallocates a prepared statement. */
  _closePrepared(stmt: Statement): void {
    if (this.#closed === undefined) this.#pendingCloses.push(stmt.name);
  }

  /** @ignore Wraps a query call in its timeout. */
  _timed<T>(
    options: QueryOptions | undefined,
    fn: () => Promise<T>,
  ): Promise<T> {
    return this.#withTimeout(options, fn);
  }

  /**
   * Runs `fn` in a transaction: COMMIT when it returns, ROLLBACK (shielded
   * from cancellation) when it throws or is cancelled. Inside a
   * transaction, `transaction()` makes a SAVEPOINT instead.
   *
   * @param fn The work; it receives a handle with the query methods.
   * @param options Isolation level, read only, deferrable.
   * @returns What `fn` returned.
   */
  async transaction<T>(
    fn: (tx: Transaction) => T | PromiseLike<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot run a transaction: 'fn' must be a function, got ${typeof fn}`,
      );
    }
    // The whole transaction holds the connection: other callers' queries
    // wait; calls made within `fn` (its async context) go on.
    const outer = await this.#enter(true, undefined);
    try {
      return await this.#within(
        outer,
        outer.txDepth + 1,
        () => this.#transaction(outer.txDepth, fn, options),
      );
    } finally {
      outer.leave(true);
    }
  }

  async #transaction<T>(
    depth: number,
    fn: (tx: Transaction) => T | PromiseLike<T>,
    options: TransactionOptions | undefined,
  ): Promise<T> {
    const savepoint = depth > 0 ? `aio_sp_${depth}` : undefined;
    let begin = "BEGIN";
    if (savepoint === undefined) {
      const iso = options?.isolation;
      if (iso !== undefined) {
        if (
          !["read committed", "repeatable read", "serializable"].includes(iso)
        ) {
          throw new TypeError(
            `Cannot begin a transaction: isolation must be "read committed", "repeatable read" or "serializable", got ${iso}`,
          );
        }
        begin += ` ISOLATION LEVEL ${iso.toUpperCase()}`;
      }
      if (options?.readOnly) begin += " READ ONLY";
      if (options?.deferrable) begin += " DEFERRABLE";
    } else begin = `SAVEPOINT ${savepoint}`;
    try {
      await this.execute(begin);
    } catch (error) {
      // Cancelled after the server ran BEGIN: do not leave it open.
      if (savepoint === undefined && this.#status !== 0x49) {
        await shield(() => this.execute("ROLLBACK").catch(() => {}));
      }
      throw error;
    }
    let result: T;
    try {
      result = await fn(new Transaction(this));
    } catch (error) {
      await shield(async () => {
        if (this.#closed !== undefined) return;
        try {
          await this.execute(
            savepoint === undefined
              ? "ROLLBACK"
              : `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}`,
          );
        } catch { /* the original error is what matters */ }
      });
      throw error;
    }
    // COMMIT runs to its end even if the scope is cancelled meanwhile, so
    // the outcome is definite: committed, or the server's error.
    await shield(() =>
      this.execute(
        savepoint === undefined ? "COMMIT" : `RELEASE SAVEPOINT ${savepoint}`,
      )
    );
    if (savepoint === undefined && this.#status !== 0x49) {
      // COMMIT of a failed transaction answers ROLLBACK.
      throw new PostgresError({
        code: "40000",
        severity: "ERROR",
        message:
          "Cannot commit the transaction: it had failed and was rolled back",
      });
    }
    return result;
  }

  /**
   * Sets how values of a type are read and written — asyncpg's
   * `set_type_codec`. Arrays of the type follow.
   *
   * @param type The type's name (`"numeric"`, `"point"`, `"myschema.mytype"`).
   * @param codec `encode`/`decode` functions and their `format`.
   */
  async setTypeCodec(type: string, codec: UserCodec): Promise<void> {
    const row = await this.fetchrow(
      "SELECT t.oid, t.typarray FROM pg_type t WHERE t.oid = $1::text::regtype",
      [type],
    );
    if (row === null) {
      throw new TypeError(`Cannot set a type codec: no type named ${type}`);
    }
    this.#registry.set(type, row.oid as number, codec, row.typarray as number);
    this.#generation++;
  }

  /** @ignore Hook for LISTEN/NOTIFY (the pool's listener builds on it). */
  set _onNotification(fn: ((n: Notification) => void) | undefined) {
    this.#onNotification = fn;
  }

  /**
   * @ignore Hook called once when the connection closes, for whatever
   * reason (a pool discards it; a listener reconnects).
   */
  set _onClose(fn: ((reason: Error) => void) | undefined) {
    this.#onClose = fn;
  }

  /**
   * @ignore Runs `fn` holding the connection's turn (FIFO with every other
   * call), for operations of several requests (a cursor, a COPY).
   */
  async _exclusive<T>(
    fn: () => Promise<T>,
    options?: QueryOptions,
  ): Promise<T> {
    const gate = await this.#enter(true, options);
    try {
      // The calls `fn` makes on this connection go on; others wait.
      return await this.#within(gate, gate.txDepth, fn);
    } finally {
      gate.leave(true);
    }
  }

  /**
   * @ignore Takes the connection's turn as `_exclusive` does, but until
   * `release()`, for an operation that outlives a call (a cursor's
   * BEGIN … FETCH … COMMIT): `run(fn)` makes `fn`'s calls within it.
   * Undefined when the caller is inside `transaction()`, which holds the
   * connection already.
   */
  async _hold(options?: QueryOptions): Promise<
    | { run<T>(fn: () => Promise<T>): Promise<T>; release(): void }
    | undefined
  > {
    if (this.#gate().txDepth > 0) return undefined;
    const gate = await this.#enter(true, options);
    const inner = new Gate(this, gate, holds.getStore(), gate.txDepth);
    inner.owner = currentScope();
    this.#gates.add(inner);
    let released = false;
    return {
      run: (fn) => holds.run(inner, fn),
      release: () => {
        if (released) return;
        released = true;
        inner.close();
        this.#gates.delete(inner);
        gate.leave(true);
      },
    };
  }

  /**
   * @ignore Sends `bytes` (frontend messages ending with Sync, or the start
   * of a COPY) as one request whose messages go to `handler`; call inside
   * `_exclusive`. Cancellation works as for queries: the server is asked,
   * and the request settles at its ReadyForQuery.
   */
  async _request(
    bytes: Uint8Array,
    handler: RequestHandler,
    sql: string,
    options?: QueryOptions,
  ): Promise<unknown> {
    const job = new Job(this, Kind.Custom, sql);
    job.handler = handler;
    try {
      return await this.#run(job, bytes, options);
    } finally {
      if (job.ended !== undefined) await job.ended;
    }
  }

  /** @ignore Writes bytes now (CopyData/CopyDone during a request). */
  _send(bytes: Uint8Array): void {
    if (this.#closed === undefined) this.#send(bytes);
  }

  /**
   * @ignore Backpressure for a writer inside `_exclusive` (one at a time):
   * undefined while at most `mark` bytes wait to be written, else a promise
   * that resolves once they are down to `mark` (or the connection closed).
   */
  _drained(mark: number): Promise<void> | undefined {
    if (this.#unwritten <= mark || this.#closed !== undefined) return;
    this.#drainMark = mark;
    return new Promise((resolve) => this.#drainWake = resolve);
  }

  /**
   * @ignore Stops reading from the socket once the bytes read so far are
   * dispatched (a slow COPY TO consumer), until `_resumeReading()`.
   */
  _pauseReading(): void {
    if (
      this.#readPause !== undefined || this.#closed !== undefined ||
      // A job being cancelled: the server's answer must be read.
      this._running()?.asked === true
    ) return;
    this.#readPause = new Promise((resolve) => this.#readResume = resolve);
  }

  /** @ignore Reads again after `_pauseReading()`. */
  _resumeReading(): void {
    const resume = this.#readResume;
    this.#readPause = this.#readResume = undefined;
    resume?.();
  }

  /**
   * COPY FROM STDIN — asyncpg's `copy_records_to_table` / `copy_to_table`:
   * rows (arrays of values, or objects keyed by `columns`) or bytes in the
   * chosen format, from an array, an async iterable or a ReadableStream. A
   * source that throws sends CopyFail; a cancelled scope cancels the COPY
   * on the server; either way the connection stays usable.
   *
   * @example Usage
   * ```ts ignore
   * await conn.copyFrom("users", [["ada", 36], ["bob", 17]], { columns: ["name", "age"] });
   * ```
   *
   * @param table The table (`name` or `schema.name`).
   * @param source The rows or bytes.
   * @param options Columns, format, signal, timeout.
   * @returns The status tag (`COPY 2`).
   */
  copyFrom(
    table: string,
    source: CopySource,
    options?: CopyFromOptions,
  ): Promise<string> {
    return copyFrom(this, table, source, options);
  }

  /**
   * COPY a table or a query TO STDOUT, as a byte stream. Cancelling the
   * stream cancels the COPY on the server.
   *
   * @example Usage
   * ```ts ignore
   * const csv = await new Response(conn.copyTo("users", { format: "csv" })).text();
   * ```
   *
   * @param sqlOrTable A table name or a query.
   * @param options Format, header, columns, signal.
   * @returns The bytes.
   */
  copyTo(
    sqlOrTable: string,
    options?: CopyToOptions,
  ): ReadableStream<Uint8Array> {
    return copyTo(this, sqlOrTable, options);
  }

  /**
   * Iterates over a query's rows through a server-side cursor, fetched
   * `prefetch` rows at a time. Outside a transaction the cursor opens one,
   * committed when the loop ends, and holds the connection until then:
   * the calls of the code that iterates (the loop body, and tasks it
   * starts) run in that transaction, other callers' calls wait. `break`
   * or a cancellation closes the cursor; an error rolls the transaction
   * back.
   *
   * @example Usage
   * ```ts ignore
   * for await (const row of conn.cursor("SELECT * FROM big", [], { prefetch: 500 })) {}
   * ```
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options `prefetch`, signal, timeout.
   * @typeParam R The row type.
   * @returns The rows.
   */
  cursor<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: CursorOptions,
  ): AsyncIterable<R> {
    return cursor<R>(this, sql, args, options);
  }

  /**
   * Closes the connection gracefully: waits for queued calls, sends
   * Terminate, closes the socket. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed === undefined) {
      let gate: Gate | undefined;
      try {
        gate = await this.#enter(true, undefined);
      } catch { /* closed meanwhile */ }
      if (this.#closed === undefined) {
        const w = new Writer(8);
        fe.terminate(w);
        try {
          await writeAll(this.#socket, w.finish());
        } catch { /* the server may be gone already */ }
        this.#fail(
          new ConnectionClosedError(
            "Cannot use the PostgreSQL connection: it was closed by close()",
          ),
        );
      }
      gate?.leave(true);
    }
    await this.#loop;
  }

  /** Closes the connection at once, failing what is in flight. */
  terminate(): void {
    this.#fail(
      new ConnectionClosedError(
        "Cannot use the PostgreSQL connection: it was terminated",
      ),
    );
  }

  /** Closes the connection (see {@linkcode Connection.close}). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// A waiter for a gate of the connection.
class Turn extends Waiter<Gate> {
  gate: Gate;
  exclusive: boolean;
  constructor(gate: Gate, exclusive: boolean) {
    super();
    this.gate = gate;
    this.exclusive = exclusive;
  }
  protected withdraw(): void {
    this.gate.forget(this);
  }
}

// A 57014 that a CancelRequest meant for an earlier query caused, outside
// a transaction: the query did nothing, it may run again.
function hitByCancel(job: Job, error: unknown): boolean {
  return error instanceof QueryCanceledError && job.collateral &&
    job.cancelled === undefined && job.status === 0x49;
}

function encodeValue(
  w: Writer,
  codec: Codec | undefined,
  value: unknown,
): number {
  if (codec === undefined) {
    w.str(textOfUnknown(value));
    return 0;
  }
  if (typeof value === "string") {
    // A string is the value's text form: checked where we can (numbers),
    // otherwise read by the server.
    w.str(codec.checksText ? codec.encodeText(value) : value);
    return 0;
  }
  if (codec.encodeBinary === undefined) {
    w.str(codec.encodeText(value));
    return 0;
  }
  codec.encodeBinary(w, value);
  return 1;
}

const hexDigits = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

function textOfUnknown(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") {
    return String(value);
  }
  if (typeof value === "boolean") return value ? "t" : "f";
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) {
    let s = "\\x";
    for (const b of value) s += hexDigits[b];
    return s;
  }
  return JSON.stringify(value);
}

/**
 * A transaction in progress, handed to {@linkcode Connection.transaction}'s
 * function: the connection's query methods, and `transaction()` for a
 * SAVEPOINT.
 *
 * @example A savepoint rolled back, the outer transaction committed
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using conn = await connect(pg.url);
 * await conn.execute("CREATE TABLE accounts (name text PRIMARY KEY, cents int)");
 * await conn.transaction(async (tx) => {
 *   await tx.execute("INSERT INTO accounts VALUES ($1, $2)", ["ada", 100]);
 *   await tx.transaction(async (inner) => {
 *     await inner.execute("INSERT INTO accounts VALUES ($1, $2)", ["ada", 5]);
 *   }).catch(() => {}); // a duplicate: only the savepoint is rolled back
 * }, { isolation: "serializable" });
 * assert.deepEqual(await conn.fetch("SELECT * FROM accounts"), [{ name: "ada", cents: 100 }]);
 * ```
 */
export class Transaction {
  #conn: Connection;

  /** @ignore */
  constructor(conn: Connection) {
    this.#conn = conn;
  }

  /** The connection. */
  get connection(): Connection {
    return this.#conn;
  }

  /**
   * See {@linkcode Connection.fetch}.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The rows.
   */
  fetch<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]> {
    return this.#conn.fetch<R>(sql, args, options);
  }

  /**
   * See {@linkcode Connection.fetchrow}.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The first row or null.
   */
  fetchrow<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R | null> {
    return this.#conn.fetchrow<R>(sql, args, options);
  }

  /**
   * See {@linkcode Connection.fetchval}.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The value.
   */
  fetchval<T = unknown>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T> {
    return this.#conn.fetchval<T>(sql, args, options);
  }

  /**
   * See {@linkcode Connection.execute}.
   *
   * @param sql The statement(s).
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The status tag.
   */
  execute(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<string> {
    return this.#conn.execute(sql, args, options);
  }

  /**
   * See {@linkcode Connection.executemany}.
   *
   * @param sql The statement.
   * @param argsList One argument array per execution.
   * @param options A signal and a timeout.
   */
  executemany(
    sql: string,
    argsList: readonly (readonly unknown[])[],
    options?: QueryOptions,
  ): Promise<void> {
    return this.#conn.executemany(sql, argsList, options);
  }

  /**
   * A nested transaction: a SAVEPOINT, rolled back to when `fn` throws.
   *
   * @param fn The work.
   * @returns What `fn` returned.
   */
  transaction<T>(fn: (tx: Transaction) => T | PromiseLike<T>): Promise<T> {
    return this.#conn.transaction(fn);
  }
}

/**
 * A named server-side prepared statement — asyncpg's `PreparedStatement`.
 * Its parameter types come from the server.
 *
 * @example Usage
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using conn = await connect(pg.url);
 * await using stmt = await conn.prepare("SELECT $1::int + 1 AS next");
 * assert.deepEqual(stmt.parameterTypes, ["int4"]);
 * assert.equal(await stmt.fetchval([41]), 42);
 * ```
 */
export class PreparedStatement implements AsyncDisposable {
  #conn: Connection;
  #stmt: Statement;
  #closed = false;

  /** @ignore Use {@linkcode Connection.prepare}. */
  constructor(conn: Connection, stmt: Statement) {
    this.#conn = conn;
    this.#stmt = stmt;
  }

  /** The statement's SQL text. */
  get sql(): string {
    return this.#stmt.sql;
  }

  /** The parameter type names, from the server's ParameterDescription. */
  get parameterTypes(): string[] {
    return this.#stmt.params.map((oid) => typeName(oid));
  }

  /** The result column names. */
  get columns(): string[] {
    return this.#stmt.names.slice();
  }

  /**
   * Runs the statement and returns its rows.
   *
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The rows.
   */
  fetch<R extends Row = Row>(
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]> {
    if (this.#closed) {
      return Promise.reject(
        new TypeError("Cannot run the prepared statement: it was closed"),
      );
    }
    if (args !== undefined && !Array.isArray(args)) {
      return argsError("fetch", args);
    }
    return this.#conn._timed(
      options,
      () => this.#conn._runPrepared(this.#stmt, args ?? emptyArgs, options),
    ) as Promise<R[]>;
  }

  /**
   * Runs the statement and returns its first row or null.
   *
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The first row or null.
   */
  async fetchrow<R extends Row = Row>(
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R | null> {
    const rows = await this.fetch<R>(args, options);
    return rows[0] ?? null;
  }

  /**
   * Runs the statement and returns the first column of its first row.
   *
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The value.
   */
  async fetchval<T = unknown>(
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T> {
    const rows = await this.fetch(args, options);
    if (rows.length === 0) return undefined as T;
    for (const key in rows[0]) return rows[0][key] as T;
    return undefined as T;
  }

  /** Deallocates the statement on the server (with the next request). */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#conn._closePrepared(this.#stmt);
    }
    return Promise.resolve();
  }

  /** Same as {@linkcode PreparedStatement.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// ---------------------------------------------------------------------------
// connect()

/**
 * Opens a connection — asyncpg's `connect`. Takes a `postgres://` URL
 * and/or options; the libpq environment variables (PGHOST, PGPORT, PGUSER,
 * PGPASSWORD, PGDATABASE, PGSSLMODE, PGAPPNAME) fill in what is not given.
 * A host that starts with `/` is a Unix socket directory. Authenticates with
 * trust, cleartext password, md5 or SCRAM-SHA-256.
 *
 * @example Usage
 * ```ts
 * import { connect } from "@aio/std/io/postgres";
 * import { timeout, TimeoutError } from "@aio/std/async";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres({ auth: "scram-sha-256" });
 * await using conn = await connect(
 *   `postgres://${pg.user}:${pg.password}@${pg.host}:${pg.port}/${pg.database}?sslmode=disable`,
 * );
 * assert.equal(await conn.fetchval("SELECT 1 + 1"), 2);
 * // A query that outlives its timeout is cancelled on the server.
 * await assert.rejects(timeout(50, () => conn.fetch("SELECT pg_sleep(10)")), TimeoutError);
 * assert.equal(await conn.fetchval("SELECT 'still usable'"), "still usable");
 * ```
 *
 * @param target A URL, or the options.
 * @param options Options that override the URL's.
 * @returns The open connection.
 */
export async function connect(
  target?: string | URL | ConnectOptions,
  options?: ConnectOptions,
): Promise<Connection> {
  const o = resolveOptions(target, options);
  const rootCert = typeof target === "string" || target instanceof URL
    ? (parseUrl(String(target)) as { sslrootcert?: string }).sslrootcert
    : undefined;
  if (rootCert !== undefined && o.caCerts === undefined) {
    try {
      o.caCerts = [await Deno.readTextFile(rootCert)];
    } catch (error) {
      throw new PostgresConnectionError(
        `Cannot connect to PostgreSQL: cannot read sslrootcert ${rootCert}: ${
          (error as Error).message
        }`,
        { cause: error },
      );
    }
  }
  const signal = options?.signal ??
    (typeof target === "object" && !(target instanceof URL)
      ? target?.signal
      : undefined);
  return await withTimeout(o.connectTimeout, () => establish(o, signal));
}

// A wait on the startup exchange that closes the socket when cancelled (the
// pending read then fails and the attempt ends).
class StartupGuard extends Waiter<void> {
  socket: Socket | undefined = undefined;
  protected withdraw(): void {
    try {
      this.socket?.close();
    } catch { /* closed */ }
    this.socket = undefined;
  }
}

async function establish(
  o: Resolved,
  signal: AbortSignal | undefined,
): Promise<Connection> {
  const guard = new StartupGuard();
  const cancelled = guard.wait({ signal });
  cancelled.catch(() => {});
  let socket: Socket | undefined;
  try {
    if (!guard.pending) await cancelled;
    try {
      socket = await openSocket(o);
    } catch (error) {
      throw new PostgresConnectionError(
        `Cannot connect to PostgreSQL at ${
          o.host.startsWith("/")
            ? `${o.host}/.s.PGSQL.${o.port}`
            : `${o.host}:${o.port}`
        }: ${(error as Error).message}`,
        { cause: error },
      );
    }
    guard.socket = socket;
    if (!guard.pending) await cancelled;
    if (!o.host.startsWith("/") && o.sslmode !== "disable") {
      try {
        socket = await negotiateTls(socket, o);
        guard.socket = socket;
      } catch (error) {
        if (!(error instanceof TlsHandshakeError)) throw error;
        if (o.sslmode !== "prefer") {
          throw new PostgresConnectionError(error.message, {
            cause: error.cause,
          });
        }
        // prefer: the TLS handshake failed; try again in plaintext.
        socket = await openSocket(o);
        guard.socket = socket;
      }
    }
    const conn = await startup(socket, o);
    guard.resolve();
    return conn;
  } catch (error) {
    try {
      socket?.close();
    } catch { /* closed */ }
    if (!guard.pending) {
      // Cancelled: report the cancellation, not the broken read it caused.
      try {
        await cancelled;
      } catch (reason) {
        if (reason !== undefined) throw reason;
      }
    }
    guard.resolve();
    throw error;
  }
}

async function startup(socket: Socket, o: Resolved): Promise<Connection> {
  const w = new Writer(256);
  const params: Record<string, string> = {
    user: o.user,
    database: o.database,
    client_encoding: "UTF8",
    DateStyle: "ISO, MDY",
    ...o.serverSettings,
  };
  if (o.applicationName !== undefined) {
    params.application_name = o.applicationName;
  }
  fe.startup(w, params);
  await writeAll(socket, w.finish());
  const dec = new Decoder();
  let scram: ScramClient | undefined;
  let pid = 0;
  let secret = 0;
  const serverParams = new Map<string, string>();
  const where = o.host.startsWith("/") ? o.host : `${o.host}:${o.port}`;
  const needPassword = (method: string): string => {
    if (o.password === undefined) {
      throw new PostgresConnectionError(
        `Cannot connect to PostgreSQL at ${where} as ${o.user}: the server asks for a password (${method}) and none was given (pass 'password' or set PGPASSWORD)`,
      );
    }
    return o.password;
  };
  while (true) {
    const type = await readMessage(socket, dec);
    const r = new Reader(dec.buf, dec.view, dec.start, dec.end, "startup");
    switch (type) {
      case Backend.Authentication: {
        const code = r.i32();
        if (code === 0) break; // AuthenticationOk
        if (code === 3) {
          fe.password(w, needPassword("password"));
        } else if (code === 5) {
          const salt = r.bytes(4);
          fe.password(w, md5Password(o.user, needPassword("md5"), salt));
        } else if (code === 10) {
          const mechanisms: string[] = [];
          while (r.pos < r.end && r.buf[r.pos] !== 0) mechanisms.push(r.cstr());
          if (!mechanisms.includes("SCRAM-SHA-256")) {
            throw new PostgresConnectionError(
              `Cannot connect to PostgreSQL at ${where}: the server offers only ${
                mechanisms.join(", ")
              } (SCRAM-SHA-256 is supported)`,
            );
          }
          scram = new ScramClient(needPassword("SCRAM-SHA-256"));
          fe.saslInitialResponse(w, "SCRAM-SHA-256", scram.first());
        } else if (code === 11 && scram !== undefined) {
          try {
            fe.saslResponse(w, await scram.final(r.rest()));
          } catch (error) {
            throw new PostgresConnectionError((error as Error).message, {
              cause: error,
            });
          }
        } else if (code === 12 && scram !== undefined) {
          try {
            scram.verify(r.rest());
          } catch (error) {
            throw new PostgresConnectionError(
              `${(error as ScramError).message} (server ${where})`,
              { cause: error },
            );
          }
          break;
        } else {
          throw new PostgresConnectionError(
            `Cannot connect to PostgreSQL at ${where}: unsupported authentication request, got code ${code}`,
          );
        }
        await writeAll(socket, w.finish());
        break;
      }
      case Backend.BackendKeyData:
        pid = r.i32();
        secret = r.i32();
        break;
      case Backend.ParameterStatus:
        serverParams.set(r.cstr(), r.cstr());
        break;
      case Backend.NoticeResponse:
        o.onNotice?.(fieldsOf(parseErrorFields(r)));
        break;
      case Backend.NegotiateProtocolVersion:
        break;
      case Backend.ErrorResponse:
        throw serverError(parseErrorFields(r));
      case Backend.ReadyForQuery:
        if (scram !== undefined && !scram.verified) {
          throw new PostgresConnectionError(
            `Cannot connect to PostgreSQL at ${where}: the server skipped the SCRAM signature (refusing a server that does not prove it knows the password)`,
          );
        }
        return new Connection(socket, dec, o, pid, secret, serverParams);
      default:
        throw new ProtocolError(
          `Cannot connect to PostgreSQL at ${where}: unexpected message '${
            String.fromCharCode(type)
          }' during startup`,
        );
    }
  }
}
