// Helpers shared by the tests of async/ and io/. Private; not part of the
// package.
import assert from "node:assert/strict";
import { type DebugReport, setDebugReporter } from "./debug.ts";

// Yields to the event loop, where finalization callbacks run.
function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Collects garbage and yields to the event loop until `until()` holds, at
 * most `rounds` times; the test run passes `--v8-flags=--expose-gc`.
 */
export async function gcUntil(
  until: () => boolean,
  rounds = 50,
): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  assert.ok(gc, "run the tests with --v8-flags=--expose-gc");
  for (let i = 0; i < rounds && !until(); i++) {
    gc();
    await macrotask();
  }
}

/** Runs `fn` with a reporter that records every debug report. */
export async function withReports(
  fn: (reports: DebugReport[]) => Promise<void>,
): Promise<DebugReport[]> {
  const reports: DebugReport[] = [];
  const previous = setDebugReporter((report) => reports.push(report));
  try {
    await fn(reports);
  } finally {
    setDebugReporter(previous);
  }
  return reports;
}
