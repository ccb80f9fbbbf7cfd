// The subprocess side of a WorkerPool (isolation "process"): a `deno run`
// child that reads task batches from stdin and writes results to stdout,
// each frame a 4-byte little-endian length and a `node:v8` serialisation
// (structured clone, as postMessage does). stdout is the protocol's, so the
// console writes to stderr.
import v8 from "node:v8";
import {
  createRunner,
  encodeFrame,
  FrameDecoder,
  serializeError,
} from "./_worker_protocol.ts";

/**
 * Serves tasks over stdin/stdout. The generated main module calls this with
 * a function that imports the user's module (a literal dynamic import, so no
 * read permission is needed and a load failure is reported as an error).
 *
 * @param load Imports the worker module; `undefined` in function mode.
 * @param tag The key that marks the pool's control messages.
 */
export async function serve(
  load: (() => Promise<Record<string, unknown>>) | undefined,
  tag: string,
): Promise<void> {
  for (const name of ["log", "info", "debug", "dir", "table"] as const) {
    // deno-lint-ignore no-explicit-any
    (console as any)[name] = console.error;
  }
  const stdout = Deno.stdout;
  const post = (message: unknown) => {
    const frame = encodeFrame(v8.serialize(message));
    let written = 0;
    while (written < frame.length) {
      written += stdout.writeSync(frame.subarray(written));
    }
  };
  const runner = createRunner(post);
  const fatal = (error: unknown) => {
    runner.fatal({ fatal: "uncaught", error: serializeError(error) });
    Deno.exit(70);
  };
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fatal(event.error ?? new Error(event.message));
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fatal(event.reason);
  });
  if (load === undefined) runner.handle({ module: null, tag });
  else {
    try {
      runner.handle({ module: null, tag, exports: await load() });
    } catch (error) {
      runner.handle({ module: null, tag });
      runner.fatal({ fatal: "load", error: serializeError(error) });
      Deno.exit(1);
    }
  }
  const decoder = new FrameDecoder();
  for await (const chunk of Deno.stdin.readable) {
    for (const body of decoder.push(chunk)) {
      runner.handle(v8.deserialize(body));
    }
  }
  // stdin closed: the host closed the pool (or is gone).
}
