// The Web Worker side of a WorkerPool (isolation "worker"): runs the tasks
// the host posts. Errors are serialised here because Deno's ErrorEvent.error
// is null on the host's side.
import { createRunner, serializeError } from "./_worker_protocol.ts";

interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  onmessage: ((event: MessageEvent) => void) | null;
  addEventListener(type: string, listener: (event: Event) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
const post = (message: unknown, transfer: Transferable[]) =>
  scope.postMessage(message, transfer);
// A worker with permissions of its own starts from a generated module that
// leaves here a literal dynamic import of the user's module: Deno loads that
// with the module graph, so it needs no read permission.
const importer = (globalThis as Record<symbol, unknown>)[
  Symbol.for("aio.worker.import")
] as (() => Promise<Record<string, unknown>>) | undefined;
const runner = createRunner(post, importer);
scope.onmessage = (event) => runner.handle(event.data);

// An uncaught error or rejection ends the worker: the host rejects what it
// had sent and starts a fresh one.
const fatal = (error: unknown) => {
  runner.fatal({ fatal: "uncaught", error: serializeError(error) });
};
scope.addEventListener("error", (event) => {
  event.preventDefault();
  const e = event as ErrorEvent;
  fatal(e.error ?? new Error(e.message));
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  fatal((event as PromiseRejectionEvent).reason);
});
// Deno.exit() in a Web Worker ends the worker silently: say so first.
const exit = Deno.exit;
Deno.exit = (code?: number): never => {
  runner.fatal({ fatal: "exit", code: code ?? Deno.exitCode });
  return exit(code);
};
