// The debug mode's seams into the core, private to aio: one module variable
// that the core reads (undefined while debug mode is off, so the cost of an
// unused debug mode is that one read), and the registration of resources
// that owners (ClientSession, Connection, Pool, WorkerPool, TaskSet,
// AsyncFile) call from their constructors and close methods.
import type { Task } from "./task.ts";

/** What debug mode does at the core's seams (installed by debug.ts). */
export interface DebugHooks {
  /**
   * A task is being made: returns the function it will run, `fn` itself or
   * a wrapper of the same arity that watches it.
   */
  task<T>(
    task: Task<T>,
    fn: (signal: AbortSignal) => T | PromiseLike<T>,
  ): (signal: AbortSignal) => T | PromiseLike<T>;
  /** A resource was made. */
  resource(resource: object, kind: string): void;
  /** A resource was closed. */
  closed(resource: object): void;
}

/** The installed hooks; `undefined` while debug mode is off. */
export let hooks: DebugHooks | undefined = undefined;

/** Installs (or, with `undefined`, removes) the hooks. */
export function setHooks(next: DebugHooks | undefined): void {
  hooks = next;
}

/**
 * Call from a resource's constructor: in debug mode, a resource that is
 * garbage-collected before {@linkcode resourceClosed} is reported with the
 * stack where it was made (aiohttp's "Unclosed client session"). Costs one
 * variable read while debug mode is off.
 *
 * @param resource The resource (`this`).
 * @param kind What it is, for the report: "ClientSession", "Pool", …
 */
export function registerResource(resource: object, kind: string): void {
  if (hooks !== undefined) hooks.resource(resource, kind);
}

/**
 * Call when a resource is closed (or disposed), so that it is not reported
 * as unclosed when it is collected.
 *
 * @param resource The resource (`this`).
 */
export function resourceClosed(resource: object): void {
  if (hooks !== undefined) hooks.closed(resource);
}
