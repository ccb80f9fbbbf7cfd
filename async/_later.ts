// A call kept for later, for debounce() and throttle(): the arguments and the
// caller's async context (so `fn` runs in the caller's cancel scope, as if
// called there), one host timer, and a cancel listener that drops the call
// when that scope is cancelled first.
import { AsyncLocalStorage } from "node:async_hooks";
import {
  addListener,
  type CancelListener,
  currentScope,
  isThenable,
  removeListener,
  reportException,
} from "./_internal.ts";

type Scope = NonNullable<ReturnType<typeof currentScope>>;
type Snapshot = <R>(fn: () => R) => R;

/**
 * Reports the rejection of `result` when it is a promise: nobody awaits it.
 *
 * @param result What the function returned.
 * @param what Names the caller in the report, e.g. "A debounced function".
 */
export function reportRejection(result: unknown, what: string): void {
  if (isThenable(result)) {
    result.then(
      undefined,
      (error) => reportException({ message: `${what} rejected`, error }),
    );
  }
}

/**
 * Calls `fn`, reporting what it throws or rejects with instead of letting it
 * escape into a timer callback, where it would end the process.
 *
 * @param fn The function.
 * @param args Its arguments.
 * @param what Names the caller in the report, e.g. "A debounced function".
 */
export function callReporting<A extends unknown[]>(
  fn: (...args: A) => unknown,
  args: A,
  what: string,
): void {
  try {
    reportRejection(fn(...args), what);
  } catch (error) {
    reportException({ message: `${what} threw`, error });
  }
}

/** One call of `fn` kept for later. */
export class LaterCall<A extends unknown[]> implements
  Exclude<
    CancelListener,
    (error: unknown) => void
  > {
  #fn: (...args: A) => unknown;
  #what: string;
  #args: A | undefined = undefined;
  #run: Snapshot | undefined = undefined;
  #scope: Scope | undefined = undefined;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #onFire: () => void;

  /**
   * @param fn What to call.
   * @param what Names the caller in error reports.
   * @param onFire Called after the timer made the call.
   */
  constructor(fn: (...args: A) => unknown, what: string, onFire: () => void) {
    this.#fn = fn;
    this.#what = what;
    this.#onFire = onFire;
  }

  /** Whether a call is kept. */
  get pending(): boolean {
    return this.#args !== undefined;
  }

  /**
   * Keeps `args` as the call to make, in the caller's context and scope,
   * replacing the one kept before; in a cancelled scope, keeps nothing.
   */
  keep(args: A): void {
    this.#unlisten();
    const scope = currentScope();
    if (scope?.cancelled) {
      // Made where nothing may run any more: dropped, with the one before.
      this.cancel();
      return;
    }
    this.#args = args;
    this.#run = AsyncLocalStorage.snapshot() as Snapshot;
    this.#scope = scope;
    scope?.[addListener](this);
  }

  /** (Re)starts the timer: the kept call is made in `ms` milliseconds. */
  arm(ms: number): void {
    this.#disarm();
    this.#timer = setTimeout(this.#fire, ms);
  }

  /** Drops the kept call and its timer. */
  cancel(): void {
    this.#disarm();
    this.#unlisten();
    this.#args = undefined;
    this.#run = undefined;
  }

  /** The scope of the kept call was cancelled: the call is dropped. */
  onCancel(): void {
    this.#scope = undefined; // the scope drops its listeners itself
    this.cancel();
  }

  /**
   * Makes the kept call now, in its caller's context; its synchronous error
   * is thrown (as calling `fn` would), a rejection is reported.
   *
   * @returns Whether a call was kept.
   */
  flush(): boolean {
    const args = this.#args;
    const run = this.#run;
    if (args === undefined || run === undefined) return false;
    this.cancel();
    run(() => reportRejection(this.#fn(...args), this.#what));
    return true;
  }

  #fire = (): void => {
    this.#timer = undefined;
    const args = this.#args;
    const run = this.#run;
    this.cancel();
    if (args !== undefined && run !== undefined) {
      run(() => callReporting(this.#fn, args, this.#what));
    }
    this.#onFire();
  };

  #disarm(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  #unlisten(): void {
    const scope = this.#scope;
    if (scope !== undefined) {
      this.#scope = undefined;
      scope[removeListener](this);
    }
  }
}
