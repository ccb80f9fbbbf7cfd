// The worker protocol, shared by the host (worker_pool.ts) and both worker
// entries (_worker_entry.ts, _worker_process.ts): message shapes, error
// (de)serialisation and the task runner. Pure: no Deno API, no I/O — each
// side hands in its own `post`.
//
// Messages are as small as they can be, because a message costs more than
// a tiny task (structured clone of an array or object costs ~10 µs more
// than of a number in Deno): a worker runs what it is sent in order, so
// results need no ids; a control message is an object with the pool's `tag`
// (a random key no user value has) as a key.
//
// Host → worker: an `Init`; then, for each task sent alone, its one argument
//   as is (the function is the one last selected with { [tag]: "fn", name },
//   sent only when it changes), or { [tag]: "call", args } for another
//   number of arguments (or an undefined one); several queued tasks go as one
//   { [tag]: "batch", tasks: [name, args, name, args, …] }.
// Worker → host: a task's result as is ({ [tag]: "undefined" } for
//   undefined, which postMessage turns into null); { [tag]: "threw", error } when it
//   threw; for a batch, one array [status, value, status, value, …];
//   { [tag]: "fatal", … } when the worker cannot go on (its module failed to
//   load, an uncaught error, `Deno.exit()`).

/** The first message a worker gets: which module to serve. */
export interface Init {
  /** The module's URL, or `null` in function mode (names are sources). */
  module: string | null;
  /** The key that marks control messages. */
  tag: string;
  /** The module's exports, when the entry imported it already. */
  exports?: Record<string, unknown>;
}

/** Why a worker stops. */
export interface Fatal {
  fatal: "load" | "uncaught" | "exit";
  error?: SerializedError;
  code?: number;
  signal?: string;
}

/** Result statuses in a result batch. */
export const OK = 0;
/** The task threw; the value is a {@linkcode SerializedError}. */
export const THREW = 1;

/** An error as it crosses the worker boundary (structured-clonable). */
export interface SerializedError {
  /** Set for a thrown value that is not an Error: the value itself. */
  value?: unknown;
  nonError?: true;
  name: string;
  message: string;
  stack?: string;
  hasCause?: true;
  cause?: unknown;
  errors?: unknown[];
  /** Other own enumerable properties (`code`, `status`, …) that clone. */
  props?: Record<string, unknown>;
}

// The mark the worker looks for (a registered symbol: the user's module and
// the runner may hold two copies of this file).
const TRANSFER = Symbol.for("aio.worker.transfer");

/**
 * A worker function's return value with the buffers to move to the caller
 * instead of copying; made by {@linkcode transfer}.
 *
 * @typeParam T The value.
 */
export class Transfer<T> {
  /** The value to return. */
  readonly value: T;
  /** The `ArrayBuffer`s (or other transferables) in `value` to move. */
  readonly transfer: Transferable[];

  /**
   * Wraps a value; prefer {@linkcode transfer}.
   *
   * @param value The value to return.
   * @param buffers The transferables in it to move.
   */
  constructor(value: T, buffers: Transferable[]) {
    this.value = value;
    this.transfer = buffers;
    Object.defineProperty(this, TRANSFER, { value: true });
  }
}

/**
 * Marks a worker function's return value so that `buffers` are moved to the
 * caller instead of copied — the worker side of the `transfer` option.
 *
 * @example Return a large buffer without a copy
 * ```ts
 * import { transfer } from "@aio/std/async/to-worker";
 * import assert from "node:assert/strict";
 *
 * export function makeBuffer(size: number) {
 *   const bytes = new Uint8Array(size);
 *   return transfer(bytes, [bytes.buffer]);
 * }
 * assert.equal(makeBuffer(8).value.length, 8);
 * ```
 *
 * @typeParam T The value.
 * @param value What to return.
 * @param buffers The `ArrayBuffer`s (or other transferables) in `value` to move.
 * @returns A wrapper the worker unwraps before sending.
 */
export function transfer<T>(value: T, buffers: Transferable[]): Transfer<T> {
  if (!Array.isArray(buffers)) {
    throw new TypeError(
      `Cannot transfer: 'buffers' must be an array, got ${typeof buffers}`,
    );
  }
  return new Transfer(value, buffers);
}

function isTransfer(value: unknown): value is Transfer<unknown> {
  return typeof value === "object" && value !== null &&
    (value as Record<symbol, unknown>)[TRANSFER] === true;
}

function cloneable(value: unknown): boolean {
  try {
    structuredClone(value);
    return true;
  } catch {
    return false;
  }
}

/** Turns anything thrown into something that crosses the boundary. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  if (!(error instanceof Error)) {
    let value = error;
    if (!cloneable(value)) value = String(value);
    return { nonError: true, value, name: "", message: String(value) };
  }
  const out: SerializedError = {
    name: String(error.name),
    message: String(error.message),
    stack: typeof error.stack === "string" ? error.stack : undefined,
  };
  if ("cause" in error) {
    out.hasCause = true;
    out.cause = depth < 8 ? wrapValue(error.cause, depth) : String(error.cause);
  }
  if (error instanceof AggregateError && Array.isArray(error.errors)) {
    out.errors = error.errors.map((e) => wrapValue(e, depth));
  }
  for (const key of Object.keys(error)) {
    if (key === "cause" || key === "errors" || key === "name") continue;
    if (key === "message" || key === "stack") continue;
    const prop = (error as unknown as Record<string, unknown>)[key];
    if (!cloneable(prop)) continue;
    (out.props ??= {})[key] = prop;
  }
  return out;
}

// A cause or an aggregated error: an Error is serialised (marked), anything
// else is kept when it clones.
function wrapValue(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    return { [ERROR_KEY]: serializeError(value, depth + 1) };
  }
  return cloneable(value) ? value : String(value);
}
const ERROR_KEY = "__aioSerializedError";

function unwrapValue(value: unknown, classes: ErrorClasses): unknown {
  if (
    typeof value === "object" && value !== null && ERROR_KEY in value
  ) {
    return deserializeError(
      (value as Record<string, SerializedError>)[ERROR_KEY],
      classes,
    );
  }
  return value;
}

/** Error classes known by name, for rebuilding errors as their class. */
export type ErrorClasses = ReadonlyMap<
  string,
  abstract new (...args: never[]) => Error
>;

const builtins: [string, abstract new (...args: never[]) => Error][] = [
  ["Error", Error],
  ["TypeError", TypeError],
  ["RangeError", RangeError],
  ["ReferenceError", ReferenceError],
  ["SyntaxError", SyntaxError],
  ["EvalError", EvalError],
  ["URIError", URIError],
  ["AggregateError", AggregateError],
];

/** The error classes every pool knows, plus `extra` (by their `name`). */
export function errorClasses(
  extra: Iterable<abstract new (...args: never[]) => Error> = [],
): ErrorClasses {
  const map = new Map(builtins);
  for (const cls of extra) map.set(cls.name, cls);
  return map;
}

/**
 * Rebuilds an error from the worker: as the class of that name when the
 * caller knows one (without calling its constructor, whose parameters we do
 * not know), else as an `Error` with the worker's `name`. A thrown non-Error
 * value comes back as that value.
 */
export function deserializeError(
  data: SerializedError,
  classes: ErrorClasses,
): unknown {
  if (data.nonError) return data.value;
  const cls = classes.get(data.name) ?? Error;
  const error = Object.create(cls.prototype) as Error;
  define(error, "message", data.message);
  if (data.stack !== undefined) define(error, "stack", data.stack);
  if (error.name !== data.name) define(error, "name", data.name);
  if (data.hasCause) define(error, "cause", unwrapValue(data.cause, classes));
  if (data.errors) {
    define(error, "errors", data.errors.map((e) => unwrapValue(e, classes)));
  }
  if (data.props) Object.assign(error, data.props);
  return error;
}

function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/** What a worker entry hands the runner to talk to its host. */
export type Post = (message: unknown, transfer: Transferable[]) => void;

type Fn = (...args: unknown[]) => unknown;
type Lookup = (name: string) => Fn;

/** The runner of one worker: feed it messages; report fatal ends through it. */
export interface Runner {
  /** Handles one message from the host (the `Init` first). */
  handle(message: unknown): void;
  /** Tells the host this worker cannot go on. */
  fatal(reason: Fatal): void;
}

/**
 * The worker side: runs the host's messages in order, one task at a time
 * (like calls on one thread; a batch of synchronous tasks runs without an
 * await), and posts each result.
 */
export function createRunner(
  post: Post,
  importer?: () => Promise<Record<string, unknown>>,
): Runner {
  let tag: string | undefined;
  let lookup: Lookup | undefined;
  let current: unknown = undefined; // the "fn" last selected
  const pending: unknown[] = [];
  let busy = false;
  const fatal = (reason: Fatal) => {
    post({ [tag ?? ""]: "fatal", ...reason }, []);
  };
  const threw = (error: unknown) => {
    post({ [tag!]: "threw", error: serializeError(error) }, []);
  };
  const resolve = (name: unknown): Fn =>
    typeof name === "string" ? lookup!(name) : compile((name as string[])[0]);
  const single = (args: unknown[]): Promise<void> | undefined => {
    let value: unknown;
    try {
      value = resolve(current)(...args);
    } catch (error) {
      threw(error);
      return;
    }
    if (isThenable(value)) {
      return Promise.resolve(value).then((v) => sendOne(v), threw);
    }
    sendOne(value);
  };
  const sendOne = (original: unknown) => {
    let value = original;
    try {
      if (isTransfer(value)) value = value.value;
      // postMessage(undefined) arrives as null in Deno: say it.
      if (value === undefined) post({ [tag!]: "undefined" }, []);
      else {
        post(value, isTransfer(original) ? original.transfer : []);
      }
    } catch (error) {
      threw(uncloneable(error));
    }
  };
  const run = (message: unknown): Promise<void> | undefined => {
    if (typeof message === "object" && message !== null) {
      const kind = (message as Record<string, unknown>)[tag!];
      if (kind === "fn") {
        current = (message as { name: unknown }).name;
        return;
      }
      if (kind === "call") return single((message as { args: unknown[] }).args);
      if (kind === "batch") {
        return runBatch(resolve, (message as { tasks: unknown[] }).tasks, post);
      }
    }
    return single([message]);
  };
  const drain = (): void => {
    while (!busy && lookup !== undefined && pending.length > 0) {
      const running = run(pending.shift());
      if (running !== undefined) {
        busy = true;
        running.then(() => {
          busy = false;
          drain();
        });
      }
    }
  };
  return {
    fatal,
    handle(message) {
      if (tag === undefined) {
        const init = message as Init;
        tag = init.tag;
        const loaded = load(init, fatal, importer);
        if (typeof loaded === "function") lookup = loaded;
        else {
          loaded.then((fn) => {
            lookup = fn;
            drain();
          });
        }
        return;
      }
      pending.push(message);
      drain();
    },
  };
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === "object" && value !== null &&
    typeof (value as PromiseLike<unknown>).then === "function";
}

function uncloneable(error: unknown): TypeError {
  return new TypeError(
    `Cannot return a worker task's result: it cannot be structured-cloned (${
      (error as Error)?.message ?? error
    })`,
  );
}

function load(
  init: Init,
  fatal: (reason: Fatal) => void,
  importer: (() => Promise<Record<string, unknown>>) | undefined,
): Lookup | Promise<Lookup> {
  const { module, exports } = init;
  if (exports !== undefined) return exported(exports, module);
  if (module === null) {
    return (name) => {
      throw new TypeError(
        `Cannot run '${name}' in a worker: the pool has no module; use exec(fn, args)`,
      );
    };
  }
  return (importer ? importer() : import(module)).then(
    (mod: Record<string, unknown>) => exported(mod, module),
    (error) => {
      fatal({ fatal: "load", error: serializeError(error) });
      // Never settles: the host terminates this worker.
      return new Promise<Lookup>(() => {});
    },
  );
}

function exported(mod: Record<string, unknown>, module: string | null): Lookup {
  return (name: string) => {
    const fn = mod[name];
    if (typeof fn !== "function") {
      const names = Object.keys(mod).filter((k) =>
        typeof mod[k] === "function"
      );
      throw new TypeError(
        `Cannot run '${name}' in a worker: ${
          module ?? "the worker module"
        } has no exported function of that name (it exports ${
          names.length ? names.map((n) => `'${n}'`).join(", ") : "none"
        })`,
      );
    }
    return fn as Fn;
  };
}

// exec(): a task's name is [source], compiled once.
const compiled = new Map<string, Fn>();
function compile(source: string): Fn {
  let fn = compiled.get(source);
  if (fn === undefined) {
    fn = new Function(`return (${source}\n);`)() as Fn;
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot run a function in a worker: its source is not a function expression, got ${typeof fn}`,
      );
    }
    if (compiled.size >= 256) compiled.clear();
    compiled.set(source, fn);
  }
  return fn;
}

// A batch: tasks [name, args, …] in, results [status, value, …] out, in one
// message each way.
function runBatch(
  resolve: (name: unknown) => Fn,
  tasks: unknown[],
  post: Post,
): Promise<void> | undefined {
  const out: unknown[] = [];
  const transfer: Transferable[] = [];
  let i = 0;
  const step = (): Promise<void> | undefined => {
    for (; i < tasks.length; i += 2) {
      let value: unknown;
      try {
        value = resolve(tasks[i])(...(tasks[i + 1] as unknown[]));
      } catch (error) {
        out.push(THREW, serializeError(error));
        continue;
      }
      if (isThenable(value)) {
        // An async task: finish it, then go on with the rest of the batch.
        i += 2;
        return Promise.resolve(value).then(
          (v) => {
            push(out, transfer, v);
            return step();
          },
          (error) => {
            out.push(THREW, serializeError(error));
            return step();
          },
        );
      }
      push(out, transfer, value);
    }
    send(out, transfer, post);
    return undefined;
  };
  return step();
}

function push(out: unknown[], transfer: Transferable[], value: unknown): void {
  if (isTransfer(value)) {
    for (const t of value.transfer) transfer.push(t);
    value = value.value;
  }
  out.push(OK, value);
}

function send(out: unknown[], transfer: Transferable[], post: Post): void {
  try {
    post(out, transfer);
    return;
  } catch {
    // Some result does not clone: only its task fails.
  }
  for (let i = 0; i < out.length; i += 2) {
    try {
      structuredClone(out[i + 1]);
    } catch (error) {
      out[i] = THREW;
      out[i + 1] = serializeError(uncloneable(error));
    }
  }
  try {
    post(out, transfer);
  } catch {
    post(out, []); // a transfer list that did not match: copy instead
  }
}

/** A frame of the process transport: a 4-byte little-endian length, then `body`. */
export function encodeFrame(body: Uint8Array): Uint8Array {
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, true);
  frame.set(body, 4);
  return frame;
}

/** Splits a byte stream into the bodies of its frames. */
export class FrameDecoder {
  #buffer: Uint8Array = new Uint8Array(0);

  /** Adds bytes; returns the frame bodies now complete. */
  push(chunk: Uint8Array): Uint8Array[] {
    let buffer = this.#buffer;
    if (buffer.length === 0) buffer = chunk;
    else {
      const joined = new Uint8Array(buffer.length + chunk.length);
      joined.set(buffer);
      joined.set(chunk, buffer.length);
      buffer = joined;
    }
    const bodies: Uint8Array[] = [];
    let offset = 0;
    while (buffer.length - offset >= 4) {
      const size = new DataView(buffer.buffer, buffer.byteOffset + offset)
        .getUint32(0, true);
      if (buffer.length - offset - 4 < size) break;
      bodies.push(buffer.subarray(offset + 4, offset + 4 + size));
      offset += 4 + size;
    }
    this.#buffer = buffer.subarray(offset);
    return bodies;
  }
}
