import { isThenable, rejection } from "../async/_internal.ts";
import type { SignalOptions } from "../async/cancel_scope.ts";
import { cancelled, park, refuse, Waiters } from "./_waiters.ts";

/**
 * Raised by {@linkcode Queue.getNowait} when the queue is empty — asyncio's
 * `asyncio.QueueEmpty`.
 *
 * @example Usage
 * ```ts
 * import { Queue, QueueEmpty } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * assert.throws(() => new Queue().getNowait(), QueueEmpty);
 * ```
 */
export class QueueEmpty extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened.
   */
  constructor(message = "Cannot get from the Queue: it is empty") {
    super(message);
    this.name = "QueueEmpty";
  }
}

/**
 * Raised by {@linkcode Queue.putNowait} when the queue is full — asyncio's
 * `asyncio.QueueFull`.
 *
 * @example Usage
 * ```ts
 * import { Queue, QueueFull } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>({ maxsize: 1 });
 * queue.putNowait(1);
 * assert.throws(() => queue.putNowait(2), QueueFull);
 * ```
 */
export class QueueFull extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened.
   */
  constructor(message = "Cannot put into the Queue: it is full") {
    super(message);
    this.name = "QueueFull";
  }
}

/**
 * Raised by puts on a queue that was shut down, and by gets once it is also
 * empty — asyncio's `asyncio.QueueShutDown` (Python 3.13).
 *
 * @example Usage
 * ```ts
 * import { Queue, QueueShutDown } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>();
 * queue.shutdown();
 * await assert.rejects(queue.put(1), QueueShutDown);
 * ```
 */
export class QueueShutDown extends Error {
  /**
   * Makes the error.
   *
   * @param message What happened.
   */
  constructor(message = "Cannot use the Queue: it was shut down") {
    super(message);
    this.name = "QueueShutDown";
  }
}

/** Options for {@linkcode Queue} and {@linkcode LifoQueue}. */
export interface QueueOptions {
  /**
   * How many items the queue holds before `put()` waits; an integer ≥ 0.
   * `0` (the default) or `Infinity` means no limit.
   */
  maxsize?: number;
}

/** Options for {@linkcode PriorityQueue}. */
export interface PriorityQueueOptions<T> extends QueueOptions {
  /**
   * Orders the items: negative when `a` comes out before `b`. By default
   * `a < b` comes first, and arrays compare element by element like
   * Python's tuples, so asyncio's `put((priority, item))` becomes
   * `put([priority, item])`. Items that compare equal come out in the order
   * they were put. If it throws, the operation fails and the queue is left
   * as it was.
   */
  compare?: (a: T, b: T) => number;
}

/** Where a queue keeps its items. */
interface Store<T> {
  readonly size: number;
  push(item: T): void;
  take(): T;
  clear(): void;
}

/** First in, first out: a growable ring buffer. */
class FifoStore<T> implements Store<T> {
  #items: (T | undefined)[] = new Array(16).fill(undefined);
  #mask = 15;
  #head = 0;
  size = 0;

  push(item: T): void {
    if (this.size > this.#mask) this.#grow();
    this.#items[(this.#head + this.size) & this.#mask] = item;
    this.size++;
  }

  take(): T {
    const head = this.#head;
    const item = this.#items[head] as T;
    this.#items[head] = undefined;
    this.#head = (head + 1) & this.#mask;
    this.size--;
    return item;
  }

  clear(): void {
    this.#items = new Array(16).fill(undefined);
    this.#mask = 15;
    this.#head = 0;
    this.size = 0;
  }

  #grow(): void {
    const old = this.#items;
    const items: (T | undefined)[] = new Array(old.length * 2).fill(undefined);
    for (let i = 0; i < this.size; i++) {
      items[i] = old[(this.#head + i) & this.#mask];
    }
    this.#items = items;
    this.#mask = items.length - 1;
    this.#head = 0;
  }
}

/** Last in, first out. */
class LifoStore<T> implements Store<T> {
  #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    return this.#items.pop() as T;
  }

  clear(): void {
    this.#items = [];
  }
}

interface Entry<T> {
  item: T;
  seq: number;
}

/** Smallest first by `compare`, then first put: a binary heap. */
class HeapStore<T> implements Store<T> {
  #heap: Entry<T>[] = [];
  #seq = 0;
  #compare: (a: T, b: T) => number;

  constructor(compare: (a: T, b: T) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#heap.length;
  }

  #before(a: Entry<T>, b: Entry<T>): boolean {
    const order = this.#compare(a.item, b.item);
    return order < 0 || (!(order > 0) && a.seq < b.seq);
  }

  // Both find an entry's place by comparing only, then move entries without
  // comparing: a `compare` that throws leaves the heap as it was.

  push(item: T): void {
    const heap = this.#heap;
    const entry = { item, seq: this.#seq };
    let i = heap.length;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(entry, heap[parent])) break;
      i = parent;
    }
    this.#seq++;
    // Each ancestor between the new leaf and `i` moves down one level.
    let hole = heap.length;
    heap.push(entry);
    while (hole > i) {
      const parent = (hole - 1) >> 1;
      heap[hole] = heap[parent];
      hole = parent;
    }
    heap[i] = entry;
  }

  take(): T {
    const heap = this.#heap;
    const top = heap[0];
    const n = heap.length - 1; // entries left after this take
    const last = heap[n];
    let i = 0; // where `last` settles among the first n entries
    while (true) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && this.#before(heap[child + 1], heap[child])) {
        child++;
      }
      if (!this.#before(heap[child], last)) break;
      i = child;
    }
    heap.pop();
    if (n === 0) return top.item;
    // Each entry on the path from the root to `i` moves up one level. In
    // 1-based numbering the path is the prefixes of the binary digits of
    // i + 1, read from the left.
    const target = i + 1;
    let hole = 0;
    for (let shift = 30 - Math.clz32(target); shift >= 0; shift--) {
      const next = (target >> shift) - 1;
      heap[hole] = heap[next];
      hole = next;
    }
    heap[hole] = last;
    return top.item;
  }

  clear(): void {
    this.#heap = [];
  }
}

function defaultCompare<T>(a: T, b: T): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const order = defaultCompare(a[i], b[i]);
      if (order !== 0) return order;
    }
    return a.length - b.length;
  }
  return a < b ? -1 : b < a ? 1 : 0;
}

const resolved: Promise<void> = Promise.resolve();

/**
 * What a woken getter's promise is resolved with: a thenable, so that the
 * getter takes its item one turn of the microtask queue later (as in
 * asyncio, where a woken getter is only scheduled), and takes the item that
 * comes first by then — the smallest in a PriorityQueue, the newest in a
 * LifoQueue. A producer that awaits each `put()` then stays one item ahead
 * of its consumer, whose next `get()` finds the item there instead of
 * blocking again for every item. One per queue.
 */
class Claim<T> implements PromiseLike<T> {
  #take: () => T;
  constructor(take: () => T) {
    this.#take = take;
  }
  // deno-lint-ignore no-explicit-any
  then(ok?: ((item: T) => any) | null, fail?: ((e: any) => any) | null): any {
    let item: T;
    try {
      item = this.#take();
    } catch (error) {
      fail?.(error);
      return;
    }
    ok?.(item);
  }
}

// Handed from a subclass constructor to Queue's (before `this` exists).
let nextStore: Store<unknown> | undefined = undefined;

/**
 * A first-in, first-out queue for tasks — asyncio's `asyncio.Queue`, with
 * Python 3.13's `shutdown()`. With a `maxsize`, `put()` waits for room
 * (back-pressure). Getters and putters are served in the order they came, an
 * item put while getters wait is promised to the oldest of them, and a
 * cancelled `get()` or `put()` takes or adds nothing. Items cannot be
 * thenables (a promise, a task): `get()` returns a promise, which would
 * adopt them; wrap one in an object to queue it.
 *
 * @example A producer and a consumer
 * ```ts
 * import { Queue } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new Queue<number>({ maxsize: 2 });
 * const producer = (async () => {
 *   for (let i = 0; i < 5; i++) await queue.put(i);
 *   queue.shutdown();
 * })();
 * const received: number[] = [];
 * for await (const item of queue) received.push(item);
 * await producer;
 * assert.deepEqual(received, [0, 1, 2, 3, 4]);
 * ```
 */
export class Queue<T> implements AsyncIterable<T> {
  #store: Store<T>;
  #maxsize: number;
  #getters = new Waiters<T>();
  #putters = new Waiters<undefined, T>();
  #joiners = new Waiters<undefined>();
  #unfinished = 0;
  #shutdown = false;
  // Items in the store promised to woken getters that have not taken them
  // yet: no one else gets them, and they count neither in qsize() nor
  // against maxsize.
  #promised = 0;
  #claim = new Claim<T>(() => this.#takePromised());

  /**
   * Makes an empty queue.
   *
   * @param options The size limit.
   * @throws {RangeError} If `maxsize` is not an integer ≥ 0 or `Infinity`.
   */
  constructor(options?: QueueOptions) {
    const store = nextStore as Store<T> | undefined;
    nextStore = undefined;
    const maxsize = options?.maxsize ?? 0;
    const name = new.target.name;
    if (typeof maxsize !== "number") {
      throw new TypeError(
        `Cannot create the ${name}: 'maxsize' must be a number, got ${typeof maxsize}`,
      );
    }
    if (!(Number.isInteger(maxsize) && maxsize >= 0) && maxsize !== Infinity) {
      throw new RangeError(
        `Cannot create the ${name}: 'maxsize' must be an integer >= 0 or Infinity, got ${maxsize}`,
      );
    }
    this.#maxsize = maxsize === 0 ? Infinity : maxsize;
    this.#store = store ?? new FifoStore<T>();
  }

  /**
   * The size limit; `Infinity` for none.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * assert.equal(new Queue({ maxsize: 3 }).maxsize, 3);
   * assert.equal(new Queue().maxsize, Infinity);
   * ```
   *
   * @returns The maximum number of items.
   */
  get maxsize(): number {
    return this.#maxsize;
  }

  /**
   * How many items are in the queue.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * queue.putNowait("a");
   * assert.equal(queue.qsize(), 1);
   * ```
   *
   * @returns The number of items.
   */
  qsize(): number {
    return this.#store.size - this.#promised;
  }

  /**
   * Whether the queue holds no item.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * assert.ok(new Queue().empty());
   * ```
   *
   * @returns `true` when `qsize()` is 0.
   */
  empty(): boolean {
    return this.#store.size === this.#promised;
  }

  /**
   * Whether the queue holds `maxsize` items, so that `put()` would wait.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>({ maxsize: 1 });
   * queue.putNowait(1);
   * assert.ok(queue.full());
   * ```
   *
   * @returns `true` when there is no room.
   */
  full(): boolean {
    return this.#store.size - this.#promised >= this.#maxsize;
  }

  /**
   * Puts an item, waiting for room if the queue is full. Rejects with
   * {@linkcode QueueShutDown} if the queue is or gets shut down, and with
   * the cancellation if the ambient cancel scope is cancelled or
   * `options.signal` aborts first; the item is then not added.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>({ maxsize: 1 });
   * await queue.put(1);
   * const blocked = queue.put(2); // waits for room
   * assert.equal(await queue.get(), 1);
   * await blocked;
   * assert.equal(await queue.get(), 2);
   * ```
   *
   * @param item The item.
   * @param options Cancellation.
   * @returns A promise that resolves once the item is in the queue.
   */
  put(item: T, options?: SignalOptions): Promise<void> {
    if (isThenable(item)) return Promise.reject(this.#thenableError());
    if (this.#shutdown) {
      if (cancelled(options)) return refuse(options);
      return Promise.reject(new QueueShutDown());
    }
    if (this.#store.size - this.#promised < this.#maxsize) {
      if (cancelled(options)) return refuse(options);
      try {
        this.#add(item);
      } catch (error) {
        return Promise.reject(error); // from a PriorityQueue's compare
      }
      return resolved;
    }
    return park(this.#putters, options, item);
  }

  /**
   * Puts an item without waiting.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(7);
   * assert.equal(queue.getNowait(), 7);
   * ```
   *
   * @param item The item.
   * @throws {QueueFull} If the queue is full.
   * @throws {QueueShutDown} If the queue was shut down.
   */
  putNowait(item: T): void {
    if (isThenable(item)) throw this.#thenableError();
    if (this.#shutdown) throw new QueueShutDown();
    if (this.#store.size - this.#promised >= this.#maxsize) {
      throw new QueueFull();
    }
    this.#add(item);
  }

  /**
   * Takes the next item, waiting for one if the queue is empty. After
   * `shutdown()`, takes the items that are left, then rejects with
   * {@linkcode QueueShutDown}. Rejects with the cancellation if the ambient
   * cancel scope is cancelled or `options.signal` aborts first (even when an
   * item is there); no item is then taken.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<string>();
   * const next = queue.get();
   * await queue.put("hello");
   * assert.equal(await next, "hello");
   * ```
   *
   * @param options Cancellation.
   * @returns The item.
   */
  get(options?: SignalOptions): Promise<T> {
    if (this.#store.size > this.#promised) {
      if (cancelled(options)) return refuse(options);
      try {
        return Promise.resolve(this.#take());
      } catch (error) {
        return Promise.reject(error); // from a PriorityQueue's compare
      }
    }
    if (this.#shutdown) {
      if (cancelled(options)) return refuse(options);
      return Promise.reject(new QueueShutDown());
    }
    return park(this.#getters, options);
  }

  /**
   * Takes the next item without waiting.
   *
   * @example Usage
   * ```ts
   * import { Queue, QueueEmpty } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * assert.throws(() => queue.getNowait(), QueueEmpty);
   * ```
   *
   * @returns The item.
   * @throws {QueueEmpty} If the queue is empty.
   * @throws {QueueShutDown} If the queue is empty and was shut down.
   */
  getNowait(): T {
    if (this.#store.size === this.#promised) {
      throw this.#shutdown ? new QueueShutDown() : new QueueEmpty();
    }
    return this.#take();
  }

  /**
   * Marks one item taken from the queue as processed, for
   * {@linkcode Queue.join}.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * queue.getNowait();
   * queue.taskDone();
   * assert.throws(() => queue.taskDone(), /more times than/);
   * ```
   *
   * @throws {Error} If called more times than items were put.
   */
  taskDone(): void {
    if (this.#unfinished <= 0) {
      throw new Error(
        "Cannot mark a task done: taskDone() was called more times than items were put, got 0 unfinished tasks",
      );
    }
    if (--this.#unfinished === 0 && this.#joiners.size > 0) {
      this.#joiners.resolveAll(undefined);
    }
  }

  /**
   * Waits until every item put was taken and marked with
   * {@linkcode Queue.taskDone}.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * await queue.put(1);
   * await queue.put(2);
   * const processed: number[] = [];
   * (async () => {
   *   for await (const item of queue) {
   *     processed.push(item);
   *     queue.taskDone();
   *   }
   * })();
   * await queue.join();
   * assert.deepEqual(processed, [1, 2]);
   * queue.shutdown();
   * ```
   *
   * @param options Cancellation.
   * @returns A promise that resolves when no task is unfinished.
   */
  join(options?: SignalOptions): Promise<void> {
    if (this.#unfinished === 0) {
      if (cancelled(options)) return refuse(options);
      return Promise.resolve();
    }
    return park(this.#joiners, options);
  }

  /**
   * Shuts the queue down (Python 3.13): puts reject with
   * {@linkcode QueueShutDown}; gets take what is left, then reject with it.
   * With `immediate`, the items left are dropped (counting as done for
   * {@linkcode Queue.join}) and gets reject at once. Waiting putters and
   * getters are woken with `QueueShutDown`.
   *
   * @example Usage
   * ```ts
   * import { Queue, QueueShutDown } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * queue.shutdown();
   * assert.equal(await queue.get(), 1);
   * await assert.rejects(queue.get(), QueueShutDown);
   * ```
   *
   * @param immediate Whether to drop the items left.
   */
  shutdown(immediate = false): void {
    this.#shutdown = true;
    if (immediate) {
      // Items promised to woken getters go too: they get QueueShutDown, as
      // asyncio's woken getters find the queue empty.
      const dropped = this.#store.size;
      this.#store.clear();
      this.#promised = 0;
      this.#unfinished = Math.max(0, this.#unfinished - dropped);
      if (this.#unfinished === 0) this.#joiners.resolveAll(undefined);
    }
    if (this.#getters.size > 0) {
      this.#getters.rejectAll(new QueueShutDown());
    }
    if (this.#putters.size > 0) {
      this.#putters.rejectAll(new QueueShutDown());
    }
  }

  /**
   * Takes items until the queue is shut down and empty: `for await (const
   * item of queue)`. Leaving the loop early takes nothing more.
   *
   * @example Usage
   * ```ts
   * import { Queue } from "@aio/std/sync";
   * import assert from "node:assert/strict";
   *
   * const queue = new Queue<number>();
   * queue.putNowait(1);
   * queue.putNowait(2);
   * queue.shutdown();
   * const items: number[] = [];
   * for await (const item of queue) items.push(item);
   * assert.deepEqual(items, [1, 2]);
   * ```
   *
   * @returns An async iterator of the items.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    while (true) {
      let item: T;
      try {
        item = await this.get();
      } catch (error) {
        if (error instanceof QueueShutDown) return;
        throw error;
      }
      yield item;
    }
  }

  #add(item: T): void {
    this.#store.push(item); // first: if a compare throws, nothing changed
    this.#unfinished++;
    if (this.#getters.size > 0) this.#promiseNext();
  }

  /** Promises an item of the store to the oldest waiting getter. */
  #promiseNext(): void {
    this.#promised++;
    this.#getters.resolveNext(this.#claim);
  }

  #take(): T {
    const item = this.#store.take(); // if a compare throws, nothing changed
    // Room was made: the oldest waiting putter's item goes in, or the next
    // one's if a compare refuses it.
    while (this.#putters.size > 0) {
      const admitted = this.#putters.peekPayload() as T;
      try {
        this.#store.push(admitted);
      } catch (error) {
        this.#putters.resolveNext(rejection(error));
        continue;
      }
      this.#unfinished++;
      this.#putters.resolveNext(undefined);
      break;
    }
    return item;
  }

  /** What a woken getter's {@linkcode Claim} takes. */
  #takePromised(): T {
    if (this.#promised === 0) throw new QueueShutDown(); // dropped by shutdown(true)
    this.#promised--;
    try {
      return this.#store.take();
    } catch (error) {
      // A compare threw: the item stays, promised to the next getter.
      if (this.#getters.size > 0) this.#promiseNext();
      throw error;
    }
  }

  #thenableError(): TypeError {
    return new TypeError(
      `Cannot put the item into the ${this.constructor.name}: it is a thenable, which get() would adopt; wrap it, e.g. { value }`,
    );
  }
}

/**
 * A queue that gives out the smallest item first — asyncio's
 * `asyncio.PriorityQueue`, with an optional comparator. Items that compare
 * equal come out in the order they were put.
 *
 * @example Smallest first
 * ```ts
 * import { PriorityQueue } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new PriorityQueue<number>();
 * for (const n of [3, 1, 2]) queue.putNowait(n);
 * assert.deepEqual([queue.getNowait(), queue.getNowait(), queue.getNowait()], [
 *   1,
 *   2,
 *   3,
 * ]);
 * ```
 *
 * @example With a comparator
 * ```ts
 * import { PriorityQueue } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * type Job = { priority: number; name: string };
 * const queue = new PriorityQueue<Job>({
 *   compare: (a, b) => a.priority - b.priority,
 * });
 * queue.putNowait({ priority: 2, name: "later" });
 * queue.putNowait({ priority: 1, name: "first" });
 * queue.putNowait({ priority: 1, name: "second" });
 * assert.equal(queue.getNowait().name, "first");
 * assert.equal(queue.getNowait().name, "second");
 * ```
 */
export class PriorityQueue<T> extends Queue<T> {
  /**
   * Makes an empty priority queue.
   *
   * @param options The size limit and the order.
   * @throws {TypeError} If `compare` is given and is not a function.
   * @throws {RangeError} If `maxsize` is not an integer ≥ 0 or `Infinity`.
   */
  constructor(options?: PriorityQueueOptions<T>) {
    const compare = options?.compare ?? defaultCompare;
    if (typeof compare !== "function") {
      throw new TypeError(
        `Cannot create the PriorityQueue: 'compare' must be a function, got ${typeof compare}`,
      );
    }
    nextStore = new HeapStore(compare); // Queue's constructor takes it back at once
    super(options);
  }
}

/**
 * A queue that gives out the newest item first — asyncio's
 * `asyncio.LifoQueue`.
 *
 * @example Usage
 * ```ts
 * import { LifoQueue } from "@aio/std/sync";
 * import assert from "node:assert/strict";
 *
 * const queue = new LifoQueue<string>();
 * queue.putNowait("a");
 * queue.putNowait("b");
 * assert.equal(queue.getNowait(), "b");
 * ```
 */
export class LifoQueue<T> extends Queue<T> {
  /**
   * Makes an empty LIFO queue.
   *
   * @param options The size limit.
   * @throws {RangeError} If `maxsize` is not an integer ≥ 0 or `Infinity`.
   */
  constructor(options?: QueueOptions) {
    nextStore = new LifoStore(); // Queue's constructor takes it back at once
    super(options);
  }
}
