// One timer heap per clock, like asyncio's heap of scheduled handles: every
// sleep and deadline of aio is an entry here, and only a few host timers
// stand behind the heap. A host timer costs ~700 bytes of heap in Deno; an
// entry is the sleeping object itself.
//
// A "clock" is whatever `setTimeout` is installed when a timer is scheduled,
// so a fake clock (testing/FakeTime) installed later gets a heap of its own.

type SetTimeout = typeof setTimeout;
type ClearTimeout = typeof clearTimeout;

/** Something to call at a given time; subclasses say what `fire` does. */
export abstract class Timer {
  /** When it is due, on the `performance.now()` clock. */
  at = 0;
  /** Tie-breaker: equal deadlines fire in the order they were scheduled. */
  seq = 0;
  /** Position in the heap; -1 when not scheduled. */
  index = -1;
  /** The heap that holds it while scheduled. */
  queue: TimerQueue | undefined = undefined;
  /** Called once when due; must not throw. */
  abstract fire(): void;
}

/** A timer that calls a function. */
export class CallbackTimer extends Timer {
  #fn: () => void;
  /** @param fn What to call when due. */
  constructor(fn: () => void) {
    super();
    this.#fn = fn;
  }
  /** Calls the function. */
  fire(): void {
    this.#fn();
  }
}

let nextSeq = 0;

function before(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

// Host timers that may be armed at once; more would only churn.
const MAX_ARMED = 3;

class TimerQueue {
  readonly heap: Timer[] = [];
  #setTimeout: SetTimeout;
  #clearTimeout: ClearTimeout;
  // Armed host timers, by due time. Several may be armed: arming an earlier
  // one leaves the later one in place, so that a short sleep inside a long
  // deadline costs one host timer, not two.
  #armed: { at: number; handle: ReturnType<SetTimeout> }[] = [];
  /** This clock's time: captured with its `setTimeout`, so that timers of
   * the real clock still fire while a fake one is installed, and back. */
  readonly now: () => number;

  // Whether its host timers leave the process free to exit.
  #unref: boolean;

  constructor(
    set: SetTimeout,
    clear: ClearTimeout,
    now: () => number,
    unref: boolean,
  ) {
    this.#setTimeout = set;
    this.#clearTimeout = clear;
    this.now = now;
    this.#unref = unref;
  }

  add(timer: Timer): void {
    const heap = this.heap;
    timer.index = heap.length;
    timer.queue = this;
    heap.push(timer);
    this.#up(timer.index);
    if (heap[0] === timer) this.#ensureArmed(timer.at);
  }

  remove(timer: Timer): void {
    const i = timer.index;
    if (i < 0) return;
    timer.index = -1;
    timer.queue = undefined;
    const heap = this.heap;
    const last = heap.pop()!;
    if (i < heap.length) {
      heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    // An empty heap must hold no host timer: it would keep the process
    // alive and trip Deno's op sanitizer. A superfluous one is harmless.
    if (heap.length === 0) this.#disarmAll();
  }

  #ensureArmed(at: number): void {
    const armed = this.#armed;
    for (let i = 0; i < armed.length; i++) {
      if (armed[i].at <= at) return;
    }
    if (armed.length >= MAX_ARMED) {
      let latest = 0;
      for (let i = 1; i < armed.length; i++) {
        if (armed[i].at > armed[latest].at) latest = i;
      }
      this.#clearTimeout(armed[latest].handle);
      armed.splice(latest, 1);
    }
    const delay = Math.max(0, at - this.now());
    const entry = {
      at,
      handle: undefined as unknown as ReturnType<SetTimeout>,
    };
    entry.handle = this.#setTimeout(
      () => this.#fire(entry),
      Math.min(delay, 2 ** 31 - 1),
    );
    if (this.#unref) unrefTimer(entry.handle);
    armed.push(entry);
  }

  #disarmAll(): void {
    for (const entry of this.#armed) this.#clearTimeout(entry.handle);
    this.#armed.length = 0;
  }

  #fire(entry: { at: number }): void {
    const armed = this.#armed;
    const i = armed.indexOf(entry as (typeof armed)[number]);
    if (i >= 0) armed.splice(i, 1);
    const heap = this.heap;
    const now = this.now();
    while (heap.length > 0 && heap[0].at <= now) {
      const timer = heap[0];
      this.remove(timer);
      timer.fire();
    }
    if (heap.length > 0) this.#ensureArmed(heap[0].at);
  }

  #up(i: number): void {
    const heap = this.heap;
    const timer = heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(timer, heap[parent])) break;
      heap[i] = heap[parent];
      heap[i].index = i;
      i = parent;
    }
    heap[i] = timer;
    timer.index = i;
  }

  #down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const timer = heap[i];
    while (true) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(heap[right], heap[left]) ? right : left;
      if (!before(heap[child], timer)) break;
      heap[i] = heap[child];
      heap[i].index = i;
      i = child;
    }
    heap[i] = timer;
    timer.index = i;
  }
}

// The host's own setTimeout: only its timers can be unref'd (a fake clock's
// ids mean nothing to the host, and a fake clock keeps nothing alive).
const hostSetTimeout = globalThis.setTimeout;

function unrefTimer(handle: unknown): void {
  if (
    typeof handle === "object" && handle !== null &&
    typeof (handle as { unref?: unknown }).unref === "function"
  ) {
    (handle as { unref(): void }).unref();
  } else if (typeof handle === "number") {
    // deno-lint-ignore no-explicit-any
    const deno = (globalThis as any).Deno;
    if (typeof deno?.unrefTimer === "function") deno.unrefTimer(handle);
  }
}

const queues = new WeakMap<SetTimeout, TimerQueue>();
// Timers that do not keep the process alive get heaps of their own.
const unrefQueues = new WeakMap<SetTimeout, TimerQueue>();
let lastSet: SetTimeout | undefined;
let lastQueue: TimerQueue | undefined;

function queueFor(
  set: SetTimeout,
  map: WeakMap<SetTimeout, TimerQueue>,
  unref: boolean,
): TimerQueue {
  let queue = map.get(set);
  if (queue === undefined) {
    queue = new TimerQueue(
      set,
      globalThis.clearTimeout,
      performance.now.bind(performance),
      unref,
    );
    map.set(set, queue);
  }
  return queue;
}

/**
 * Schedules `timer` to fire after `ms` milliseconds on the clock installed
 * now.
 *
 * @param timer A timer that is not scheduled.
 * @param ms A delay ≥ 0 (validated by the caller).
 * @param persistent When false, the timer does not keep the process alive.
 */
export function schedule(timer: Timer, ms: number, persistent = true): void {
  const set = globalThis.setTimeout;
  let queue = lastQueue;
  if (!persistent) {
    queue = queueFor(set, unrefQueues, set === hostSetTimeout);
  } else if (set !== lastSet) {
    queue = queueFor(set, queues, false);
    lastSet = set;
    lastQueue = queue;
  }
  timer.at = queue!.now() + ms;
  timer.seq = nextSeq++;
  queue!.add(timer);
}

/**
 * Unschedules a timer; nothing happens if it is not scheduled.
 *
 * @param timer A timer.
 */
export function unschedule(timer: Timer): void {
  timer.queue?.remove(timer);
}
