// The FIFO of blocked waiters shared by every primitive of sync/, and the two
// ways into it: `park` (block, cancellable) and `cancelled` (the fast-path
// check). Private to sync/.
//
// A waiter is only its promise's resolve function, kept in a ring buffer
// addressed by ever-growing logical indices, so that a cancelled waiter can be
// withdrawn in O(1) by leaving a hole (skipped by `shift`). Rejecting a waiter
// resolves it with a thenable that rejects, so that no reject function needs
// to be kept: a blocked waiter costs its promise, its resolve function and one
// slot.
import {
  currentScope,
  type SignalOptions,
  suspend,
} from "../async/cancel_scope.ts";

/** Settles a waiter: a value, or a {@linkcode rejection} to make it reject. */
export type Resolver<T> = (value: T | PromiseLike<T>) => void;

class Rejection implements PromiseLike<never> {
  #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }
  // deno-lint-ignore no-explicit-any
  then(_onFulfilled?: unknown, onRejected?: (error: unknown) => any): any {
    onRejected?.(this.#error);
  }
}

/** What to resolve a waiter with so that its promise rejects with `error`. */
export function rejection(error: unknown): PromiseLike<never> {
  return new Rejection(error);
}

/** A FIFO of waiters with O(1) withdrawal; each may carry a payload. */
export class Waiters<T, P = undefined> {
  #fns: (Resolver<T> | undefined)[] = new Array(8).fill(undefined);
  #payloads: (P | undefined)[] | undefined;
  #mask = 7; // capacity - 1; capacity is a power of two
  #head = 0; // logical index of the oldest slot
  #tail = 0; // logical index one past the newest slot
  #live = 0;
  #nextPayload: P | undefined = undefined;
  #onWithdraw: (() => void) | undefined;
  // Shared by every waiter: no closure per wait but the withdrawal's.
  #executor = (resolve: Resolver<T>) => {
    this.push(resolve, this.#nextPayload);
  };
  #setup = (resolve: (value: T) => void) => {
    // suspend passes the value on to the promise, so a rejection works.
    const index = this.push(resolve as Resolver<T>, this.#nextPayload);
    return () => this.withdraw(index);
  };

  /**
   * @param withPayloads Whether waiters carry a payload.
   * @param onWithdraw Called after a cancelled waiter was withdrawn.
   */
  constructor(withPayloads = false, onWithdraw?: () => void) {
    if (withPayloads) this.#payloads = new Array(8).fill(undefined);
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

  /** Appends a waiter; returns its index, for {@linkcode Waiters.withdraw}. */
  push(fn: Resolver<T>, payload?: P): number {
    if (this.#tail - this.#head > this.#mask) this.#grow();
    const index = this.#tail++;
    // `&` is right for any index below 2 ** 53: the capacity divides 2 ** 32.
    const slot = index & this.#mask;
    this.#fns[slot] = fn;
    if (this.#payloads !== undefined) this.#payloads[slot] = payload;
    this.#live++;
    return index;
  }

  /** A promise that waits in line, withdrawn on cancellation (see `park`). */
  suspend(payload: P | undefined, options: SignalOptions): Promise<T> {
    this.#nextPayload = payload;
    try {
      return suspend<T>(this.#setup, options);
    } finally {
      this.#nextPayload = undefined;
    }
  }

  /** Removes a waiter that has not been shifted yet (it was cancelled). */
  withdraw(index: number): void {
    if (index < this.#head || index >= this.#tail) return;
    const slot = index & this.#mask;
    if (this.#fns[slot] === undefined) return;
    this.#fns[slot] = undefined;
    if (this.#payloads !== undefined) this.#payloads[slot] = undefined;
    this.#live--;
    this.#trim();
    this.#onWithdraw?.();
  }

  /** The payload of the oldest waiter; only when `size > 0`. */
  peekPayload(): P {
    return this.#payloads![this.#head & this.#mask] as P;
  }

  /** Removes the oldest waiter and returns its resolve function. */
  shift(): Resolver<T> | undefined {
    if (this.#live === 0) return undefined;
    // Invariant: when a waiter is blocked, the slots at head and at tail - 1
    // hold live waiters (withdrawals leave holes only in between).
    const fns = this.#fns;
    const mask = this.#mask;
    let head = this.#head;
    const slot = head & mask;
    const fn = fns[slot];
    fns[slot] = undefined;
    if (this.#payloads !== undefined) this.#payloads[slot] = undefined;
    head++;
    if (--this.#live === 0) {
      this.#head = this.#tail = 0;
      return fn;
    }
    if (this.#tail - head !== this.#live) {
      while (fns[head & mask] === undefined) head++; // skip the holes
    }
    this.#head = head;
    return fn;
  }

  /** Removes every waiter, resolving each with `value`, oldest first. */
  resolveAll(value: T | PromiseLike<T>): void {
    // Waiters added while doing so (by code run synchronously) stay.
    for (let n = this.#live; n > 0; n--) this.shift()!(value);
  }

  #trim(): void {
    const fns = this.#fns;
    const mask = this.#mask;
    while (this.#head < this.#tail && fns[this.#head & mask] === undefined) {
      this.#head++;
    }
    while (
      this.#tail > this.#head && fns[(this.#tail - 1) & mask] === undefined
    ) {
      this.#tail--;
    }
    if (this.#head === this.#tail) this.#head = this.#tail = 0;
  }

  #grow(): void {
    const capacity = (this.#mask + 1) * 2;
    const mask = capacity - 1;
    const fns: (Resolver<T> | undefined)[] = new Array(capacity).fill(
      undefined,
    );
    const payloads = this.#payloads === undefined
      ? undefined
      : new Array<P | undefined>(capacity).fill(undefined);
    for (let i = this.#head; i < this.#tail; i++) {
      fns[i & mask] = this.#fns[i & this.#mask];
      if (payloads !== undefined) {
        payloads[i & mask] = this.#payloads![i & this.#mask];
      }
    }
    this.#fns = fns;
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
  return currentScope()?.cancelled === true;
}

const noop = () => {};

/** The rejection of a wait for which {@linkcode cancelled} returned true. */
export function refuse<T>(options: SignalOptions | undefined): Promise<T> {
  return suspend<T>(noop, options);
}

/**
 * Blocks on `waiters` until shifted and resolved. Outside every cancel scope
 * and without a signal nothing can cancel the wait, so the waiter is a bare
 * promise; otherwise it goes through `suspend`, and cancellation withdraws it.
 */
export function park<T, P>(
  waiters: Waiters<T, P>,
  options: SignalOptions | undefined,
  payload?: P,
): Promise<T> {
  if (options?.signal === undefined && currentScope() === undefined) {
    return waiters.wait(payload);
  }
  return waiters.suspend(payload, options!);
}
