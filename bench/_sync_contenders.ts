// The contenders of the sync/ benchmarks, shared by `deno task bench:compare`
// (bench/compare_sync.ts) and `deno task bench` (bench/sync_bench.ts), each
// taking its size `n`. Private to bench/.
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import { Mutex } from "npm:async-mutex@0.5.0";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import pLimit from "npm:p-limit@7.3.3";
// deno-lint-ignore no-import-prefix -- peers are benchmark-only, not package deps
import { Sema } from "npm:async-sema@3.1.1";
import { Lock } from "../sync/lock.ts";
import { Queue } from "../sync/queue.ts";
import { Semaphore } from "../sync/semaphore.ts";

// --- Uncontended Lock acquire + release --------------------------------------

export async function oursLock(n: number): Promise<void> {
  const lock = new Lock();
  for (let i = 0; i < n; i++) {
    const guard = await lock.acquire();
    guard.release();
  }
}

export async function asyncMutex(n: number): Promise<void> {
  const mutex = new Mutex();
  for (let i = 0; i < n; i++) {
    const release = await mutex.acquire();
    release();
  }
}

// --- Semaphore(10) limiting n async jobs ------------------------------------

// One job: a trivial await, so that the limiter's own cost dominates.
export async function job(): Promise<number> {
  await null;
  return 1;
}

// The same shape as p-limit's `limit(job)`: a waiting job is one promise.
export async function oursSemaphoreRun(n: number): Promise<void> {
  const semaphore = new Semaphore(10);
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = semaphore.run(job);
  await Promise.all(all);
}

// asyncio's idiom: an async function per job that acquires, then runs it; a
// waiting job is a suspended frame.
export async function oursSemaphore(n: number): Promise<void> {
  const semaphore = new Semaphore(10);
  const run = async () => {
    const guard = await semaphore.acquire();
    try {
      return await job();
    } finally {
      guard.release();
    }
  };
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = run();
  await Promise.all(all);
}

// The same with `using`: V8's disposal machinery costs more than try/finally.
export async function oursSemaphoreUsing(n: number): Promise<void> {
  const semaphore = new Semaphore(10);
  const run = async () => {
    using _ = await semaphore.acquire();
    return await job();
  };
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = run();
  await Promise.all(all);
}

// No limiter at all: the floor under every limiter's figure.
export async function unlimitedJobs(n: number): Promise<void> {
  const run = async () => await job();
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = run();
  await Promise.all(all);
}

// No limiter, but a `using` of a trivial disposable: the floor under the
// `using` variant (V8's disposal machinery costs more than try/finally).
const trivialDisposable: Disposable = { [Symbol.dispose]() {} };
export async function unlimitedJobsUsing(n: number): Promise<void> {
  const run = async () => {
    using _ = trivialDisposable;
    return await job();
  };
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = run();
  await Promise.all(all);
}

export async function pLimitJobs(n: number): Promise<void> {
  const limit = pLimit(10);
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = limit(job);
  await Promise.all(all);
}

export async function asyncSemaJobs(n: number): Promise<void> {
  const sema = new Sema(10);
  const run = async () => {
    await sema.acquire();
    try {
      return await job();
    } finally {
      sema.release();
    }
  };
  const all: Promise<number>[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = run();
  await Promise.all(all);
}

// --- Queue: n items, one producer, one consumer -----------------------------
//
// Each contender has its own copy of the producer/consumer loop, on purpose:
// a shared loop's `get()` and `put()` call sites would see several classes
// and slow every contender down.

// Python's `await q.put(i)` on an unbounded queue never yields, so its
// producer runs ahead of its consumer; `putNowait` gives ours that schedule.
export async function oursQueueRunAhead(n: number): Promise<void> {
  const queue = new Queue<number>();
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await queue.get();
    return sum;
  })();
  for (let i = 0; i < n; i++) queue.putNowait(i);
  await consumer;
}

export async function oursQueue(n: number): Promise<void> {
  const queue = new Queue<number>();
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await queue.get();
    return sum;
  })();
  for (let i = 0; i < n; i++) await queue.put(i);
  await consumer;
}

/** The least a promise-based hand-off can do: a buffer and one waiter. */
class MinimalHandoff<T> {
  #items: T[] = [];
  #head = 0;
  #waiter: ((item: T) => void) | undefined = undefined;

  put(item: T): void {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter(item);
    } else this.#items.push(item);
  }

  get(): Promise<T> {
    if (this.#head < this.#items.length) {
      const item = this.#items[this.#head++];
      if (this.#head === this.#items.length) {
        this.#items = [];
        this.#head = 0;
      }
      return Promise.resolve(item);
    }
    return new Promise((resolve) => this.#waiter = resolve);
  }
}

export async function minimalQueue(n: number): Promise<void> {
  const queue = new MinimalHandoff<number>();
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await queue.get();
    return sum;
  })();
  for (let i = 0; i < n; i++) await queue.put(i);
  await consumer;
}

/**
 * Our queue's design with nothing but the hand-off: a ring buffer and one
 * getter woken a turn later, as ours is; no cancellation, shutdown, maxsize
 * or task counting. What a queue in this shape costs before any check.
 */
class BareQueue<T> {
  #items: (T | undefined)[] = new Array(16).fill(undefined);
  #mask = 15;
  #head = 0;
  #size = 0;
  #waiter: ((item: PromiseLike<T>) => void) | undefined = undefined;

  put(item: T): Promise<void> {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      waiter({ then: (resolve) => resolve?.(item) } as PromiseLike<T>);
    } else {
      if (this.#size > this.#mask) throw new Error("BareQueue is full");
      this.#items[(this.#head + this.#size++) & this.#mask] = item;
    }
    return resolvedVoid;
  }

  get(): Promise<T> {
    if (this.#size === 0) {
      return new Promise<T>((resolve) => this.#waiter = resolve);
    }
    const head = this.#head;
    const item = this.#items[head] as T;
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.#size--;
    return Promise.resolve(item);
  }
}

export async function bareQueue(n: number): Promise<void> {
  const queue = new BareQueue<number>();
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await queue.get();
    return sum;
  })();
  for (let i = 0; i < n; i++) await queue.put(i);
  await consumer;
}

// No queue at all: two tasks that await once per item, one of them a fresh
// promise of the item; the floor under any promise-based queue in this shape.
const resolvedVoid: Promise<void> = Promise.resolve();
export async function queueFloor(n: number): Promise<void> {
  const consumer = (async () => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += await Promise.resolve(i);
    return sum;
  })();
  for (let i = 0; i < n; i++) await resolvedVoid;
  await consumer;
}
