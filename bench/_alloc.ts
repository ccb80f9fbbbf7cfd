// Counts what awaits in live scopes allocate: shared by the core's benchmark
// row and its unit test, which asserts the same figure.
import { checkpoint, sleep, TaskGroup, timeout } from "../async/mod.ts";

/** What {@linkcode countAllocations} saw. */
export interface Allocations {
  /** `AbortController`s constructed. */
  controllers: number;
  /** Host `setTimeout` calls. */
  hostTimers: number;
}

/**
 * Runs `checkpoints` checkpoints in a task and `sleeps` one-millisecond
 * sleeps in the body of a TaskGroup inside a timeout, and counts the
 * AbortControllers and host timers made meanwhile.
 */
export async function countAllocations(
  checkpoints: number,
  sleeps: number,
): Promise<Allocations> {
  const RealController = globalThis.AbortController;
  const realSetTimeout = globalThis.setTimeout;
  const seen: Allocations = { controllers: 0, hostTimers: 0 };
  globalThis.AbortController = class extends RealController {
    constructor() {
      super();
      seen.controllers++;
    }
  };
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    seen.hostTimers++;
    return realSetTimeout(...args);
  }) as typeof setTimeout;
  try {
    await timeout(60_000, () =>
      TaskGroup.run(async (tg) => {
        tg.createTask(async () => {
          for (let i = 0; i < checkpoints; i++) await checkpoint();
        });
        for (let i = 0; i < sleeps; i++) await sleep(1);
      }));
  } finally {
    globalThis.AbortController = RealController;
    globalThis.setTimeout = realSetTimeout;
  }
  return seen;
}
