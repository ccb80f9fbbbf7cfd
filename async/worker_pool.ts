/**
 * A pool of workers for CPU-bound work and blocking calls — asyncio's
 * `loop.run_in_executor` with a `ProcessPoolExecutor`, done with Web Workers
 * or `deno` subprocesses, with real cancellation.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import {
  CancelledError,
  CancelScope,
  currentScope,
  type SignalOptions,
  Waiter,
} from "./cancel_scope.ts";
import { registerResource, resourceClosed } from "./_internal.ts";
import {
  deserializeError,
  type ErrorClasses,
  errorClasses,
  type Fatal,
  OK,
  type SerializedError,
  type Transfer,
} from "./_worker_protocol.ts";
import {
  findConfig,
  subprocess,
  type Transport,
  type TransportOptions,
  webWorker,
  workerOptionsEnabled,
  type WorkerPermissions,
} from "./_worker_transport.ts";

export type { SignalOptions, WorkerPermissions };

/** How a pool's workers are isolated from the program and from each other. */
export type WorkerIsolation = "worker" | "process";

/** An error class a pool rebuilds errors of that `name` as. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/** Options for {@linkcode WorkerPool}. */
export interface WorkerPoolOptions {
  /**
   * The most workers at once, started lazily as tasks come; defaults to
   * `navigator.hardwareConcurrency`.
   */
  size?: number;
  /**
   * How long (ms) a worker may stay idle before it is stopped; defaults to
   * 30 000. `Infinity` keeps workers until the pool is closed.
   */
  idleTimeout?: number;
  /**
   * The most tasks waiting for a worker; a task beyond it rejects at once
   * with {@linkcode WorkerQueueFull} (for back-pressure, use
   * {@linkcode WorkerPool.map}, which keeps a bounded window). Defaults to
   * `Infinity`.
   */
  maxQueue?: number;
  /**
   * Which gives what:
   *
   * | | `"worker"` (the default) | `"process"` |
   * | --- | --- | --- |
   * | a worker is | a Web Worker (a thread) | a `deno run` subprocess |
   * | start-up | ~20 ms | ~100 ms; needs `--allow-run` |
   * | data | structured clone, `transfer` moves buffers | copied (`node:v8` serialisation) |
   * | round trip of a tiny task | about a bare `postMessage` | several times that (pipes, `node:v8`) |
   * | permissions | inherited (see `permissions`) | none but what you list |
   * | cancelling a running task | terminates the worker: stops a task that awaits, but on Deno 2.9.6 not one that never yields (`while (true) {}`, a long `Atomics.wait`): that one keeps a core busy, and the program from exiting, until it returns | SIGKILL: any task, however stuck, stops; the call rejects once the process has exited |
   *
   * Python cannot stop a running `to_thread` call at all; a process pool
   * can.
   */
  isolation?: WorkerIsolation;
  /**
   * The workers' permissions. For process workers, the `--allow-*` flags
   * (none by default: the worker module and its static imports load without
   * permissions). For Web Workers, `"inherit"` (the default) or Deno's
   * worker permissions, which need `--unstable-worker-options`: without
   * it, the pool rejects its tasks with a `TypeError` (Deno would exit the
   * program instead).
   */
  permissions?: "inherit" | WorkerPermissions;
  /**
   * Error classes to rebuild worker errors as, by their `name` (the
   * built-in ones are always known). Others come back as `Error` with the
   * worker's `name`.
   */
  errorClasses?: Iterable<ErrorClass>;
  /**
   * The `deno.json` a process worker runs with; by default the one found
   * walking up from the module's folder, so that its imports resolve.
   */
  config?: string;
  /** A name for the workers, in their error messages and debuggers. */
  name?: string;
}

/** Options for {@linkcode WorkerPool.run}. */
export interface WorkerRunOptions extends SignalOptions {
  /**
   * `ArrayBuffer`s (or other transferables) in the arguments to move to
   * the worker instead of copying: they are empty (`byteLength` 0) on the
   * caller's side afterwards. Web Workers only; a process copies.
   */
  transfer?: Transferable[];
}

/** Options for {@linkcode WorkerPool.map}. */
export interface WorkerMapOptions extends SignalOptions {
  /** Yield results in input order (the default) or as they complete. */
  ordered?: boolean;
  /** The most tasks in flight at once; defaults to 4 × the pool's size. */
  window?: number;
}

/**
 * A worker crashed, exited or could not load its module while it had the
 * task: the task may or may not have run. The worker was replaced.
 *
 * @example Usage
 * ```ts
 * import { WorkerError } from "@aio/std/async/worker-pool";
 * import assert from "node:assert/strict";
 *
 * const error = new WorkerError("Cannot finish 'fib': the worker exited");
 * assert.equal(error.name, "WorkerError");
 * ```
 */
export class WorkerError extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened, to which task.
   * @param options The worker's error as `cause`, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WorkerError";
  }
}

/**
 * A task was refused because the pool's queue holds `maxQueue` tasks.
 *
 * @example Usage
 * ```ts
 * import { WorkerQueueFull } from "@aio/std/async/worker-pool";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new WorkerQueueFull("full").name, "WorkerQueueFull");
 * ```
 */
export class WorkerQueueFull extends Error {
  /**
   * Makes the error.
   *
   * @param message Which pool, how full.
   */
  constructor(message: string) {
    super(message);
    this.name = "WorkerQueueFull";
  }
}

/** Any function a worker module may export. */
// deno-lint-ignore no-explicit-any
export type WorkerFunction = (...args: any[]) => unknown;

/** The names of `M`'s exported functions. */
export type FunctionName<M> =
  & {
    [K in keyof M]: M[K] extends WorkerFunction ? K : never;
  }[keyof M]
  & string;

/** What a worker function's call resolves to on the caller's side. */
export type WorkerResult<R> = Awaited<R> extends Transfer<infer T> ? T
  : Awaited<R>;

/** The arguments of `M[K]`. */
export type WorkerArgs<M, K extends keyof M> = M[K] extends WorkerFunction
  ? Parameters<M[K]>
  : never;

/** The result of `M[K]`. */
export type WorkerReturn<M, K extends keyof M> = M[K] extends WorkerFunction
  ? WorkerResult<ReturnType<M[K]>>
  : never;

// Task states.
const QUEUED = 0;
const RUNNING = 1;
const DONE = 2;

// The most tasks in one message: enough to make the per-message cost
// vanish for tiny tasks, small enough to keep workers evenly loaded.
const MAX_BATCH = 512;

/** One task: its own cancellable wait (see Waiter). */
class Job extends Waiter<unknown> {
  state = QUEUED;
  slot: Slot | undefined = undefined;
  // Whether the caller can cancel it (a scope or a signal): such a task is
  // sent alone to an idle worker, so that cancelling it terminates only it.
  cancellable = false;
  constructor(
    readonly pool: WorkerPool<unknown>,
    readonly id: number,
    readonly name: string | [string],
    readonly args: unknown[],
    readonly transfer: Transferable[] | undefined,
    readonly label: string,
  ) {
    super();
    this.key = typeof name === "string" ? name : name[0];
  }
  // What selects the function in the worker: its name, or its source.
  readonly key: string;
  protected withdraw(): void | Promise<void> {
    return this.pool[withdraw](this);
  }
}

/** One worker and what it was sent: one task, or one batch, at a time. */
interface Slot {
  transport: Transport;
  unit: Job | Job[] | undefined;
  // The function the worker has selected (see the protocol), by key.
  fn: string | undefined;
  sentAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  idleSince: number;
  alive: boolean;
}

const withdraw: unique symbol = Symbol("aio.workerPool.withdraw");

let poolCount = 0;

/**
 * A pool of workers running the exported functions of one module (or
 * self-contained functions, with {@linkcode WorkerPool.exec}) — asyncio's
 * `run_in_executor` on a `ProcessPoolExecutor`, workerpool's and piscina's
 * job. Workers start lazily up to `size`; tasks wait in a FIFO queue and
 * are sent in batches (about a millisecond of work per message), so tiny
 * tasks are not bound by the per-message cost. A task that can be
 * cancelled (made in a cancel scope, or given a `signal`) goes to a worker
 * alone, so that cancelling it stops only it; tasks made outside every scope
 * without a signal are the ones batched.
 *
 * Every call is an await like any other of this library: cancelling its
 * scope (a timeout, a TaskGroup whose sibling failed) or aborting its
 * `signal` removes a queued task, or terminates the worker running it and
 * starts a fresh one; the call rejects with the cancellation error once the
 * worker has stopped. Errors thrown in the worker come back with their
 * `name`, `message`, `stack` and `cause`, as their class when it is built
 * in or listed in `errorClasses`. A worker that crashes or exits rejects
 * its tasks with {@linkcode WorkerError} and is replaced.
 *
 * Close the pool (`await using`, {@linkcode WorkerPool.close}): an idle Web
 * Worker keeps the program running until `idleTimeout` stops it.
 *
 * @example Run a module's exports on a pool
 * ```ts
 * import { WorkerPool } from "@aio/std/async/worker-pool";
 * import assert from "node:assert/strict";
 *
 * const url = "data:text/javascript,export const square = (x) => x * x;";
 * await using pool = new WorkerPool<{ square(x: number): number }>(url, {
 *   size: 2,
 * });
 * assert.equal(await pool.run("square", [7]), 49);
 * const squares = [];
 * for await (const y of pool.map("square", [1, 2, 3])) squares.push(y);
 * assert.deepEqual(squares, [1, 4, 9]);
 * ```
 *
 * @typeParam M The module's type, `typeof import("./work.ts")`.
 */
export class WorkerPool<M = Record<string, WorkerFunction>>
  implements AsyncDisposable {
  #module: string | null;
  #size: number;
  #idleTimeout: number;
  #maxQueue: number;
  #isolation: WorkerIsolation;
  #transportOptions: TransportOptions;
  #classes: ErrorClasses;
  #label: string;
  #refusal: Error | undefined = undefined;

  #queue: (Job | undefined)[] = [];
  #queueHead = 0;
  #queued = 0;
  #slots = new Set<Slot>();
  #idle: Slot[] = [];
  #nextId = 0;
  // Marks the protocol's control messages (see _worker_protocol.ts).
  #tag = `aio:${crypto.randomUUID()}`;
  // How long a task takes in a worker, on average (ms): sizes batches.
  #taskMs = 0;
  #pumpScheduled = false;
  #running = 0;

  #closing = false;
  #closed: Promise<void> | undefined = undefined;
  #drained: (() => void) | undefined = undefined;
  #stopping = new Set<Promise<void>>();

  // The pool's own scope: its dispatcher and workers run there, not in the
  // scope of whichever caller happened to start them.
  #scope = new CancelScope({ parent: null });
  #inScope: <R>(fn: () => R) => R;
  #end!: () => void;

  /**
   * Makes a pool; no worker starts until the first task.
   *
   * @param module The worker module's URL (a file next to the caller:
   *   `new URL("./work.ts", import.meta.url)`), or `null` for a pool that
   *   only runs functions given to {@linkcode WorkerPool.exec}.
   * @param options Size, isolation, permissions, queue bound.
   */
  constructor(module: string | URL | null, options: WorkerPoolOptions = {}) {
    const size = options.size ?? navigator.hardwareConcurrency ?? 1;
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(
        `Cannot make a worker pool: 'size' must be an integer >= 1, got ${size}`,
      );
    }
    const idleTimeout = options.idleTimeout ?? 30_000;
    if (!(idleTimeout >= 0)) {
      throw new RangeError(
        `Cannot make a worker pool: 'idleTimeout' must be a number >= 0, got ${idleTimeout}`,
      );
    }
    const maxQueue = options.maxQueue ?? Infinity;
    if (!(maxQueue >= 0)) {
      throw new RangeError(
        `Cannot make a worker pool: 'maxQueue' must be a number >= 0, got ${maxQueue}`,
      );
    }
    const isolation = options.isolation ?? "worker";
    if (isolation !== "worker" && isolation !== "process") {
      throw new TypeError(
        `Cannot make a worker pool: 'isolation' must be "worker" or "process", got ${
          String(isolation)
        }`,
      );
    }
    if (
      module !== null && typeof module !== "string" && !(module instanceof URL)
    ) {
      throw new TypeError(
        `Cannot make a worker pool: 'module' must be a URL, a string or null, got ${typeof module}`,
      );
    }
    const href = module === null ? null : new URL(module).href;
    const permissions = options.permissions;
    if (
      isolation === "worker" && permissions !== undefined &&
      permissions !== "inherit" && !workerOptionsEnabled()
    ) {
      // Refuse in the tasks, not here: a pool made at start-up must not
      // throw, and Deno would exit the process at `new Worker`.
      this.#refusal = new TypeError(
        'Cannot start a Web Worker with permissions: Deno needs --unstable-worker-options for that (without it, it exits the program); run with that flag, or use isolation: "process"',
      );
    }
    this.#module = href;
    this.#size = size;
    this.#idleTimeout = idleTimeout;
    this.#maxQueue = maxQueue;
    this.#isolation = isolation;
    this.#label = options.name ?? `worker-pool-${++poolCount}`;
    this.#classes = errorClasses([
      CancelledError,
      WorkerError,
      ...(options.errorClasses ?? []),
    ]);
    this.#transportOptions = {
      module: href,
      tag: this.#tag,
      permissions,
      name: this.#label,
      config: isolation === "process"
        ? options.config ?? findConfig(href)
        : undefined,
    };
    let inScope!: <R>(fn: () => R) => R;
    this.#scope.run(() => {
      inScope = AsyncLocalStorage.snapshot();
      return new Promise<void>((resolve) => this.#end = resolve);
    });
    this.#inScope = inScope;
    registerResource(this, "WorkerPool");
  }

  /** The most workers at once. */
  get size(): number {
    return this.#size;
  }

  /** How many workers are running now. */
  get workers(): number {
    return this.#slots.size;
  }

  /** How many tasks wait for a worker. */
  get queued(): number {
    return this.#queued;
  }

  /** How many tasks a worker is running (or has been sent). */
  get running(): number {
    return this.#running;
  }

  /**
   * Runs the module's export `name` with `args` in a worker and resolves
   * with its result (awaited in the worker if it is a promise).
   *
   * @example Cancel a task stuck in a worker
   * ```ts
   * import { moveOnAfter } from "@aio/std/async";
   * import { WorkerPool } from "@aio/std/async/worker-pool";
   * import assert from "node:assert/strict";
   *
   * const url = "data:text/javascript,export const wait = (ms) => " +
   *   "new Promise((r) => setTimeout(r, ms));";
   * await using pool = new WorkerPool(url, { size: 1 });
   * assert.equal(await moveOnAfter(50, () => pool.run("wait", [60_000])), undefined);
   * assert.equal(await pool.run("wait", [1]), undefined); // a fresh worker
   * ```
   *
   * @param name The export to call.
   * @param args Its arguments (structured-cloned).
   * @param options Transfer list and cancellation.
   * @returns The function's result.
   */
  run<K extends FunctionName<M>>(
    name: K,
    args: WorkerArgs<M, K>,
    options?: WorkerRunOptions,
  ): Promise<WorkerReturn<M, K>> {
    if (typeof name !== "string") {
      return Promise.reject(
        new TypeError(
          `Cannot run a worker task: 'name' must be a string, got ${typeof name}`,
        ),
      );
    }
    if (this.#module === null) {
      return Promise.reject(
        new TypeError(
          `Cannot run '${name}': the pool was made without a module; use exec(fn, args)`,
        ),
      );
    }
    return this.#submit(name, name, args, options) as Promise<
      WorkerReturn<M, K>
    >;
  }

  /**
   * Runs a self-contained function in a worker, by its source (workerpool's
   * `exec`). It must not use variables from around it — a closure's
   * variables do not travel, and using one fails in the worker with a
   * `ReferenceError`; pass what it needs as `args`.
   *
   * @example A function and its arguments
   * ```ts
   * import { WorkerPool } from "@aio/std/async/worker-pool";
   * import assert from "node:assert/strict";
   *
   * await using pool = new WorkerPool(null, { size: 1 });
   * assert.equal(await pool.exec((a: number, b: number) => a + b, [2, 3]), 5);
   * ```
   *
   * @param fn A function whose source is an expression (an arrow, a
   *   `function`), using only its arguments and globals.
   * @param args Its arguments (structured-cloned).
   * @param options Transfer list and cancellation.
   * @returns The function's result.
   */
  exec<A extends unknown[], R>(
    fn: (...args: A) => R,
    args?: A,
    options?: WorkerRunOptions,
  ): Promise<WorkerResult<R>> {
    if (typeof fn !== "function") {
      return Promise.reject(
        new TypeError(
          `Cannot run a function in a worker: 'fn' must be a function, got ${typeof fn}`,
        ),
      );
    }
    const label = fn.name || "anonymous function";
    return this.#submit(
      [String(fn)],
      label,
      args ?? [],
      options,
    ) as Promise<WorkerResult<R>>;
  }

  /**
   * Calls `name` once per input (the input as its one argument), at most
   * `window` tasks at a time — `Executor.map`, back-pressured: a slow
   * consumer holds the inputs back. Leaving the loop early cancels what is
   * still in flight.
   *
   * @example Map in input order
   * ```ts
   * import { WorkerPool } from "@aio/std/async/worker-pool";
   * import assert from "node:assert/strict";
   *
   * const url = "data:text/javascript,export const double = (x) => 2 * x;";
   * await using pool = new WorkerPool<{ double(x: number): number }>(url, {
   *   size: 2,
   * });
   * const out = [];
   * for await (const y of pool.map("double", [1, 2, 3, 4])) out.push(y);
   * assert.deepEqual(out, [2, 4, 6, 8]);
   * ```
   *
   * @param name The export to call.
   * @param inputs The inputs, sync or async iterable.
   * @param options Order, window and cancellation.
   * @returns The results.
   */
  async *map<K extends FunctionName<M>>(
    name: K,
    inputs: Iterable<WorkerArgs<M, K>[0]> | AsyncIterable<WorkerArgs<M, K>[0]>,
    options?: WorkerMapOptions,
  ): AsyncGenerator<WorkerReturn<M, K>, void, undefined> {
    const ordered = options?.ordered ?? true;
    const window = options?.window ?? this.#size * 4;
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(
        `Cannot map over a worker pool: 'window' must be an integer >= 1, got ${window}`,
      );
    }
    const controller = new AbortController();
    const signal = options?.signal === undefined
      ? controller.signal
      : AbortSignal.any([controller.signal, options.signal]);
    type Entry = { promise: Promise<[Entry, WorkerReturn<M, K>]> };
    const inFlight = new Set<Entry>();
    const order: Entry[] = [];
    const iterator = Symbol.asyncIterator in inputs
      ? (inputs as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (inputs as Iterable<unknown>)[Symbol.iterator]();
    let exhausted = false;
    try {
      while (true) {
        while (!exhausted && inFlight.size < window) {
          const next = await iterator.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          const entry = {} as Entry;
          const run = this.run(name, [next.value] as WorkerArgs<M, K>, {
            signal,
          });
          entry.promise = run.then((value) => [entry, value]);
          entry.promise.catch(() => {}); // awaited below, or abandoned
          inFlight.add(entry);
          order.push(entry);
        }
        if (inFlight.size === 0) return;
        const [done, value] = ordered
          ? await order[0].promise
          : await Promise.race([...inFlight].map((e) => e.promise));
        inFlight.delete(done);
        order.splice(order.indexOf(done), 1);
        yield value;
      }
    } finally {
      if (inFlight.size > 0) {
        controller.abort(new CancelledError("The map was left early"));
        await Promise.allSettled([...inFlight].map((e) => e.promise));
      }
      if (!exhausted) await iterator.return?.();
    }
  }

  #submit(
    name: string | [string],
    label: string,
    args: unknown,
    options: WorkerRunOptions | undefined,
  ): Promise<unknown> {
    if (!Array.isArray(args)) {
      return Promise.reject(
        new TypeError(
          `Cannot run '${label}' in a worker: 'args' must be an array, got ${typeof args}`,
        ),
      );
    }
    const transfer = options?.transfer;
    if (transfer !== undefined && !Array.isArray(transfer)) {
      return Promise.reject(
        new TypeError(
          `Cannot run '${label}' in a worker: 'transfer' must be an array, got ${typeof transfer}`,
        ),
      );
    }
    if (this.#closing) {
      return Promise.reject(
        new Error(
          `Cannot run '${label}': the worker pool ${this.#label} is closed`,
        ),
      );
    }
    if (this.#refusal !== undefined) return Promise.reject(this.#refusal);
    if (this.#queued >= this.#maxQueue) {
      return Promise.reject(
        new WorkerQueueFull(
          `Cannot run '${label}': the queue of worker pool ${this.#label} is full (${this.#maxQueue} tasks waiting); wait for some to finish, raise maxQueue, or use map()`,
        ),
      );
    }
    const job = new Job(
      this as WorkerPool<unknown>,
      this.#nextId++,
      name,
      args,
      transfer,
      label,
    );
    const promise = job.wait(options);
    if (!job.pending) return promise; // already cancelled
    job.cancellable = options?.signal !== undefined ||
      currentScope() !== undefined;
    this.#queue.push(job);
    this.#queued++;
    if (this.#queued === 1 && this.#idle.length > 0) {
      // An idle worker: send at once (the one-at-a-time path).
      this.#dispatch(this.#idle.pop()!);
    } else if (!this.#pumpScheduled && this.#slots.size < this.#size) {
      // Tasks submitted together go out together: one batch, not one each.
      this.#schedulePump();
    }
    return promise;
  }

  #schedulePump(): void {
    this.#pumpScheduled = true;
    queueMicrotask(() => this.#pump());
  }

  #pump(): void {
    this.#pumpScheduled = false;
    while (this.#queued > 0) {
      let slot = this.#idle.pop();
      if (slot === undefined) {
        if (this.#slots.size >= this.#size || this.#refusal) break;
        slot = this.#spawn();
        if (slot === undefined) break;
      }
      this.#dispatch(slot);
    }
    if (this.#queued === 0 && this.#running === 0) this.#drained?.();
  }

  #shift(): Job | undefined {
    const queue = this.#queue;
    while (this.#queueHead < queue.length) {
      const job = queue[this.#queueHead];
      queue[this.#queueHead++] = undefined;
      if (job !== undefined && job.state === QUEUED) {
        if (this.#queueHead > 1024 && this.#queueHead * 2 > queue.length) {
          this.#queue = queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        this.#queued--;
        return job;
      }
    }
    return undefined;
  }

  #peek(): Job | undefined {
    const queue = this.#queue;
    for (let i = this.#queueHead; i < queue.length; i++) {
      const job = queue[i];
      if (job !== undefined && job.state === QUEUED) return job;
    }
    return undefined;
  }

  #spawn(): Slot | undefined {
    const slot: Slot = {
      transport: undefined as unknown as Transport,
      unit: undefined,
      fn: undefined,
      sentAt: 0,
      timer: undefined,
      idleSince: 0,
      alive: true,
    };
    const events = {
      message: (data: unknown) => this.#onMessage(slot, data),
      fatal: (reason: Fatal) => this.#onFatal(slot, reason),
    };
    try {
      const start = this.#isolation === "process" ? subprocess : webWorker;
      slot.transport = this.#inScope(() =>
        start(this.#transportOptions, events)
      );
    } catch (error) {
      // No worker can start (no --allow-run, say): refuse what waits.
      let job: Job | undefined;
      while ((job = this.#shift()) !== undefined) {
        job.state = DONE;
        job.reject(
          new WorkerError(
            `Cannot run '${job.label}': a worker of ${this.#label} could not start: ${
              (error as Error)?.message ?? error
            }`,
            { cause: error },
          ),
        );
      }
      return undefined;
    }
    this.#slots.add(slot);
    return slot;
  }

  #dispatch(slot: Slot): void {
    const first = this.#shift()!;
    const batch: Job[] = [first];
    if (!first.cancellable) {
      // Enough tasks to fill about a millisecond of the worker's time (so
      // the per-message cost vanishes for tiny tasks, and long tasks still
      // spread over every worker), and no more than this worker's share.
      const limit = Math.min(
        this.#taskMs > 0 ? Math.max(1, Math.floor(1 / this.#taskMs)) : 8,
        MAX_BATCH,
        Math.ceil((this.#queued + 1) / this.#size),
      );
      while (batch.length < limit) {
        const next = this.#peek();
        if (next === undefined || next.cancellable) break;
        batch.push(this.#shift()!);
      }
    }
    const transport = slot.transport;
    const tag = this.#tag;
    slot.sentAt = performance.now();
    if (batch.length === 1) {
      try {
        if (slot.fn !== first.key) {
          transport.send({ [tag]: "fn", name: first.name }, []);
          slot.fn = first.key;
        }
        const args = first.args;
        transport.send(
          // (undefined alone would arrive as null)
          args.length === 1 && args[0] !== undefined
            ? args[0]
            : { [tag]: "call", args },
          first.transfer ?? [],
        );
      } catch (error) {
        this.#refuse(first, error);
        this.#idle.push(slot);
        return;
      }
      this.#start(slot, first);
      slot.unit = first;
      return;
    }
    const tasks: unknown[] = [];
    let transfer: Transferable[] = [];
    for (const job of batch) {
      tasks.push(job.name, job.args);
      if (job.transfer !== undefined) transfer = transfer.concat(job.transfer);
    }
    try {
      transport.send({ [tag]: "batch", tasks }, transfer);
    } catch {
      // A value did not clone: find which, refuse those, send the rest.
      const ok: Job[] = [];
      for (const job of batch) {
        try {
          structuredClone(job.args);
          ok.push(job);
        } catch (error) {
          this.#refuse(job, error);
        }
      }
      batch.length = 0;
      batch.push(...ok);
      if (batch.length === 0) {
        this.#idle.push(slot);
        return;
      }
      const rest: unknown[] = [];
      for (const job of batch) rest.push(job.name, job.args);
      try {
        transport.send({ [tag]: "batch", tasks: rest }, transfer);
      } catch (error) {
        for (const job of batch) this.#refuse(job, error);
        this.#idle.push(slot);
        return;
      }
    }
    for (const job of batch) this.#start(slot, job);
    slot.unit = batch;
  }

  #start(slot: Slot, job: Job): void {
    job.state = RUNNING;
    job.slot = slot;
    this.#running++;
  }

  #refuse(job: Job, error: unknown): void {
    job.state = DONE;
    job.reject(
      new TypeError(
        `Cannot run '${job.label}' in a worker: its arguments cannot be structured-cloned (${
          (error as Error)?.message ?? error
        })`,
        { cause: error },
      ),
    );
  }

  #finish(job: Job): void {
    job.state = DONE;
    job.slot = undefined;
    this.#running--;
  }

  #onMessage(slot: Slot, data: unknown): void {
    if (!slot.alive) return;
    if (typeof data === "object" && data !== null) {
      const kind = (data as Record<string, unknown>)[this.#tag];
      if (kind === "fatal") return this.#onFatal(slot, data as Fatal);
      if (kind === "undefined") {
        const job = slot.unit as Job;
        this.#finish(job);
        job.resolve(undefined);
        return this.#done(slot, 1);
      }
      if (kind === "threw") {
        const job = slot.unit as Job;
        this.#finish(job);
        job.reject(
          deserializeError(
            (data as { error: SerializedError }).error,
            this.#classes,
          ),
        );
        return this.#done(slot, 1);
      }
    }
    const unit = slot.unit;
    if (unit === undefined) return; // cannot happen
    if (!Array.isArray(unit)) {
      this.#finish(unit);
      unit.resolve(data);
      return this.#done(slot, 1);
    }
    const results = data as unknown[];
    for (let i = 0; i < unit.length; i++) {
      const job = unit[i];
      if (job.state !== RUNNING) continue;
      this.#finish(job);
      if (results[2 * i] === OK) job.resolve(results[2 * i + 1]);
      else {
        job.reject(
          deserializeError(
            results[2 * i + 1] as SerializedError,
            this.#classes,
          ),
        );
      }
    }
    this.#done(slot, unit.length);
  }

  // The slot's unit is done: learn how long a task takes, go on.
  #done(slot: Slot, tasks: number): void {
    slot.unit = undefined;
    const ms = (performance.now() - slot.sentAt) / tasks;
    this.#taskMs = this.#taskMs === 0 ? ms : 0.8 * this.#taskMs + 0.2 * ms;
    this.#idle.push(slot);
    if (this.#queued > 0) this.#pump();
    else {
      slot.idleSince = performance.now();
      if (slot.timer === undefined) this.#armIdle(slot, this.#idleTimeout);
      if (this.#running === 0) this.#drained?.();
    }
  }

  // One timer per idle period, not one per task: when it fires early (the
  // worker worked meanwhile), it is set again for the rest of the timeout.
  #armIdle(slot: Slot, ms: number): void {
    if (this.#idleTimeout === Infinity || this.#closing) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!slot.alive || slot.unit !== undefined) return;
      const left = slot.idleSince + this.#idleTimeout - performance.now();
      if (left > 1) return this.#armIdle(slot, left);
      this.#retire(slot, slot.transport.close());
    }, ms);
  }

  // Forgets a worker; `stopping` is its end, which close() waits for.
  #retire(slot: Slot, stopping: Promise<void>): Promise<void> {
    slot.alive = false;
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    this.#slots.delete(slot);
    const i = this.#idle.indexOf(slot);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#stopping.add(stopping);
    stopping.finally(() => this.#stopping.delete(stopping));
    return stopping;
  }

  // Rejects what a lost worker had and forgets it.
  #fail(slot: Slot, error: (job: Job) => unknown): void {
    const unit = slot.unit;
    slot.unit = undefined;
    if (unit === undefined) return;
    for (const job of Array.isArray(unit) ? unit : [unit]) {
      if (job.state !== RUNNING) continue; // the one being cancelled
      this.#finish(job);
      job.reject(error(job));
    }
  }

  #onFatal(slot: Slot, reason: Fatal): void {
    if (!slot.alive) return;
    this.#retire(slot, slot.transport.kill());
    const cause = reason.error === undefined
      ? undefined
      : deserializeError(reason.error, this.#classes);
    const detail = cause instanceof Error
      ? `${cause.name}: ${cause.message}`
      : String(cause);
    this.#fail(slot, (job) => {
      let message: string;
      if (reason.fatal === "load") {
        message = `Cannot run '${job.label}': the worker module ${
          this.#module ?? ""
        } failed to load: ${detail}`;
      } else if (reason.fatal === "exit") {
        message =
          `Cannot finish '${job.label}': the worker of ${this.#label} exited${
            reason.signal
              ? ` (killed by ${reason.signal})`
              : ` with code ${reason.code ?? 0}`
          } before the task was done (Deno.exit() in a worker?)`;
      } else {
        message =
          `Cannot finish '${job.label}': the worker of ${this.#label} crashed with an uncaught ${detail}`;
      }
      return new WorkerError(
        message,
        cause === undefined ? undefined : { cause },
      );
    });
    if (this.#queued > 0) this.#pump();
    else if (this.#running === 0) this.#drained?.();
  }

  /** @ignore Cancels one task: the seam of deferred cancellation. */
  [withdraw](job: Job): void | Promise<void> {
    if (job.state === QUEUED) {
      job.state = DONE;
      this.#queued--;
      return;
    }
    const slot = job.slot;
    if (job.state !== RUNNING || slot === undefined) return;
    // A cancellable task runs alone on its worker: stop that worker, and
    // let the wait reject once it has stopped (Waiter's deferred
    // cancellation). A fresh worker takes over the queue.
    job.state = DONE;
    job.slot = undefined;
    this.#running--;
    const stopped = this.#retire(slot, slot.transport.kill());
    this.#fail(slot, (other) =>
      new WorkerError(
        `Cannot finish '${other.label}': its worker was stopped to cancel '${job.label}'`,
      ));
    if (this.#queued > 0 && !this.#pumpScheduled) this.#schedulePump();
    if (this.#queued === 0 && this.#running === 0) this.#drained?.();
    return stopped;
  }

  /**
   * Stops taking tasks, waits for the queued and running ones to finish,
   * then stops every worker. Idempotent.
   *
   * @returns A promise that resolves once every worker has stopped.
   */
  close(): Promise<void> {
    return this.#closed ??= this.#close(false);
  }

  async #close(now: boolean): Promise<void> {
    this.#closing = true;
    if (!now && (this.#queued > 0 || this.#running > 0)) {
      await new Promise<void>((resolve) => this.#drained = resolve);
    }
    this.#drained = undefined;
    for (const slot of [...this.#slots]) {
      this.#retire(slot, now ? slot.transport.kill() : slot.transport.close());
    }
    while (this.#stopping.size > 0) await Promise.all([...this.#stopping]);
    this.#end();
    this.#scope.cancel();
    resourceClosed(this);
  }

  /**
   * Stops every worker now (terminated, or killed for process workers):
   * queued and running tasks reject with {@linkcode CancelledError}. Waits
   * until every worker has stopped.
   *
   * @returns A promise that resolves once every worker has stopped.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closing = true;
    const error = new CancelledError(
      `The worker pool ${this.#label} was disposed`,
    );
    let job: Job | undefined;
    while ((job = this.#shift()) !== undefined) {
      job.state = DONE;
      job.reject(error);
    }
    for (const slot of [...this.#slots]) {
      this.#retire(slot, slot.transport.kill());
      this.#fail(slot, () => error);
    }
    this.#drained?.();
    await (this.#closed ??= this.#close(true));
    while (this.#stopping.size > 0) await Promise.all([...this.#stopping]);
  }
}
