/**
 * aio's debug mode — asyncio's debug mode (`asyncio.run(main(),
 * debug=True)`, `PYTHONASYNCIODEBUG=1`), for the seed's pitfalls at run time:
 *
 * - {@linkcode monitorEventLoop}: stretches where the event loop was blocked
 *   longer than a threshold ("Executing <Task …> took 1.2 seconds").
 * - Unclosed resources: a `ClientSession`, `Connection`, `Pool`,
 *   `WorkerPool`, `TaskSet` or file collected without being closed is
 *   reported with the stack where it was made.
 * - Tasks still pending when `run()`'s main returns are reported by name and
 *   creation site, then cancelled; unhandled rejections inside `run()` are
 *   reported with the task they came from.
 * - {@linkcode taskStats}: per task name, count, done / failed / cancelled,
 *   total and max duration, and the longest event-loop blocks — printed at
 *   the end of `run(main, { debug: true })`.
 *
 * Turn it on with `run(main, { debug: true })`, `AIO_DEBUG=1`, or
 * {@linkcode enableDebug}. Everything goes to one reporter
 * ({@linkcode setDebugReporter}); the default prints with `console.warn`
 * (stderr). Off, it costs one variable read per task spawn.
 *
 * @example Debug mode catches a task left running
 * ```ts
 * import { createTask, run, sleep } from "@aio/std/async";
 * import { type DebugReport, setDebugReporter } from "@aio/std/async/debug";
 * import assert from "node:assert/strict";
 *
 * const reports: DebugReport[] = [];
 * const previous = setDebugReporter((report) => reports.push(report));
 * try {
 *   await run(async () => {
 *     createTask(() => sleep(60_000), { name: "heartbeat" }); // forgotten
 *     await sleep(1);
 *   }, { debug: true, signals: [] });
 * } finally {
 *   setDebugReporter(previous);
 * }
 * const pending = reports.find((r) => r.kind === "pending-task");
 * assert.equal(pending?.task, "heartbeat");
 * assert.ok(reports.some((r) => r.kind === "stats"));
 * ```
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { type DebugHooks, setHooks } from "./_debug.ts";
import type { Task } from "./task.ts";

/** One thing debug mode reports. */
export interface DebugReport {
  /**
   * What it is: a blocked event loop, a resource collected unclosed, a task
   * still pending when `run()`'s main returned, an unhandled rejection, or
   * the task statistics printed at the end of a debug run.
   */
  kind:
    | "blocked"
    | "unclosed"
    | "pending-task"
    | "unhandled-rejection"
    | "stats";
  /** A line for a person, saying what happened and where. */
  message: string;
  /** The task concerned, where known. */
  task?: string;
  /** Where the task or resource was made: `file:line:column`, where known. */
  site?: string;
  /** For "blocked": how long the loop was blocked, in milliseconds. */
  duration?: number;
  /** For "blocked": when it began, as `Date.now()` time. */
  start?: number;
  /** For "unclosed": which kind of resource. */
  resource?: string;
  /** For "unhandled-rejection": the error. */
  error?: unknown;
  /** For "stats": the statistics. */
  stats?: TaskStats;
}

/** Receives every debug report. */
export type DebugReporter = (report: DebugReport) => void;

const defaultReporter: DebugReporter = (report) => {
  if (report.kind === "unhandled-rejection") {
    console.warn(report.message, report.error);
  } else {
    console.warn(report.message);
  }
};
let reporter: DebugReporter = defaultReporter;

/**
 * Sets where debug reports go; the default prints each with `console.warn`
 * (stderr). Pass `undefined` to restore the default.
 *
 * @example Capture reports in a test
 * ```ts
 * import { type DebugReport, setDebugReporter } from "@aio/std/async/debug";
 * import assert from "node:assert/strict";
 *
 * const reports: DebugReport[] = [];
 * const previous = setDebugReporter((report) => reports.push(report));
 * setDebugReporter(previous);
 * assert.deepEqual(reports, []);
 * ```
 *
 * @param next The new reporter, or `undefined` for the default.
 * @returns The reporter that was in place.
 */
export function setDebugReporter(
  next: DebugReporter | undefined,
): DebugReporter {
  if (next !== undefined && typeof next !== "function") {
    throw new TypeError(
      `Cannot set the debug reporter: it must be a function, got ${typeof next}`,
    );
  }
  const previous = reporter;
  reporter = next ?? defaultReporter;
  return previous;
}

function report(entry: DebugReport): void {
  try {
    reporter(entry);
  } catch (error) {
    console.error("aio debug: the debug reporter threw:", error);
    defaultReporter(entry);
  }
}

// The real clock and timers, taken before a FakeTime can replace them: the
// monitor measures the machine, not the test's virtual time.
const realNow: () => number = performance.now.bind(performance);
const timeOrigin = performance.timeOrigin;
const realSetInterval = globalThis.setInterval;
const realClearInterval = globalThis.clearInterval;

// --- tasks -----------------------------------------------------------------

interface TaskInfo {
  name: string;
  /** The statistics row (see {@linkcode TaskStat.name}). */
  key: string;
  /** Where the task was made (the first task made by the same code). */
  site: string | undefined;
  session: number;
  started: number | undefined;
  failed: boolean;
}

/** Statistics of the tasks of one name. */
export interface TaskStat {
  /**
   * The task name; unnamed tasks (`Task-N`) are counted by the name of
   * their function (`fetchUser`), or, for an anonymous function, by where
   * it was made: `(anonymous) at file:line:column`.
   */
  name: string;
  /** Where the first of them was made: `file:line:column`, where known. */
  site?: string;
  /** How many were made. */
  count: number;
  /** How many returned a value. */
  done: number;
  /** How many threw (cancellations not counted). */
  failed: number;
  /** How many were cancelled. */
  cancelled: number;
  /** How many are still running. */
  pending: number;
  /** Total run time of the finished ones (start to end), in milliseconds. */
  totalMs: number;
  /** The longest run time, in milliseconds. */
  maxMs: number;
}

/** A stretch where the event loop was blocked. */
export interface BlockInfo {
  /** How long, in milliseconds. */
  duration: number;
  /** When it began, as `Date.now()` time. */
  start: number;
  /** The task that was running, where known. */
  task?: string;
  /** Where that task was made, where known. */
  site?: string;
}

/** What {@linkcode taskStats} returns. */
export interface TaskStats {
  /** One row per task name, most total time first. */
  tasks: TaskStat[];
  /** The longest event-loop blocks seen, longest first (ten at most). */
  blocks: BlockInfo[];
}

// The package's root: frames in its folders are the library's own.
const ourRoot = new URL("../", import.meta.url).href;
const ourFolders = /^(?:async|sync|io|testing)\/|^mod\.ts:/;

/** The first frame of the stack outside aio's async/ folder. */
function creationSite(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  for (const line of stack.split("\n").slice(1)) {
    const match = /\(?((?:file|https?|jsr|npm|data):[^\s)]+)\)?\s*$/.exec(line);
    if (match === null) continue;
    const site = match[1];
    // The library's own frames (its tests are user code here).
    if (
      site.startsWith(ourRoot) &&
      ourFolders.test(site.slice(ourRoot.length)) && !/_test\.ts:/.test(site)
    ) continue;
    return site;
  }
  return undefined;
}

/**
 * The stack here, unformatted (formatting is what costs). Ten frames reach
 * the user's call through the hook, the Task constructor, createTask and
 * gather's helpers, whatever `Error.stackTraceLimit` the program set.
 */
function captureStack(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 10;
  const error = new Error();
  Error.stackTraceLimit = limit;
  return error;
}

// Creation sites, one per piece of code that makes tasks: a stack costs
// ~2 µs to take and ~100 µs to format, and a stack kept unformatted would
// keep its task alive (a frame's receiver is the task). So the site is
// formatted once, for the first task a function (or a name) makes, and
// shared by the later ones.
const sitesByFunction = new WeakMap<object, string | undefined>();
const sitesBySource = new Map<string, string | undefined>();

function siteFor(name: string | undefined, fn: object): string | undefined {
  if (sitesByFunction.has(fn)) return sitesByFunction.get(fn);
  // A new closure of code seen before: the same source text.
  const source = name === undefined ? String(fn) : `${name}\0${String(fn)}`;
  let site: string | undefined;
  if (sitesBySource.has(source)) site = sitesBySource.get(source);
  else {
    site = creationSite(captureStack().stack);
    sitesBySource.set(source, site);
  }
  sitesByFunction.set(fn, site);
  return site;
}

const infos = new WeakMap<Task<unknown>, TaskInfo>();
// The task the calling code belongs to, in debug mode (its own storage, so
// that the core's scopes are untouched).
const taskStorage = new AsyncLocalStorage<TaskInfo>();
const pending = new Set<Task<unknown>>();
const rows = new Map<string, TaskStat>();
const blocks: BlockInfo[] = [];
let session = 0;

/** The last long synchronous stretch of a task: who blocked the loop. */
let lastStretch: { info: TaskInfo; start: number; end: number } | undefined;
let stretchThreshold = Infinity;

function rowOf(key: string, site: string | undefined): TaskStat {
  let row = rows.get(key);
  if (row === undefined) {
    row = {
      name: key,
      ...(site === undefined ? {} : { site }),
      count: 0,
      done: 0,
      failed: 0,
      cancelled: 0,
      pending: 0,
      totalMs: 0,
      maxMs: 0,
    };
    rows.set(key, row);
  }
  return row;
}

function runWatched<T>(
  info: TaskInfo,
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  signal: AbortSignal,
): T | PromiseLike<T> {
  const start = realNow();
  info.started = start;
  let result: T | PromiseLike<T>;
  try {
    result = taskStorage.run(info, fn, signal);
  } catch (error) {
    info.failed = true;
    throw error;
  } finally {
    const end = realNow();
    if (end - start >= stretchThreshold) lastStretch = { info, start, end };
  }
  // Only a native promise: `then` on another thenable (a Task) could
  // change it (mark its error as retrieved), so an adopted thenable's
  // failure is not told from success.
  if (result instanceof Promise) {
    result.then(undefined, () => {
      info.failed = true;
    });
  }
  return result;
}

function taskDone(task: Task<unknown>): void {
  const info = infos.get(task);
  pending.delete(task);
  if (info === undefined) return;
  const row = rowOf(info.key, info.site);
  row.pending--;
  if (task.cancelled()) row.cancelled++;
  else if (info.failed) row.failed++;
  else row.done++;
  if (info.started !== undefined) {
    const ms = realNow() - info.started;
    row.totalMs += ms;
    if (ms > row.maxMs) row.maxMs = ms;
  }
}

// --- resources -------------------------------------------------------------

interface ResourceInfo {
  kind: string;
  site: string | undefined;
}

const unclosed = new FinalizationRegistry<ResourceInfo>((held) => {
  report({
    kind: "unclosed",
    message: `aio debug: unclosed ${held.kind}, made at ${
      held.site ?? "an unknown place"
    }: close it, or bind it with \`await using\``,
    resource: held.kind,
    site: held.site,
  });
});

const debugHooks: DebugHooks = {
  task<T>(
    task: Task<T>,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
  ): (signal: AbortSignal) => T | PromiseLike<T> {
    const name = task.name;
    const named = !/^Task-\d+$/.test(name);
    const site = siteFor(named ? name : undefined, fn);
    const key = named
      ? name
      : fn.name || `(anonymous) at ${site ?? "an unknown place"}`;
    const row = rowOf(key, site);
    const info: TaskInfo = {
      name,
      key,
      site,
      session,
      started: undefined,
      failed: false,
    };
    infos.set(task as Task<unknown>, info);
    pending.add(task as Task<unknown>);
    row.count++;
    row.pending++;
    task.addDoneCallback(taskDone as unknown as (task: Task<T>) => void);
    // Same arity: the core makes the task's signal only for a function that
    // declares a parameter.
    return fn.length > 0
      ? (signal: AbortSignal) => runWatched(info, fn, signal)
      : () => runWatched(info, fn, undefined as unknown as AbortSignal);
  },
  resource(resource, kind) {
    unclosed.register(resource, {
      kind,
      site: creationSite(new Error().stack),
    }, resource);
  },
  closed(resource) {
    unclosed.unregister(resource);
  },
};

let enabled = 0;

/**
 * Turns debug mode on until the returned handle is disposed (calls nest):
 * tasks are tracked for {@linkcode taskStats} and resources for the
 * unclosed report. `run(main, { debug: true })` does this for a whole
 * program; this is for tests and for code that does not use `run`.
 *
 * @example Count the tasks of a block
 * ```ts
 * import { createTask, sleep } from "@aio/std/async";
 * import { enableDebug, taskStats } from "@aio/std/async/debug";
 * import assert from "node:assert/strict";
 *
 * {
 *   using _debug = enableDebug();
 *   await createTask(() => sleep(1), { name: "nap" });
 *   const nap = taskStats().tasks.find((row) => row.name === "nap");
 *   assert.equal(nap?.count, 1);
 *   assert.equal(nap?.done, 1);
 * }
 * ```
 *
 * @returns A handle that turns debug mode off again when disposed.
 */
export function enableDebug(): Disposable {
  if (enabled++ === 0) {
    session++;
    rows.clear();
    blocks.length = 0;
    pending.clear();
    lastStretch = undefined;
    setHooks(debugHooks);
  }
  let disposed = false;
  return {
    [Symbol.dispose]() {
      if (disposed) return;
      disposed = true;
      if (--enabled === 0) setHooks(undefined);
    },
  };
}

/** Whether debug mode is on. */
export function debugEnabled(): boolean {
  return enabled > 0;
}

/**
 * The task statistics of the current debug session (since debug mode was
 * last turned on) — the seed's "profiling async code", without cProfile:
 * per task name, how many ran, how they ended, how long they took, and the
 * longest event-loop blocks. Empty while debug mode has never been on.
 *
 * @example Profile a batch of tasks
 * ```ts
 * import { gather, sleep } from "@aio/std/async";
 * import { enableDebug, taskStats } from "@aio/std/async/debug";
 * import assert from "node:assert/strict";
 *
 * using _debug = enableDebug();
 * await gather(() => sleep(2), () => sleep(1));
 * const rows = taskStats().tasks;
 * assert.equal(rows.reduce((n, row) => n + row.count, 0), 2);
 * assert.ok(rows.every((row) => row.maxMs >= 0 && row.pending === 0));
 * ```
 *
 * @returns A snapshot of the statistics.
 */
export function taskStats(): TaskStats {
  return {
    tasks: [...rows.values()].map((row) => ({ ...row }))
      .sort((a, b) => b.totalMs - a.totalMs || b.count - a.count),
    blocks: blocks.map((block) => ({ ...block })),
  };
}

function recordBlock(block: BlockInfo): void {
  if (enabled === 0) return;
  blocks.push(block);
  blocks.sort((a, b) => b.duration - a.duration);
  if (blocks.length > 10) blocks.length = 10;
}

/** The statistics as a table, for the report at the end of a debug run. */
function formatStats(stats: TaskStats): string {
  const lines = ["aio debug: task statistics"];
  const header = ["task", "count", "done", "failed", "cancelled", "total ms"];
  const table = [
    [...header, "max ms"],
    ...stats.tasks.map((row) => [
      row.name,
      String(row.count),
      String(row.done),
      String(row.failed),
      String(row.cancelled),
      row.totalMs.toFixed(1),
      row.maxMs.toFixed(1),
    ]),
  ];
  const widths = table[0].map((_, i) =>
    Math.max(...table.map((cells) => cells[i].length))
  );
  for (const cells of table) {
    lines.push(
      "  " +
        cells.map((cell, i) =>
          i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])
        ).join("  "),
    );
  }
  if (stats.blocks.length === 0) {
    lines.push("  no event-loop block over the threshold");
  } else {
    lines.push("  longest event-loop blocks:");
    for (const block of stats.blocks) lines.push(`    ${describeBlock(block)}`);
  }
  return lines.join("\n");
}

function describeBlock(block: BlockInfo): string {
  const at = new Date(block.start).toISOString();
  const who = block.task === undefined
    ? "no task known (code after an await, a callback or the main script)"
    : `task '${block.task}'${
      block.site === undefined ? "" : ` (made at ${block.site})`
    }`;
  return `${block.duration.toFixed(0)} ms at ${at}, in ${who}`;
}

// --- the event-loop monitor ------------------------------------------------

/** Options for {@linkcode monitorEventLoop}. */
export interface MonitorOptions {
  /** Report stretches longer than this, in milliseconds; 100 by default. */
  threshold?: number;
  /**
   * Called for each block; without it, blocks go to the debug reporter
   * ({@linkcode setDebugReporter}).
   */
  onBlock?: (block: BlockInfo) => void;
}

/**
 * Watches the event loop and reports every stretch where it was blocked
 * longer than `threshold` ms — asyncio debug mode's "Executing <Task …>
 * took 1.2 seconds": how long, when, and (in debug mode, when the block was
 * in a task's first synchronous stretch) which task was running and where
 * it was made. Its cost is one unref'd interval timer, firing every
 * `threshold / 4` ms (5 to 250), that compares the clock with when it was
 * due; a block is measured to within that period. Stop it by disposing it.
 *
 * @example Catch a blocking loop
 * ```ts
 * import { monitorEventLoop, type BlockInfo } from "@aio/std/async/debug";
 * import { sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const blocks: BlockInfo[] = [];
 * {
 *   using _monitor = monitorEventLoop({
 *     threshold: 50,
 *     onBlock: (block) => blocks.push(block),
 *   });
 *   await sleep(20); // let the monitor tick once
 *   const end = Date.now() + 200;
 *   while (Date.now() < end) {} // blocks every task for 200 ms
 *   await sleep(40); // the monitor notices when the loop is free again
 * }
 * assert.ok(blocks.some((block) => block.duration >= 150));
 * ```
 *
 * @param options The threshold and where blocks go.
 * @returns The monitor; dispose it to stop.
 */
export function monitorEventLoop(options?: MonitorOptions): Disposable {
  const threshold = options?.threshold ?? 100;
  if (!(threshold > 0) || !Number.isFinite(threshold)) {
    throw new RangeError(
      `Cannot monitor the event loop: 'threshold' must be a finite number > 0, got ${threshold}`,
    );
  }
  const onBlock = options?.onBlock;
  if (onBlock !== undefined && typeof onBlock !== "function") {
    throw new TypeError(
      `Cannot monitor the event loop: 'onBlock' must be a function, got ${typeof onBlock}`,
    );
  }
  const period = Math.min(250, Math.max(5, threshold / 4));
  const previousThreshold = stretchThreshold;
  stretchThreshold = Math.min(stretchThreshold, threshold);
  let last = realNow();
  const tick = () => {
    const now = realNow();
    const gap = now - last;
    last = now;
    // The loop was blocked for the gap less one period, give or take half.
    const duration = gap - period / 2;
    if (duration <= threshold) return;
    const block: BlockInfo = {
      duration,
      start: timeOrigin + now - gap + period / 2,
    };
    const stretch = lastStretch;
    if (stretch !== undefined && stretch.end > now - gap) {
      // A task's synchronous stretch ran inside the gap: it is the culprit,
      // and its measure is exact.
      block.duration = stretch.end - stretch.start;
      block.start = timeOrigin + stretch.start;
      block.task = stretch.info.name;
      block.site = stretch.info.site;
      lastStretch = undefined;
    }
    recordBlock(block);
    if (onBlock !== undefined) {
      try {
        onBlock(block);
      } catch (error) {
        console.error("aio debug: onBlock threw:", error);
      }
    } else {
      report({
        kind: "blocked",
        message: `aio debug: the event loop was blocked for ${
          describeBlock(block)
        }: use the async API, or move the work off the loop with toWorker()`,
        duration: block.duration,
        start: block.start,
        task: block.task,
        site: block.site,
      });
    }
  };
  const id = realSetInterval(tick, period);
  unref(id);
  let stopped = false;
  return {
    [Symbol.dispose]() {
      if (stopped) return;
      stopped = true;
      realClearInterval(id);
      stretchThreshold = previousThreshold;
    },
  };
}

function unref(id: unknown): void {
  if (typeof id === "number") {
    (globalThis as { Deno?: { unrefTimer?(id: number): void } }).Deno
      ?.unrefTimer?.(id);
  } else {
    (id as { unref?(): void }).unref?.();
  }
}

// --- run()'s debug session -------------------------------------------------

/** @ignore What `run()` holds while its main runs in debug mode. */
export interface DebugSession {
  /** Reports and cancels the tasks left, prints the statistics, ends. */
  end(): Promise<void>;
}

function envDebug(): boolean {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  try {
    if (
      deno?.permissions.querySync({ name: "env", variable: "AIO_DEBUG" })
        .state !== "granted"
    ) return false;
    const value = deno.env.get("AIO_DEBUG");
    return value !== undefined && value !== "" && value !== "0" &&
      value.toLowerCase() !== "false";
  } catch {
    return false;
  }
}

/**
 * @ignore For `run()`: starts a debug session when `debug` is true, or is
 * undefined and `AIO_DEBUG=1` is set (and readable); `undefined` otherwise.
 */
export function debugSession(
  debug: boolean | undefined,
): DebugSession | undefined {
  if (debug === false || (debug === undefined && !envDebug())) return undefined;
  const handle = enableDebug();
  const mine = session;
  const monitor = monitorEventLoop();
  const onRejection = (event: PromiseRejectionEvent) => {
    // The listener runs in the context of the code that rejected, so the
    // task storage names the task.
    const info = taskStorage.getStore();
    const site = info?.site;
    report({
      kind: "unhandled-rejection",
      message: `aio debug: unhandled rejection${
        info === undefined
          ? ""
          : ` in task '${info.name}'${
            site === undefined ? "" : ` (made at ${site})`
          }`
      }: await the promise, or give it a .catch()`,
      error: event.reason,
      task: info?.name,
      site,
    });
  };
  const events = globalThis as unknown as {
    addEventListener?(type: string, listener: (event: never) => void): void;
    removeEventListener?(type: string, listener: (event: never) => void): void;
  };
  events.addEventListener?.("unhandledrejection", onRejection);
  return {
    async end() {
      try {
        const left = [...pending].filter((task) =>
          infos.get(task)?.session === mine && !task.done()
        );
        for (const task of left) {
          const info = infos.get(task)!;
          const site = info.site;
          report({
            kind: "pending-task",
            message: `aio debug: task '${info.name}'${
              site === undefined ? "" : ` (made at ${site})`
            } was still pending when run()'s main returned; cancelling it: await it, or start it in a TaskGroup`,
            task: info.name,
            site,
          });
          task.cancel("run() ended");
        }
        // asyncio.run's rule: wait for the cancelled tasks to finish.
        await Promise.all(
          left.map((task) =>
            new Promise<void>((resolve) =>
              task.addDoneCallback(() => resolve())
            )
          ),
        );
        const stats = taskStats();
        report({ kind: "stats", message: formatStats(stats), stats });
      } finally {
        monitor[Symbol.dispose]();
        events.removeEventListener?.("unhandledrejection", onRejection);
        handle[Symbol.dispose]();
      }
    },
  };
}
