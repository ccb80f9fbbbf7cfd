/**
 * A pool of PostgreSQL connections — asyncpg's `create_pool`:
 * {@linkcode createPool}, `await using conn = await pool.acquire()`, and the
 * query methods on the pool itself. Faults heal: a connection that dies (a
 * terminated backend, a server restart, a socket gone silent) is discarded,
 * new ones are opened with backoff while the server is down, and a
 * connection comes back from its user reset (open transaction rolled back,
 * session state cleared) or is closed. `pool.listen(channel)` gives
 * LISTEN/NOTIFY that survives a lost connection.
 *
 * @example Usage
 * ```ts
 * import { createPool } from "@aio/std/io/postgres-pool";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using pool = createPool(pg.url, { max: 4 });
 * await pool.execute("CREATE TABLE users (name text, age int)");
 * {
 *   await using conn = await pool.acquire(); // back to the pool at block end
 *   await conn.executemany("INSERT INTO users VALUES ($1, $2)", [["ada", 36], ["bob", 17]]);
 * }
 * const rows = await pool.fetch("SELECT name FROM users WHERE age > $1", [18]);
 * assert.deepEqual(rows, [{ name: "ada" }]);
 * assert.equal(pool.size, 1);
 * assert.equal(pool.idle, 1);
 * ```
 *
 * @module
 */
import {
  currentScope,
  isCancellation,
  retry,
  shield,
  TaskSet,
  TimeoutError,
  Waiter,
} from "../async/mod.ts";
import { registerResource, resourceClosed } from "../async/_internal.ts";
import {
  connect,
  type Connection,
  type ConnectOptions,
  type CopyFromOptions,
  type CopySource,
  type CopyToOptions,
  type CursorOptions,
  type Notification,
  PostgresError,
  type PreparedStatement,
  type QueryOptions,
  type Row,
  type Transaction,
  type TransactionOptions,
} from "./postgres.ts";
import { toCancelError } from "../async/_internal.ts";

/** Options for {@linkcode createPool}: the pool's, and those of each connection. */
export interface PoolOptions extends ConnectOptions {
  /** Connections kept open even when idle (default 0). */
  min?: number;
  /** Most connections open at once, busy or idle (default 10). */
  max?: number;
  /** Milliseconds an idle connection above `min` stays open (default 300 000). */
  idleTimeout?: number;
  /** Milliseconds after which a connection is closed once released (default 3 600 000). */
  maxLifetime?: number;
  /** Milliseconds an `acquire` waits before a `TimeoutError` (default 30 000). */
  acquireTimeout?: number;
  /** Queries after which a connection is closed once released (default 50 000). */
  maxQueries?: number;
  /**
   * Milliseconds of idleness after which a connection is checked before it
   * is handed out (default 30 000) — pgbouncer's `server_check_delay`: a
   * `SELECT 1` that must answer within 1 s. One that fails or stays silent
   * (a half-open socket) is closed and another is taken or opened; the
   * caller never sees it. 0 checks on every hand-out.
   */
  livenessCheckAfter?: number;
  /** Runs once on each new connection; an error discards it and reaches the caller. */
  init?: (conn: Connection) => void | PromiseLike<void>;
  /** Runs each time a connection is handed out; an error discards it and reaches the caller. */
  setup?: (conn: PoolConnection) => void | PromiseLike<void>;
}

/** Options of {@linkcode Pool.close}. */
export interface PoolCloseOptions {
  /**
   * Milliseconds to wait for acquired connections to come back; past it
   * those still out are terminated (their calls fail with
   * `ConnectionClosedError`) and `close()` resolves. Waits as long as it
   * takes by default.
   */
  timeout?: number;
}

/** Options of {@linkcode Pool.acquire}. */
export interface AcquireOptions {
  /** Aborts the wait; it rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Milliseconds to wait for a connection; the pool's `acquireTimeout` by default. */
  timeout?: number;
}

/**
 * Thrown when the pool is closed (by `close()` or `terminate()`) and
 * something asks it for a connection.
 *
 * @example Usage
 * ```ts
 * import { createPool, PoolClosedError } from "@aio/std/io/postgres-pool";
 * import assert from "node:assert/strict";
 *
 * const pool = createPool("postgres://nobody@127.0.0.1:1/none");
 * await pool.close();
 * await assert.rejects(pool.acquire(), PoolClosedError);
 * ```
 */
export class PoolClosedError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was refused.
   */
  constructor(message: string) {
    super(message);
    this.name = "PoolClosedError";
  }
}

interface Slot {
  conn: Connection;
  created: number;
  released: number; // performance.now() when it last went idle
  queries: number;
  // Session state may have changed (SET, LISTEN, …): reset before reuse.
  dirty: boolean;
  // Handed out right now (to a PoolConnection).
  busy: boolean;
}

// SQL that may leave session state behind: after it, the connection is
// reset before reuse (asyncpg's reset query); anything else is known clean.
const STATEFUL =
  /\b(?:set|reset|listen|prepare|declare|lock|advisory|set_config|temp|temporary|discard)\b/i;
const RESET_SQL =
  "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL";
// Deadline of a reset: a connection that cannot do it quickly is not
// worth keeping.
const CHECK_DEADLINE = 5_000;
// Deadline of a liveness check's SELECT 1; past it the connection is
// closed at once (not cancelled: it is discarded anyway).
const LIVENESS_DEADLINE = 1_000;

// Connect errors that no retry fixes: bad credentials, no such database.
function permanent(error: unknown): boolean {
  return error instanceof PostgresError &&
    (error.code.startsWith("28") || error.code === "3D000");
}

function positive(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value >= 0)) {
    throw new RangeError(
      `Cannot create the pool: '${name}' must be a number >= 0, got ${
        String(value)
      }`,
    );
  }
  return value;
}

class AcquireWaiter extends Waiter<Slot> {
  #line: AcquireWaiter[];
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  constructor(line: AcquireWaiter[]) {
    super();
    this.#line = line;
  }
  protected withdraw(): void {
    const i = this.#line.indexOf(this);
    if (i >= 0) this.#line.splice(i, 1);
    clearTimeout(this.timer);
  }
}

/**
 * Makes a pool — asyncpg's `create_pool`. Nothing is opened until the
 * first `acquire` (or, with `min`, in the background at once); close the
 * pool with `await using`, `close()` or `terminate()`.
 *
 * @example A pool of 2 serving 5 concurrent tasks
 * ```ts
 * import { createPool } from "@aio/std/io/postgres-pool";
 * import { gather } from "@aio/std/async";
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await using pool = createPool(pg.url, { max: 2 });
 * const sums = await gather(
 *   ...[1, 2, 3, 4, 5].map((n) => () => pool.fetchval<number>("SELECT $1::int * 2", [n])),
 * );
 * assert.deepEqual(sums, [2, 4, 6, 8, 10]);
 * assert.ok(pool.size <= 2);
 * ```
 *
 * @param target A `postgres://` URL, or connection options.
 * @param options Pool and connection options (override the URL's).
 * @returns The pool.
 */
export function createPool(
  target?: string | URL | PoolOptions,
  options?: PoolOptions,
): Pool {
  return new Pool(target, options);
}

/**
 * A pool of connections. Made by {@linkcode createPool}. Waiters for a
 * connection are served first come, first served; a cancelled or timed-out
 * `acquire` leaves the line without a trace.
 */
export class Pool implements AsyncDisposable {
  #target: string | URL | ConnectOptions | undefined;
  #connectOptions: ConnectOptions;
  #min: number;
  #max: number;
  #idleTimeout: number;
  #maxLifetime: number;
  #acquireTimeout: number;
  #maxQueries: number;
  #livenessAfter: number;
  #init: PoolOptions["init"];
  #setup: PoolOptions["setup"];
  #all = new Set<Slot>();
  #idle: Slot[] = []; // most recently released last
  #waiters: AcquireWaiter[] = [];
  #opening = 0;
  #closing = false;
  #closed = false;
  #drained: (() => void)[] = [];
  #closeDone: Promise<void> | undefined = undefined;
  #lastError: unknown = undefined;
  #tasks: TaskSet;
  #reaper: ReturnType<typeof setTimeout> | undefined = undefined;
  #listener: Listener | undefined = undefined;

  /** @ignore Use {@linkcode createPool}. */
  constructor(target?: string | URL | PoolOptions, options?: PoolOptions) {
    const all: PoolOptions = {
      ...(typeof target === "object" && !(target instanceof URL) ? target : {}),
      ...options,
    };
    this.#min = positive("min", all.min, 0);
    this.#max = positive("max", all.max, 10);
    if (this.#max < 1 || this.#min > this.#max) {
      throw new RangeError(
        `Cannot create the pool: need 1 <= max and min <= max, got min ${this.#min}, max ${this.#max}`,
      );
    }
    this.#idleTimeout = positive("idleTimeout", all.idleTimeout, 300_000);
    this.#maxLifetime = positive("maxLifetime", all.maxLifetime, 3_600_000);
    this.#acquireTimeout = positive(
      "acquireTimeout",
      all.acquireTimeout,
      30_000,
    );
    this.#maxQueries = positive("maxQueries", all.maxQueries, 50_000);
    this.#livenessAfter = positive(
      "livenessCheckAfter",
      all.livenessCheckAfter,
      30_000,
    );
    for (const name of ["init", "setup"] as const) {
      if (all[name] !== undefined && typeof all[name] !== "function") {
        throw new TypeError(
          `Cannot create the pool: '${name}' must be a function, got ${typeof all[
            name
          ]}`,
        );
      }
    }
    this.#init = all.init;
    this.#setup = all.setup;
    const {
      min: _min,
      max: _max,
      idleTimeout: _i,
      maxLifetime: _l,
      acquireTimeout: _a,
      maxQueries: _q,
      livenessCheckAfter: _c,
      init: _init,
      setup: _setup,
      ...connectOptions
    } = options ?? {};
    this.#connectOptions = connectOptions;
    this.#target = typeof target === "object" && !(target instanceof URL)
      ? (() => {
        const {
          min: _min,
          max: _max,
          idleTimeout: _i,
          maxLifetime: _l,
          acquireTimeout: _a,
          maxQueries: _q,
          livenessCheckAfter: _c,
          init: _init,
          setup: _setup,
          ...rest
        } = target;
        return rest;
      })()
      : target;
    // Background work (opening connections, resets, the listener) belongs
    // to the pool, not to whoever happened to trigger it.
    this.#tasks = new TaskSet({ parent: null, onError: () => {} });
    this.#grow();
    registerResource(this, "Pool"); // debug mode's unclosed report
  }

  /** Connections open or being opened, busy or idle. */
  get size(): number {
    return this.#all.size + this.#opening;
  }

  /** Idle connections, ready to hand out. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Acquires waiting for a connection. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /** The pool's `max`. */
  get max(): number {
    return this.#max;
  }

  /** Whether `close()` or `terminate()` was called. */
  get closed(): boolean {
    return this.#closing;
  }

  #state(): string {
    const busy = this.#all.size - this.#idle.length;
    return `size ${this.size}, busy ${busy}, idle ${this.#idle.length}, waiting ${this.#waiters.length}, max ${this.#max}`;
  }

  // -------------------------------------------------------------------------
  // Growing and shrinking

  // Opens connections while someone waits (or below min) and there is room.
  #grow(): void {
    if (this.#closing) return;
    // Enough for the busy ones, the waiters and min, never above max.
    const busy = this.#all.size - this.#idle.length;
    const target = Math.min(
      this.#max,
      Math.max(this.#min, busy + this.#waiters.length),
    );
    while (this.#all.size + this.#opening < target) {
      this.#opening++;
      this.#tasks.createTask(() => this.#open());
    }
  }

  #wanted(): boolean {
    return !this.#closing &&
      (this.#waiters.length > 0 || this.#all.size < this.#min);
  }

  async #open(): Promise<void> {
    let conn: Connection;
    try {
      conn = await retry(async () => {
        const c = await connect(this.#target, this.#connectOptions);
        if (this.#init !== undefined) {
          try {
            await this.#init(c);
          } catch (error) {
            c.terminate();
            throw new InitError(error);
          }
        }
        return c;
      }, {
        attempts: Infinity,
        minDelay: 50,
        maxDelay: 2_000,
        retryIf: (error) => {
          this.#lastError = error;
          return !(error instanceof InitError) && !permanent(error) &&
            this.#wanted();
        },
      });
    } catch (error) {
      this.#opening--;
      if (isCancellation(error)) return;
      const reason = error instanceof InitError ? error.cause : error;
      this.#lastError = reason;
      // A broken configuration fails every waiter at once; an init error
      // is that one connection's, and reaches one waiter.
      if (error instanceof InitError) this.#waiters.shift()?.reject(reason);
      else if (permanent(reason)) {
        for (const w of this.#waiters.splice(0)) w.reject(reason);
      }
      this.#grow();
      return;
    }
    this.#opening--;
    if (this.#closing) {
      conn.terminate();
      return;
    }
    const now = performance.now();
    const slot: Slot = {
      conn,
      created: now,
      released: now,
      queries: 0,
      dirty: false,
      busy: false,
    };
    this.#all.add(slot);
    // An idle connection keeps reading: a server shutdown (57P01) or a
    // terminated backend closes it, and it leaves the pool at once.
    conn._onClose = () => this.#discard(slot);
    this.#put(slot);
  }

  // A free connection: to the first waiter still waiting, else idle.
  #put(slot: Slot): void {
    slot.busy = false;
    if (slot.conn.closed) {
      this.#discard(slot);
      return;
    }
    const waiters = this.#waiters;
    while (waiters.length > 0) {
      const w = waiters.shift()!;
      clearTimeout(w.timer);
      slot.busy = true;
      if (w.resolve(slot)) return;
      slot.busy = false;
    }
    slot.released = performance.now();
    this.#idle.push(slot);
    this.#schedule();
    this.#checkDrained();
  }

  #discard(slot: Slot): void {
    if (!this.#all.delete(slot)) return;
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    slot.conn._onClose = undefined;
    if (!slot.conn.closed) {
      this.#tasks.createTask(() => slot.conn.close());
    }
    this.#checkDrained();
    this.#grow();
  }

  // The reaper: closes idle connections past idleTimeout (above min) or
  // maxLifetime. One unref'd timer, armed only while connections idle.
  #schedule(): void {
    if (this.#reaper !== undefined || this.#closing) return;
    const every = Math.max(
      10,
      Math.min(this.#idleTimeout, this.#maxLifetime, 60_000),
    );
    this.#reaper = setTimeout(() => {
      this.#reaper = undefined;
      this.#reap();
      if (this.#idle.length > 0) this.#schedule();
    }, every);
    Deno.unrefTimer(this.#reaper);
  }

  #reap(): void {
    const now = performance.now();
    for (const slot of [...this.#idle]) {
      const old = now - slot.created >= this.#maxLifetime;
      const unused = now - slot.released >= this.#idleTimeout &&
        this.#all.size > this.#min;
      if (old || unused) this.#discard(slot);
    }
  }

  // -------------------------------------------------------------------------
  // Acquire and release

  /**
   * Takes a connection from the pool, waiting (first come, first served)
   * when all are busy — asyncpg's `pool.acquire()`. Release it with
   * `await using` (or `release()`). Honours the ambient cancel scope, the
   * `signal`, and the pool's `acquireTimeout` (a `TimeoutError` that names
   * the pool's state).
   *
   * @example Usage
   * ```ts ignore
   * await using conn = await pool.acquire();
   * await conn.fetch("SELECT 1");
   * ```
   *
   * @param options A signal and a timeout.
   * @returns The connection, on loan.
   */
  async acquire(options?: AcquireOptions): Promise<PoolConnection> {
    const ms = options?.timeout ?? this.#acquireTimeout;
    if (typeof ms !== "number" || !(ms >= 0)) {
      throw new RangeError(
        `Cannot acquire a connection: 'timeout' must be a number of milliseconds >= 0, got ${
          String(ms)
        }`,
      );
    }
    const deadline = performance.now() + ms;
    while (true) {
      const slot = await this.#take(options, deadline, ms);
      // A connection idle for long may have died silently: check it.
      if (performance.now() - slot.released >= this.#livenessAfter) {
        if (!(await this.#alive(slot, options))) {
          slot.conn.terminate();
          this.#discard(slot);
          continue;
        }
      }
      const conn = new PoolConnection(this, slot);
      if (this.#setup !== undefined) {
        try {
          await this.#setup(conn);
        } catch (error) {
          slot.conn.terminate();
          this.#discard(slot);
          throw error;
        }
      }
      return conn;
    }
  }

  // The liveness check; a cancelled caller puts a live connection back.
  async #alive(
    slot: Slot,
    options: AcquireOptions | undefined,
  ): Promise<boolean> {
    const conn = slot.conn;
    const timer = setTimeout(() => conn.terminate(), LIVENESS_DEADLINE);
    try {
      await conn.fetch("SELECT 1", [], { signal: options?.signal });
      return true;
    } catch (error) {
      if (isCancellation(error) && !conn.closed) {
        this.#put(slot);
        throw error;
      }
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #take(
    options: AcquireOptions | undefined,
    deadline: number,
    ms: number,
  ): Promise<Slot> {
    if (this.#closing) {
      return Promise.reject(
        new PoolClosedError(
          "Cannot acquire a connection: the pool is closed; make a new one",
        ),
      );
    }
    // Idle connections go first, oldest waiter first: none idle while
    // someone waits.
    while (this.#waiters.length === 0 && this.#idle.length > 0) {
      const slot = this.#idle.pop()!;
      if (slot.conn.closed) {
        this.#discard(slot);
        continue;
      }
      const signal = options?.signal;
      const scope = currentScope();
      if (signal?.aborted || scope?.cancelled) {
        this.#idle.push(slot);
        return Promise.reject(
          signal?.aborted ? toCancelError(signal.reason) : scope!.reason,
        );
      }
      slot.busy = true;
      return Promise.resolve(slot);
    }
    const waiter = new AcquireWaiter(this.#waiters);
    const promise = waiter.wait(options);
    if (!waiter.pending) return promise;
    this.#waiters.push(waiter);
    const left = deadline - performance.now();
    if (left !== Infinity) {
      waiter.timer = setTimeout(() => {
        const last = this.#lastError;
        const state = this.#state();
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        waiter.reject(
          new TimeoutError(
            `Cannot acquire a connection from the pool: none was free within ${ms} ms (${state})${
              last instanceof Error
                ? `; last connect error: ${last.message}`
                : ""
            }`,
            last instanceof Error ? { cause: last } : undefined,
          ),
        );
      }, Math.max(0, left));
    }
    this.#grow();
    return promise;
  }

  /** @ignore Called by a PoolConnection's release. */
  async _release(slot: Slot, dirty: boolean): Promise<void> {
    const conn = slot.conn;
    if (conn.closed) {
      this.#discard(slot);
      return;
    }
    const now = performance.now();
    if (
      this.#closing && this.#closed ||
      now - slot.created >= this.#maxLifetime ||
      slot.queries >= this.#maxQueries
    ) {
      this.#discard(slot);
      return;
    }
    if (dirty || conn.inTransaction) {
      // Shielded: a cancelled caller must not leave the connection in an
      // unknown state; one that cannot be reset is closed instead.
      const ok = await shield(async () => {
        try {
          if (conn.inTransaction) {
            await conn.execute("ROLLBACK", undefined, {
              timeout: CHECK_DEADLINE,
            });
          }
          if (dirty) {
            await conn.execute(RESET_SQL, undefined, {
              timeout: CHECK_DEADLINE,
            });
          }
          return !conn.inTransaction;
        } catch {
          return false;
        }
      });
      if (!ok) {
        conn.terminate();
        this.#discard(slot);
        return;
      }
    }
    this.#put(slot);
  }

  #checkDrained(): void {
    if (this.#drained.length === 0) return;
    for (const slot of this.#all) if (slot.busy) return;
    for (const resolve of this.#drained.splice(0)) resolve();
  }

  // -------------------------------------------------------------------------
  // Queries on the pool

  // The common case, an idle connection and no one waiting: the query runs
  // on it directly, without a PoolConnection.
  #fast(): Slot | undefined {
    if (
      this.#setup !== undefined || this.#waiters.length > 0 || this.#closing
    ) return undefined;
    const slot = this.#idle[this.#idle.length - 1];
    if (
      slot === undefined || slot.conn.closed ||
      performance.now() - slot.released >= this.#livenessAfter
    ) return undefined;
    this.#idle.pop();
    slot.busy = true;
    return slot;
  }

  async #direct<T>(
    slot: Slot,
    sql: string,
    run: (conn: Connection) => Promise<T>,
  ): Promise<T> {
    slot.queries++;
    try {
      return await run(slot.conn);
    } finally {
      await this._release(slot, typeof sql === "string" && STATEFUL.test(sql));
    }
  }

  async #with<T>(
    options: QueryOptions | undefined,
    fn: (conn: PoolConnection) => Promise<T>,
  ): Promise<T> {
    const conn = await this.acquire(
      options?.signal ? { signal: options.signal } : undefined,
    );
    try {
      return await fn(conn);
    } finally {
      await conn.release();
    }
  }

  /**
   * `fetch` on a connection of the pool (acquired and released around it).
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
    const slot = this.#fast();
    if (slot !== undefined) {
      return this.#direct(slot, sql, (c) => c.fetch<R>(sql, args, options));
    }
    return this.#with(options, (c) => c.fetch<R>(sql, args, options));
  }

  /**
   * `fetchrow` on a connection of the pool.
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
    const slot = this.#fast();
    if (slot !== undefined) {
      return this.#direct(slot, sql, (c) => c.fetchrow<R>(sql, args, options));
    }
    return this.#with(options, (c) => c.fetchrow<R>(sql, args, options));
  }

  /**
   * `fetchval` on a connection of the pool.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The first column of the first row.
   */
  fetchval<T = unknown>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<T> {
    const slot = this.#fast();
    if (slot !== undefined) {
      return this.#direct(slot, sql, (c) => c.fetchval<T>(sql, args, options));
    }
    return this.#with(options, (c) => c.fetchval<T>(sql, args, options));
  }

  /**
   * `execute` on a connection of the pool.
   *
   * @param sql The statement(s).
   * @param args Its arguments (one statement then).
   * @param options A signal and a timeout.
   * @returns The status tag.
   */
  execute(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<string> {
    const slot = this.#fast();
    if (slot !== undefined) {
      return this.#direct(slot, sql, (c) => c.execute(sql, args, options));
    }
    return this.#with(options, (c) => c.execute(sql, args, options));
  }

  /**
   * `executemany` on a connection of the pool: one pipelined batch.
   *
   * @param sql The statement.
   * @param argsList One argument list per execution.
   * @param options A signal and a timeout.
   */
  executemany(
    sql: string,
    argsList: readonly (readonly unknown[])[],
    options?: QueryOptions,
  ): Promise<void> {
    const slot = this.#fast();
    if (slot !== undefined) {
      return this.#direct(
        slot,
        sql,
        (c) => c.executemany(sql, argsList, options),
      );
    }
    return this.#with(options, (c) => c.executemany(sql, argsList, options));
  }

  /**
   * Runs `fn` in a transaction on a connection of the pool (see
   * `Connection.transaction`).
   *
   * @param fn The work.
   * @param options Isolation level, read only, deferrable.
   * @returns What `fn` returned.
   */
  transaction<T>(
    fn: (tx: Transaction) => T | PromiseLike<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    return this.#with(undefined, (c) => c.transaction(fn, options));
  }

  /**
   * `copyFrom` on a connection of the pool (see {@linkcode PoolConnection.copyFrom}).
   *
   * @param table The table.
   * @param source Rows or bytes.
   * @param options Columns, format, signal.
   * @returns The status tag (`COPY 3`).
   */
  copyFrom(
    table: string,
    source: CopySource,
    options?: CopyFromOptions,
  ): Promise<string> {
    return this.#with(options, (c) => c.copyFrom(table, source, options));
  }

  /**
   * Sends a notification — `pg_notify(channel, payload)`.
   *
   * @param channel The channel.
   * @param payload The payload (default "").
   */
  async notify(channel: string, payload = ""): Promise<void> {
    if (typeof channel !== "string" || typeof payload !== "string") {
      throw new TypeError(
        `Cannot notify: 'channel' and 'payload' must be strings, got ${typeof channel} and ${typeof payload}`,
      );
    }
    await this.fetch("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  /**
   * Listens on a channel — asyncpg's `add_listener`, as an async iterable.
   * The pool keeps one connection of its own for all its subscriptions
   * (not counted in `max`); when it is lost, a new one is opened with
   * backoff and every channel is LISTENed again. Notifications sent in
   * between are lost: each subscription is told (`onGap`, `gaps`).
   *
   * @example Usage
   * ```ts
   * import { createPool } from "@aio/std/io/postgres-pool";
   * import { startPostgres } from "@aio/std/testing/postgres";
   * import assert from "node:assert/strict";
   *
   * await using pg = await startPostgres();
   * await using pool = createPool(pg.url);
   * await using sub = await pool.listen("jobs");
   * await pool.notify("jobs", "42");
   * for await (const { channel, payload } of sub) {
   *   assert.deepEqual([channel, payload], ["jobs", "42"]);
   *   break;
   * }
   * ```
   *
   * @param channel The channel's name.
   * @param options `onGap`, called after a lost connection was replaced.
   * @returns The subscription; dispose it to UNLISTEN.
   */
  async listen(
    channel: string,
    options?: ListenOptions,
  ): Promise<Subscription> {
    if (typeof channel !== "string" || channel === "") {
      throw new TypeError(
        `Cannot listen: 'channel' must be a non-empty string, got ${
          typeof channel === "string" ? '""' : typeof channel
        }`,
      );
    }
    if (this.#closing) {
      throw new PoolClosedError(
        "Cannot listen: the pool is closed; make a new one",
      );
    }
    this.#listener ??= new Listener(
      () => connect(this.#target, this.#connectOptions),
      this.#tasks,
    );
    return await this.#listener.add(channel, options);
  }

  // -------------------------------------------------------------------------
  // Closing

  /**
   * Closes the pool gracefully: new acquires are refused, waiters rejected,
   * acquired connections are waited for, then every connection is closed.
   * With `timeout`, connections still acquired after that many
   * milliseconds are terminated instead (asyncpg: `wait_for(pool.close())`
   * then `terminate()`), so a connection that is never released cannot
   * hold the close forever.
   *
   * @example A connection never released
   * ```ts
   * import { createPool } from "@aio/std/io/postgres-pool";
   * import { ConnectionClosedError } from "@aio/std/io/postgres";
   * import { startPostgres } from "@aio/std/testing/postgres";
   * import assert from "node:assert/strict";
   *
   * await using pg = await startPostgres();
   * const pool = createPool(pg.url);
   * const forgotten = await pool.acquire();
   * await pool.close({ timeout: 100 });
   * assert.equal(pool.size, 0);
   * await assert.rejects(forgotten.fetch("SELECT 1"), ConnectionClosedError);
   * ```
   *
   * @param options `timeout`: how long to wait for acquired connections.
   */
  async close(options?: PoolCloseOptions): Promise<void> {
    const ms = options?.timeout ?? Infinity;
    if (typeof ms !== "number") {
      throw new TypeError(
        `Cannot close the pool: 'timeout' must be a number of milliseconds, got ${typeof ms}`,
      );
    }
    if (!(ms >= 0)) {
      throw new RangeError(
        `Cannot close the pool: 'timeout' must be a number of milliseconds >= 0, got ${
          String(ms)
        }`,
      );
    }
    if (!this.#closing) {
      this.#closing = true;
      resourceClosed(this);
      this.#refuseWaiters();
      clearTimeout(this.#reaper);
      this.#reaper = undefined;
      this.#closeDone = this.#closeAll();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const cancels: Promise<void>[] = [];
    if (ms !== Infinity && this.#closeDone !== undefined) {
      timer = setTimeout(() => {
        // Past the timeout: those still acquired are terminated (their
        // close hook discards them, which lets the drain finish), and
        // what they run is cancelled on the server, which would otherwise
        // only notice the closed socket when the statement ends.
        for (const slot of [...this.#all]) {
          if (!slot.busy) continue;
          cancels.push(slot.conn._cancelOnServer());
          slot.conn.terminate();
        }
      }, ms);
    }
    try {
      await this.#closeDone;
    } finally {
      clearTimeout(timer);
      await Promise.all(cancels);
    }
    await this.#tasks[Symbol.asyncDispose]();
  }

  async #closeAll(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#drained.push(resolve);
      this.#checkDrained();
    });
    this.#closed = true;
    await this.#listener?.close();
    const slots = [...this.#all];
    this.#all.clear();
    this.#idle.length = 0;
    await Promise.all(slots.map((s) => {
      s.conn._onClose = undefined;
      return s.conn.close().catch(() => {});
    }));
  }

  /** Closes the pool at once: every connection, busy or not, is terminated. */
  terminate(): void {
    this.#closing = true;
    this.#closed = true;
    this.#refuseWaiters();
    clearTimeout(this.#reaper);
    this.#reaper = undefined;
    this.#listener?.terminate();
    for (const slot of [...this.#all]) {
      slot.conn._onClose = undefined;
      slot.conn.terminate();
    }
    this.#all.clear();
    this.#idle.length = 0;
    for (const resolve of this.#drained.splice(0)) resolve();
    this.#tasks.cancelAll("The pool was terminated");
  }

  #refuseWaiters(): void {
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(
        new PoolClosedError(
          "Cannot acquire a connection: the pool was closed while waiting",
        ),
      );
    }
  }

  /** Closes the pool (see {@linkcode Pool.close}). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

class InitError extends Error {
  constructor(cause: unknown) {
    super("init failed", { cause });
  }
}

/**
 * A connection on loan from a {@linkcode Pool}: the query methods of
 * `Connection`, and `release()` / `await using` to give it back. After
 * release every method rejects.
 *
 * @example Usage
 * ```ts ignore
 * {
 *   await using conn = await pool.acquire();
 *   await conn.execute("SET search_path TO app"); // reset on release
 * }
 * ```
 */
export class PoolConnection implements AsyncDisposable {
  #pool: Pool;
  #slot: Slot;
  #released: Promise<void> | undefined = undefined;
  #dirty = false;

  /** @ignore Made by {@linkcode Pool.acquire}. */
  constructor(pool: Pool, slot: Slot) {
    this.#pool = pool;
    this.#slot = slot;
  }

  #conn(sql: unknown): Connection {
    if (this.#released !== undefined) {
      throw new TypeError(
        "Cannot use the pooled connection: it was released to the pool; acquire another",
      );
    }
    if (typeof sql === "string" && !this.#dirty && STATEFUL.test(sql)) {
      this.#dirty = true;
    }
    this.#slot.queries++;
    return this.#slot.conn;
  }

  /** The underlying connection (for what the pool does not wrap; not reset-tracked). */
  get connection(): Connection {
    this.#dirty = true;
    return this.#conn(undefined);
  }

  /** The server's backend process id. */
  get pid(): number {
    return this.#slot.conn.pid;
  }

  /** Whether a transaction is open. */
  get inTransaction(): boolean {
    return this.#slot.conn.inTransaction;
  }

  /** Whether it was released. */
  get released(): boolean {
    return this.#released !== undefined;
  }

  /**
   * See `Connection.fetch`.
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The rows.
   */
  async fetch<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<R[]> {
    return await this.#conn(sql).fetch<R>(sql, args, options);
  }

  /**
   * See `Connection.fetchrow`.
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
    return await this.#conn(sql).fetchrow<R>(sql, args, options);
  }

  /**
   * See `Connection.fetchval`.
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
    return await this.#conn(sql).fetchval<T>(sql, args, options);
  }

  /**
   * See `Connection.execute`.
   *
   * @param sql The statement(s).
   * @param args Its arguments.
   * @param options A signal and a timeout.
   * @returns The status tag.
   */
  async execute(
    sql: string,
    args?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<string> {
    return await this.#conn(sql).execute(sql, args, options);
  }

  /**
   * See `Connection.executemany`.
   *
   * @param sql The statement.
   * @param argsList The argument lists.
   * @param options A signal and a timeout.
   */
  async executemany(
    sql: string,
    argsList: readonly (readonly unknown[])[],
    options?: QueryOptions,
  ): Promise<void> {
    return await this.#conn(sql).executemany(sql, argsList, options);
  }

  /**
   * See `Connection.prepare`.
   *
   * @param sql The statement.
   * @param options A signal and a timeout.
   * @returns The prepared statement (valid while the connection is on loan).
   */
  async prepare(
    sql: string,
    options?: QueryOptions,
  ): Promise<PreparedStatement> {
    return await this.#conn(sql).prepare(sql, options);
  }

  /**
   * See `Connection.transaction`.
   *
   * @param fn The work.
   * @param options Isolation level, read only, deferrable.
   * @returns What `fn` returned.
   */
  async transaction<T>(
    fn: (tx: Transaction) => T | PromiseLike<T>,
    options?: TransactionOptions,
  ): Promise<T> {
    if (typeof fn !== "function") {
      return await this.#conn(undefined).transaction(fn, options);
    }
    // The transaction's statements are watched too: a SET inside it
    // outlives its COMMIT.
    return await this.#conn(undefined).transaction(
      (tx) => fn(this.#watch(tx)),
      options,
    );
  }

  #watch(tx: Transaction): Transaction {
    return new Proxy(tx, {
      get: (target, key) => {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const first = args[0];
          if (typeof first === "string" && STATEFUL.test(first)) {
            this.#dirty = true;
          } else if (key === "transaction" && typeof first === "function") {
            const inner = first as (tx: Transaction) => unknown;
            args[0] = (t: Transaction) => inner(this.#watch(t));
          }
          return value.apply(target, args);
        };
      },
    });
  }

  /**
   * COPY FROM STDIN — asyncpg's `copy_records_to_table` / `copy_to_table`:
   * rows (arrays of values, or objects keyed by `columns`) or bytes in the
   * chosen format, from an array, an async iterable or a ReadableStream.
   *
   * @param table The table (`name` or `schema.name`).
   * @param source The rows or bytes.
   * @param options Columns, format, signal.
   * @returns The status tag (`COPY 3`).
   */
  async copyFrom(
    table: string,
    source: CopySource,
    options?: CopyFromOptions,
  ): Promise<string> {
    return await this.#conn(undefined).copyFrom(table, source, options);
  }

  /**
   * COPY TO STDOUT of a table or a query, as a byte stream; cancelling the
   * stream cancels the COPY on the server.
   *
   * @param sqlOrTable A table name or a SELECT.
   * @param options Format, signal.
   * @returns The bytes.
   */
  copyTo(
    sqlOrTable: string,
    options?: CopyToOptions,
  ): ReadableStream<Uint8Array> {
    return this.#conn(undefined).copyTo(sqlOrTable, options);
  }

  /**
   * A server-side cursor over a query's rows, fetched `prefetch` at a time
   * (see `Connection.cursor`).
   *
   * @param sql The query.
   * @param args Its arguments.
   * @param options `prefetch`, signal.
   * @returns The rows, as an async iterable.
   */
  cursor<R extends Row = Row>(
    sql: string,
    args?: readonly unknown[],
    options?: CursorOptions,
  ): AsyncIterable<R> {
    return this.#conn(sql).cursor<R>(sql, args, options);
  }

  /** Gives the connection back to the pool (reset first if needed). Idempotent. */
  release(): Promise<void> {
    this.#released ??= this.#pool._release(this.#slot, this.#dirty);
    return this.#released;
  }

  /** Same as {@linkcode PoolConnection.release}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

// ---------------------------------------------------------------------------
// LISTEN / NOTIFY

/** Options of {@linkcode Pool.listen}. */
export interface ListenOptions {
  /**
   * Called when the listening connection was lost and replaced: the
   * notifications sent between `lostAt` and `backAt` were missed.
   */
  onGap?: (gap: ListenGap) => void;
}

/** A stretch of time in which a subscription could not hear its channel. */
export interface ListenGap {
  /** Why the connection was lost. */
  error: Error;
  /** When it was lost (`Date.now()`). */
  lostAt: number;
  /** When the channel was LISTENed again (`Date.now()`). */
  backAt: number;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

class NextWaiter extends Waiter<IteratorResult<Notification>> {
  #sub: Subscription;
  constructor(sub: Subscription) {
    super();
    this.#sub = sub;
  }
  protected withdraw(): void {
    this.#sub._forget(this);
  }
}

/**
 * One channel's notifications, from {@linkcode Pool.listen}: an async
 * iterable of `{ channel, payload, pid }`. Dispose it to UNLISTEN.
 */
export class Subscription
  implements AsyncIterable<Notification>, AsyncDisposable {
  #listener: Listener;
  #buffer: Notification[] = [];
  #head = 0;
  #waiter: NextWaiter | undefined = undefined;
  #closed = false;
  #gaps = 0;
  #onGap: ((gap: ListenGap) => void) | undefined;
  /** The channel. */
  readonly channel: string;

  /** @ignore Made by {@linkcode Pool.listen}. */
  constructor(
    listener: Listener,
    channel: string,
    onGap: ((gap: ListenGap) => void) | undefined,
  ) {
    this.#listener = listener;
    this.channel = channel;
    this.#onGap = onGap;
  }

  /** How many times the connection was lost and the channel listened again. */
  get gaps(): number {
    return this.#gaps;
  }

  /** @ignore */
  _push(n: Notification): void {
    if (this.#closed) return;
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      if (w.resolve({ value: n, done: false })) return;
    }
    this.#buffer.push(n);
  }

  /** @ignore */
  _gap(gap: ListenGap): void {
    this.#gaps++;
    try {
      this.#onGap?.(gap);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** @ignore */
  _forget(w: NextWaiter): void {
    if (this.#waiter === w) this.#waiter = undefined;
  }

  /** @ignore */
  _end(): void {
    this.#closed = true;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.resolve({ value: undefined, done: true });
  }

  /**
   * The next notification (or done once disposed); honours the ambient
   * cancel scope and `signal`.
   *
   * @param options A signal.
   * @returns The next notification.
   */
  next(
    options?: { signal?: AbortSignal },
  ): Promise<IteratorResult<Notification>> {
    if (this.#head < this.#buffer.length) {
      const value = this.#buffer[this.#head++];
      if (this.#head === this.#buffer.length) {
        this.#buffer.length = 0;
        this.#head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    if (this.#waiter !== undefined) {
      return Promise.reject(
        new Error(
          "Cannot wait for a notification: another next() is waiting on this subscription",
        ),
      );
    }
    const w = new NextWaiter(this);
    const promise = w.wait(options);
    if (w.pending) this.#waiter = w;
    return promise;
  }

  /** Iterates over the notifications; leaving the loop keeps the subscription. */
  [Symbol.asyncIterator](): AsyncIterator<Notification> {
    return { next: () => this.next() };
  }

  /** UNLISTENs (when no other subscription wants the channel) and ends the iteration. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this._end();
    await this.#listener.remove(this);
  }

  /** Same as {@linkcode Subscription.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// The pool's listening connection: every channel of every subscription.
class Listener {
  #open: () => Promise<Connection>;
  #tasks: TaskSet;
  #conn: Promise<Connection> | undefined = undefined;
  #channels = new Map<string, Set<Subscription>>();
  #closed = false;

  constructor(open: () => Promise<Connection>, tasks: TaskSet) {
    this.#open = open;
    this.#tasks = tasks;
  }

  #connection(): Promise<Connection> {
    this.#conn ??= this.#connect().catch((error) => {
      this.#conn = undefined;
      throw error;
    });
    return this.#conn;
  }

  async #connect(): Promise<Connection> {
    const conn = await this.#open();
    conn._onNotification = (n) => {
      const subs = this.#channels.get(n.channel);
      if (subs !== undefined) { for (const s of subs) s._push(n); }
    };
    conn._onClose = (error) => {
      if (this.#closed) return;
      this.#conn = undefined;
      const lostAt = Date.now();
      this.#tasks.createTask(() => this.#recover(error, lostAt));
    };
    return conn;
  }

  // A new connection, with backoff, then every channel again.
  async #recover(error: Error, lostAt: number): Promise<void> {
    await retry(async () => {
      if (this.#closed || this.#channels.size === 0) return;
      const conn = await this.#connection();
      try {
        for (const channel of this.#channels.keys()) {
          await conn.execute(`LISTEN ${quoteIdent(channel)}`);
        }
      } catch (e) {
        conn.terminate();
        throw e;
      }
      const gap = { error, lostAt, backAt: Date.now() };
      for (const subs of this.#channels.values()) {
        for (const s of subs) s._gap(gap);
      }
    }, {
      attempts: Infinity,
      minDelay: 50,
      maxDelay: 2_000,
      retryIf: () => !this.#closed,
    });
  }

  async add(
    channel: string,
    options: ListenOptions | undefined,
  ): Promise<Subscription> {
    const sub = new Subscription(this, channel, options?.onGap);
    let subs = this.#channels.get(channel);
    if (subs === undefined) {
      const conn = await this.#connection();
      subs = this.#channels.get(channel);
      if (subs === undefined) {
        subs = new Set();
        this.#channels.set(channel, subs);
        try {
          await conn.execute(`LISTEN ${quoteIdent(channel)}`);
        } catch (error) {
          if (subs.size === 0) this.#channels.delete(channel);
          throw error;
        }
      }
    }
    subs.add(sub);
    return sub;
  }

  async remove(sub: Subscription): Promise<void> {
    const subs = this.#channels.get(sub.channel);
    if (subs === undefined || !subs.delete(sub) || subs.size > 0) return;
    this.#channels.delete(sub.channel);
    const conn = this.#conn;
    if (conn === undefined) return;
    try {
      await shield(async () =>
        await (await conn).execute(`UNLISTEN ${quoteIdent(sub.channel)}`)
      );
    } catch { /* a lost connection listens to nothing */ }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const subs of this.#channels.values()) {
      for (const s of subs) s._end();
    }
    this.#channels.clear();
    const conn = this.#conn;
    this.#conn = undefined;
    if (conn !== undefined) {
      try {
        const c = await conn;
        c._onClose = undefined;
        await c.close();
      } catch { /* never opened */ }
    }
  }

  terminate(): void {
    this.#closed = true;
    for (const subs of this.#channels.values()) {
      for (const s of subs) s._end();
    }
    this.#channels.clear();
    this.#conn?.then((c) => {
      c._onClose = undefined;
      c.terminate();
    }, () => {});
    this.#conn = undefined;
  }
}
