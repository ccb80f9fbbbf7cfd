import { awaitInScope, CancelScope, exitScope } from "./_scope.ts";
import { debugSession } from "./debug.ts";

/** Options for {@linkcode run}. */
export interface RunOptions {
  /**
   * OS signals that cancel `main`; a second one exits the process at once.
   * `["SIGINT", "SIGTERM"]` by default (`["SIGINT"]` on Windows); `[]` for none.
   */
  signals?: Deno.Signal[];
  /**
   * asyncio's debug mode (see `@aio/std/async/debug`): event-loop blocks,
   * tasks left pending (reported, then cancelled), unhandled rejections and
   * unclosed resources are reported, and task statistics printed at the
   * end. Off by default; `AIO_DEBUG=1` turns it on when this is not given.
   */
  debug?: boolean;
}

/**
 * The entry point of a program — asyncio's `asyncio.run`. Runs `main` in a
 * root cancel scope; the first SIGINT or SIGTERM cancels that scope, so every
 * await inside rejects and `finally` blocks run; a second one exits the
 * process at once with code 130. Returns `main`'s result.
 *
 * @example Usage
 * ```ts
 * import { run, sleep } from "@aio/std/async";
 * import assert from "node:assert/strict";
 *
 * const answer = await run(async () => {
 *   await sleep(1);
 *   return 42;
 * });
 * assert.equal(answer, 42);
 * ```
 *
 * @param main The program; it receives the root scope's `AbortSignal` if it
 * declares a parameter.
 * @param options Which signals cancel it.
 * @returns `main`'s result.
 */
export async function run<T>(
  main: (signal: AbortSignal) => T | PromiseLike<T>,
  options?: RunOptions,
): Promise<T> {
  if (typeof main !== "function") {
    throw new TypeError(
      `Cannot run: 'main' must be a function, got ${typeof main}`,
    );
  }
  const signals = options?.signals ??
    (Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"]);
  if (!Array.isArray(signals)) {
    throw new TypeError(
      `Cannot run: 'signals' must be an array of signal names, got ${typeof signals}`,
    );
  }
  for (const name of signals) {
    if (typeof name !== "string" || !/^SIG[A-Z0-9]+$/.test(name)) {
      throw new TypeError(
        `Cannot run: 'signals' must hold signal names such as "SIGINT", got ${
          typeof name === "string" ? JSON.stringify(name) : typeof name
        }`,
      );
    }
  }
  const scope = new CancelScope();
  let received = 0;
  const listeners: [Deno.Signal, () => void][] = [];
  const removeListeners = () => {
    for (const [name, listener] of listeners) {
      Deno.removeSignalListener(name, listener);
    }
  };
  try {
    for (const name of signals) {
      const listener = () => {
        if (++received > 1) Deno.exit(130);
        scope.cancel(`Cancelled by ${name}`);
      };
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    }
  } catch (error) {
    // A name the platform refuses ("SIGBOGUS", or SIGKILL): leave nothing
    // installed, and start nothing.
    removeListeners();
    scope[exitScope]();
    throw new TypeError(
      `Cannot run: the platform refused a signal in 'signals' (${
        error instanceof Error ? error.message : String(error)
      })`,
      { cause: error },
    );
  }
  const debug = debugSession(options?.debug);
  try {
    return await scope[awaitInScope](
      main,
      (main.length > 0 ? scope.signal : undefined) as AbortSignal,
    );
  } finally {
    if (debug !== undefined) await debug.end();
    removeListeners();
    scope[exitScope]();
  }
}
