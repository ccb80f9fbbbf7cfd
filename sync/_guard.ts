// The guard that Lock.acquire() and Semaphore.acquire() resolve with. Private
// to sync/; the public type is `Guard` in lock.ts.

/** What a guard releases. */
export interface Releasable {
  release(): void;
}

/** Owes exactly one `release()` to its owner. */
export class ReleaseGuard implements Disposable {
  #owner: Releasable | undefined;

  constructor(owner: Releasable) {
    this.#owner = owner;
  }

  get released(): boolean {
    return this.#owner === undefined;
  }

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

  [Symbol.dispose](): void {
    if (this.#owner !== undefined) this.release();
  }
}
