// `deno bench` cases for sync/: the operations of bench/compare_sync.ts at a
// size that suits Deno.bench, next to their peers.
import { CancelScope } from "../async/cancel_scope.ts";
import { Event } from "../sync/event.ts";
import { Lock } from "../sync/lock.ts";
import { Queue } from "../sync/queue.ts";
import {
  asyncMutex,
  asyncSemaJobs,
  bareQueue,
  minimalQueue,
  oursLock,
  oursQueue,
  oursSemaphore,
  oursSemaphoreRun,
  pLimitJobs,
} from "./_sync_contenders.ts";

const OPS = 10_000;

// The contenders that bench/compare_sync.ts measures too.
const shared: [string, string, (n: number) => Promise<void>][] = [
  ["lock", "Lock acquire+release, uncontended", oursLock],
  ["lock", "async-mutex Mutex acquire+release, uncontended", asyncMutex],
  ["semaphore", "Semaphore(10).run(job)", oursSemaphoreRun],
  ["semaphore", "Semaphore(10) acquire() + try/finally per job", oursSemaphore],
  ["semaphore", "p-limit(10)(job)", pLimitJobs],
  [
    "semaphore",
    "async-sema(10) acquire() + try/finally per job",
    asyncSemaJobs,
  ],
  ["queue", "Queue, one producer to one consumer", oursQueue],
  ["queue", "Minimal promise hand-off", minimalQueue],
  ["queue", "Bare ring-buffer queue, no checks", bareQueue],
];
for (const [group, name, contender] of shared) {
  Deno.bench({
    name,
    group,
    baseline: contender === oursLock || contender === oursSemaphoreRun ||
      contender === oursQueue,
    // An async function: Deno.bench awaits only those.
    async fn() {
      await contender(OPS);
    },
  });
}

Deno.bench({
  name: "Lock acquire+release with using, uncontended",
  group: "lock",
  async fn() {
    const lock = new Lock();
    for (let i = 0; i < OPS; i++) {
      using _ = await lock.acquire();
    }
  },
});

/** Four tasks taking turns at one lock, OPS times in all. */
async function contend(): Promise<void> {
  const lock = new Lock();
  const worker = async () => {
    for (let i = 0; i < OPS / 4; i++) {
      const guard = await lock.acquire();
      guard.release();
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
}

Deno.bench({
  name: "Lock, 4 tasks contending",
  group: "lock contended",
  baseline: true,
  async fn() {
    await contend();
  },
});

Deno.bench({
  name: "Lock, 4 tasks contending, inside a cancel scope",
  group: "lock contended",
  async fn() {
    await new CancelScope().run(contend);
  },
});

Deno.bench({
  name: "Queue(maxsize 16), one producer to one consumer",
  group: "queue",
  async fn() {
    const queue = new Queue<number>({ maxsize: 16 });
    const consumer = (async () => {
      for (let i = 0; i < OPS; i++) await queue.get();
    })();
    for (let i = 0; i < OPS; i++) await queue.put(i);
    await consumer;
  },
});

Deno.bench({
  name: "Event set/wait, 100 waiters",
  group: "event",
  async fn() {
    for (let round = 0; round < OPS / 100; round++) {
      const event = new Event();
      const waiters = Array.from({ length: 100 }, () => event.wait());
      event.set();
      await Promise.all(waiters);
    }
  },
});
