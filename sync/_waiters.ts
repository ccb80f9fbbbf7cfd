// The FIFO of blocked waiters shared by every primitive of sync/, and the two
// ways into it: `park` (block, cancellable) and `cancelled` (the fast-path
// check). Private to sync/.
//
// The line is a ring buffer addressed by ever-growing logical indices, so that
// a cancelled waiter can be withdrawn in O(1) by leaving a hole (skipped by
// `shift`). A slot holds one of two kinds of waiter:
//
// - outside every cancel scope and without a signal nothing can cancel the
//   wait, so the waiter is only its promise's resolve function (a rejection is
//   a thenable that rejects, so that no reject function needs to be kept);
// - otherwise it is one `LineWaiter` object (the core's `Waiter`), its own
//   cancel and abort listener, which knows its slot and leaves it when
//   cancelled: no closure per wait.
import { rejection } from "../async/_internal.ts";
import {
  ambientCancelled,
  currentScope,
  type SignalOptions,
  suspend,
  Waiter,
} from "../async/cancel_scope.ts";

/** Settles a bare waiter: a value, or a {@linkcode rejection} to reject it. */
export type Resolver<T> = (value: T | PromiseLike<T>) => void;

/**
 * A cancellable blocked wait: one object, in its line's slot `index`. The
 * value it is resolved with may be a thenable (a queue's hand-off, a
 * rejection); its promise adopts it, hence `T | PromiseLike<T>`.
 */
class LineWaiter<T, P> extends Waiter<T | PromiseLike<T>> {
  index = 0;
  #line: Waiters<T, P>;
  constructor(line: Waiters<T, P>) {
    super();
    this.#line = line;
  }
  protected withdraw(): void {
    this.#line.withdraw(this.index);
  }
}

/** What a cancellable waiter offers its line: settle-once resolution. */
export interface Resolvable<T> {
  /**
   * Ends the wait with `value` (a thenable is adopted).
   *
   * @param value The value.
   * @returns Whether this call ended the wait.
   */
  resolve(value: T | PromiseLike<T>): boolean;
}

/** A slot's waiter: a bare resolve function, or a cancellable waiter. */
export type Entry<T> = Resolver<T> | Resolvable<T>;

/** A FIFO of waiters with O(1) withdrawal; each may carry a payload. */
export class Waiters<T, P = undefined> {
  #entries: (Entry<T> | undefined)[] = new Array(8).fill(undefined);
  #payloads: (P | undefined)[] | undefined;
  #mask = 7; // capacity - 1; capacity is a power of two
  #head = 0; // logical index of the oldest slot
  #tail = 0; // logical index one past the newest slot
  #live = 0;
  #nextPayload: P | undefined = undefined;
  #onWithdraw: (() => void) | undefined;
  // Shared by every bare waiter: no closure per wait.
  #executor = (resolve: Resolver<T>) => {
    this.push(resolve, this.#nextPayload);
  };

  /**
   * Makes an empty line. Its payload slots are made with the first payload
   * that is not `undefined`, so a line without payloads costs nothing more.
   *
   * @param onWithdraw Called after a cancelled waiter was withdrawn.
   */
  constructor(onWithdraw?: () => void) {
    this.#onWithdraw = onWithdraw;
  }

  /** How many waiters are blocked (withdrawn ones not counted). */
  get size(): number {
    return this.#live;
  }

  /** A promise that waits in line, uncancellable (see `park`). */
  wait(payload: P | undefined): Promise<T> {
    this.#nextPayload = payload;
    const promise = new Promise<T>(this.#executor);
    this.#nextPayload = undefined;
    return promise;
  }

  /** A promise that waits in line, withdrawn on cancellation (see `park`). */
  suspend(
    payload: P | undefined,
    options: SignalOptions | undefined,
  ): Promise<T> {
    const waiter = new LineWaiter<T, P>(this);
    const promise = waiter.wait(options) as Promise<T>;
    if (waiter.pending) waiter.index = this.push(waiter, payload);
    return promise;
  }

  /** Appends a waiter; returns its index, for {@linkcode Waiters.withdraw}. */
  push(entry: Entry<T>, payload?: P): number {
    if (this.#tail - this.#head > this.#mask) this.#grow();
    const index = this.#tail++;
    // `&` is right for any index below 2 ** 53: the capacity divides 2 ** 32.
    const slot = index & this.#mask;
    this.#entries[slot] = entry;
    if (this.#payloads !== undefined) this.#payloads[slot] = payload;
    else if (payload !== undefined) {
      this.#payloads = new Array(this.#mask + 1).fill(undefined);
      this.#payloads[slot] = payload;
    }
    this.#live++;
    return index;
  }

  /** Removes a waiter that has not been shifted yet (it was cancelled). */
  withdraw(index: number): void {
    if (index < this.#head || index >= this.#tail) return;
    const slot = index & this.#mask;
    if (this.#entries[slot] === undefined) return;
    this.#entries[slot] = undefined;
    if (this.#payloads !== undefined) this.#payloads[slot] = undefined;
    this.#live--;
    this.#trim();
    this.#onWithdraw?.();
  }

  /** The payload of the oldest waiter; only when `size > 0`. */
  peekPayload(): P | undefined {
    return this.#payloads?.[this.#head & this.#mask];
  }

  /** Removes the oldest waiter and returns it. */
  shift(): Entry<T> | undefined {
    if (this.#live === 0) return undefined;
    // Invariant: when a waiter is blocked, the slots at head and at tail - 1
    // hold live waiters (withdrawals leave holes only in between).
    const entries = this.#entries;
    const mask = this.#mask;
    let head = this.#head;
    const slot = head & mask;
    const entry = entries[slot];
    entries[slot] = undefined;
    if (this.#payloads !== undefined) this.#payloads[slot] = undefined;
    head++;
    if (--this.#live === 0) {
      this.#head = this.#tail = 0;
      return entry;
    }
    if (this.#tail - head !== this.#live) {
      while (entries[head & mask] === undefined) head++; // skip the holes
    }
    this.#head = head;
    return entry;
  }

  /**
   * Hands `value` to the oldest waiter. Returns `false` if nobody waits.
   * A waiter in line is always pending: a cancelled one has left it.
   */
  resolveNext(value: T | PromiseLike<T>): boolean {
    const entry = this.shift();
    if (entry === undefined) return false;
    if (typeof entry === "function") entry(value);
    else entry.resolve(value);
    return true;
  }

  /** Removes every waiter, resolving each with `value`, oldest first. */
  resolveAll(value: T | PromiseLike<T>): void {
    // Waiters added while doing so (by code run synchronously) stay.
    for (let n = this.#live; n > 0; n--) this.resolveNext(value);
  }

  /**
   * Removes every waiter, rejecting each with `error`, oldest first. Every
   * kind of waiter gets the same rejecting thenable, so that they settle in
   * the order they waited.
   */
  rejectAll(error: unknown): void {
    if (this.#live > 0) this.resolveAll(rejection(error));
  }

  #trim(): void {
    const entries = this.#entries;
    const mask = this.#mask;
    while (
      this.#head < this.#tail && entries[this.#head & mask] === undefined
    ) {
      this.#head++;
    }
    while (
      this.#tail > this.#head && entries[(this.#tail - 1) & mask] === undefined
    ) {
      this.#tail--;
    }
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
  }

  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const mask = capacity - 1;
    const entries: (Entry<T> | undefined)[] = new Array(capacity).fill(
      undefined,
    );
    const payloads = this.#payloads === undefined
      ? undefined
      : new Array<P | undefined>(capacity).fill(undefined);
    for (let i = this.#head; i < this.#tail; i++) {
      entries[i & mask] = this.#entries[i & this.#mask];
      if (payloads !== undefined) {
        payloads[i & mask] = this.#payloads![i & this.#mask];
      }
    }
    this.#entries = entries;
    this.#payloads = payloads;
    this.#mask = mask;
  }
}

/**
 * Whether a wait must reject at once: the ambient scope is cancelled, or
 * `options.signal` is aborted or not a signal. Then `refuse(options)` makes
 * the rejection.
 */
export function cancelled(options: SignalOptions | undefined): boolean {
  const signal = options?.signal;
  if (
    signal !== undefined && (!(signal instanceof AbortSignal) || signal.aborted)
  ) {
    return true;
  }
  return ambientCancelled();
}

const noop = () => {};

/** The rejection of a wait for which {@linkcode cancelled} returned true. */
export function refuse<T>(options: SignalOptions | undefined): Promise<T> {
  return suspend<T>(noop, options);
}

/**
 * Blocks on `waiters` until shifted and resolved. Outside every cancel scope
 * and without a signal nothing can cancel the wait, so the waiter is a bare
 * promise; otherwise it is one {@linkcode Waiter}, withdrawn on cancellation.
 */
export function park<T, P>(
  waiters: Waiters<T, P>,
  options: SignalOptions | undefined,
  payload?: P,
): Promise<T> {
  if (options?.signal === undefined && currentScope() === undefined) {
    return waiters.wait(payload);
  }
  return waiters.suspend(payload, options);
}
