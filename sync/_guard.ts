// The guard that Lock.acquire() and Semaphore.acquire() resolve with. Private
// to sync/; the public type is `Guard` in lock.ts.

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
