// `deno bench` cases for sync/: the operations of bench/compare_sync.ts at a
// size that suits Deno.bench, next to their peers.
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import { Mutex } from "npm:async-mutex@0.5.0";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import pLimit from "npm:p-limit@7.3.3";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import { Sema } from "npm:async-sema@3.1.1";
import { CancelScope } from "../async/cancel_scope.ts";
import { Event } from "../sync/event.ts";
import { Lock } from "../sync/lock.ts";
import { Queue } from "../sync/queue.ts";
import { Semaphore } from "../sync/semaphore.ts";

const OPS = 10_000;

Deno.bench({
  name: "Lock acquire+release, uncontended",
  group: "lock",
  baseline: true,
  async fn() {
    const lock = new Lock();
    for (let i = 0; i < OPS; i++) {
      const guard = await lock.acquire();
      guard.release();
    }
  },
});

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

Deno.bench({
  name: "async-mutex Mutex acquire+release, uncontended",
  group: "lock",
  async fn() {
    const mutex = new Mutex();
    for (let i = 0; i < OPS; i++) {
      const release = await mutex.acquire();
      release();
    }
  },
});

Deno.bench({
  name: "Lock, 4 tasks contending",
  group: "lock contended",
  baseline: true,
  async fn() {
    const lock = new Lock();
    const worker = async () => {
      for (let i = 0; i < OPS / 4; i++) {
        const guard = await lock.acquire();
        guard.release();
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
  },
});

Deno.bench({
  name: "Lock, 4 tasks contending, inside a cancel scope",
  group: "lock contended",
  async fn() {
    await new CancelScope().run(async () => {
      const lock = new Lock();
      const worker = async () => {
        for (let i = 0; i < OPS / 4; i++) {
          const guard = await lock.acquire();
          guard.release();
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    });
  },
});

async function job(): Promise<number> {
  await null;
  return 1;
}

Deno.bench({
  name: "Semaphore(10) limiting jobs",
  group: "semaphore",
  baseline: true,
  async fn() {
    const semaphore = new Semaphore(10);
    const run = async () => {
      const guard = await semaphore.acquire();
      try {
        return await job();
      } finally {
        guard.release();
      }
    };
    await Promise.all(Array.from({ length: OPS }, run));
  },
});

Deno.bench({
  name: "p-limit(10) limiting jobs",
  group: "semaphore",
  async fn() {
    const limit = pLimit(10);
    await Promise.all(Array.from({ length: OPS }, () => limit(job)));
  },
});

Deno.bench({
  name: "async-sema(10) limiting jobs",
  group: "semaphore",
  async fn() {
    const sema = new Sema(10);
    const run = async () => {
      await sema.acquire();
      try {
        return await job();
      } finally {
        sema.release();
      }
    };
    await Promise.all(Array.from({ length: OPS }, run));
  },
});

Deno.bench({
  name: "Queue, one producer to one consumer",
  group: "queue",
  baseline: true,
  async fn() {
    const queue = new Queue<number>();
    const consumer = (async () => {
      for (let i = 0; i < OPS; i++) await queue.get();
    })();
    for (let i = 0; i < OPS; i++) await queue.put(i);
    await consumer;
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
  name: "Minimal promise hand-off, one producer to one consumer",
  group: "queue",
  async fn() {
    const items: number[] = [];
    let waiter: ((item: number) => void) | undefined;
    const get = (): Promise<number> =>
      items.length > 0
        ? Promise.resolve(items.shift()!)
        : new Promise((resolve) => waiter = resolve);
    const put = (item: number) => {
      if (waiter !== undefined) {
        const w = waiter;
        waiter = undefined;
        w(item);
      } else items.push(item);
    };
    const consumer = (async () => {
      for (let i = 0; i < OPS; i++) await get();
    })();
    for (let i = 0; i < OPS; i++) await put(i);
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
