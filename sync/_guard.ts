// The guard that Lock.acquire() and Semaphore.acquire() resolve with, and the
// holder behind their run(). Private to sync/; the public type is `Guard` in
// lock.ts.

/** What a guard releases. */
export interface Releasable {
  /** Gives back what the guard holds. */
  release(): void;
}

/** Owes exactly one `release()` to its owner. */
export class ReleaseGuard implements Disposable {
  #owner: Releasable | undefined;

  /**
   * Makes a guard that owes one release to `owner`.
   *
   * @param owner What to release.
   */
  constructor(owner: Releasable) {
    this.#owner = owner;
  }

  /** Whether the guard was released. */
  get released(): boolean {
    return this.#owner === undefined;
  }

  /** Releases the owner; throws if the guard was already released. */
  release(): void {
    const owner = this.#owner;
    if (owner === undefined) {
      throw new Error(
        "Cannot release the guard: it was already released, got a released guard",
      );
    }
    this.#owner = undefined;
    owner.release();
  }

  /** Releases the owner unless the guard was already released. */
  [Symbol.dispose](): void {
    if (this.#owner !== undefined) this.release();
  }
}

/** A function given to `run()`. */
export type Job = () => unknown;

/**
 * Calls functions on behalf of an owner that has already given them what they
 * hold (a lock, a permit), and releases it once each call's result settles.
 * Its callbacks are made once per owner, not once per call.
 */
export class Holder {
  #owner: Releasable;
  /**
   * Calls a job that waited in line, as the callback of the waiter's
   * promise: the owner resolves the waiter with the job itself (see
   * {@linkcode inLine}), so no closure is made per waiting job.
   */
  start = (job: Job): Promise<unknown> => this.call(job);
  #fulfilled = (value: unknown): unknown => {
    this.#owner.release();
    return value;
  };
  #rejected = (error: unknown): never => {
    this.#owner.release();
    throw error;
  };

  /**
   * Makes a holder for `owner`.
   *
   * @param owner What to release after each call.
   */
  constructor(owner: Releasable) {
    this.#owner = owner;
  }

  /**
   * Calls `fn`, which already holds what the owner gives, in a microtask —
   * never synchronously, so that a caller sees one timing whether or not
   * `run()` had to wait (as p-limit and async-mutex do) — and releases the
   * owner once its result settles.
   *
   * @param fn The function; called in the caller's context.
   * @returns `fn`'s result.
   */
  later<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    return Promise.resolve(inLine(fn)).then(this.start) as Promise<T>;
  }

  /**
   * Calls `fn` and releases the owner once its result settles (at once if
   * `fn` throws).
   *
   * @param fn The function; called synchronously, in the caller's context.
   * @returns `fn`'s result.
   */
  call<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    let result: T | PromiseLike<T>;
    try {
      result = fn();
    } catch (error) {
      this.#owner.release();
      return Promise.reject(error);
    }
    return Promise.resolve(result).then(
      this.#fulfilled,
      this.#rejected,
    ) as Promise<T>;
  }
}

/**
 * What a waiting job is kept as in its owner's line, to resolve its waiter
 * with: the function itself, unless it has a `then` of its own (a promise
 * would adopt it as a thenable), then a plain wrapper.
 *
 * @param fn The job.
 * @returns A function without `then` that calls `fn`.
 */
export function inLine(fn: Job): Job {
  return typeof (fn as { then?: unknown }).then === "function"
    ? () => fn()
    : fn;
}

/**
 * The rejection of a `run()` given something that is not a function.
 *
 * @param what The owner's class name, for the message.
 * @param fn What was given.
 * @returns A promise rejected with a TypeError.
 */
export function notAFunction(what: string, fn: unknown): Promise<never> {
  return Promise.reject(
    new TypeError(
      `Cannot run on the ${what}: 'fn' must be a function, got ${typeof fn}`,
    ),
  );
}
