// unittest.mock.AsyncMock for Deno: async mocks and spies that record calls,
// can be awaited for the n-th call, and assert with readable diffs.
import { AssertionError } from "node:assert";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { suspend } from "../async/cancel_scope.ts";

/** One recorded call of an {@linkcode AsyncMock}. */
export interface MockCall<A extends unknown[] = unknown[], R = unknown> {
  /** The arguments it was called with. */
  args: A;
  /** The `this` it was called with. */
  self: unknown;
  /** `"pending"` until the returned promise settles. */
  status: "pending" | "resolved" | "rejected";
  /** The value the call resolved with, once `status` is `"resolved"`. */
  result?: R;
  /** The error the call rejected with, once `status` is `"rejected"`. */
  error?: unknown;
  /** When the call started, as `Date.now()` (virtual under `FakeTime`). */
  start: number;
  /** When the call settled, as `Date.now()`; `undefined` while pending. */
  end?: number;
  /** Whether the returned promise was awaited (or `then` was called on it). */
  awaited: boolean;
}

/**
 * A callable async mock — Python's `unittest.mock.AsyncMock`. Calling it
 * returns a promise, records the call in {@linkcode AsyncMock.calls}, and
 * behaves as configured by `resolves`, `rejects`, `resolvesNext` or
 * `implementation` (it resolves with `undefined` by default).
 */
export interface AsyncMock<A extends unknown[] = unknown[], R = unknown> {
  /** Calls the mock. */
  (...args: A): Promise<R>;
  /** Every call so far, the first one first. */
  readonly calls: readonly MockCall<A, R>[];
  /** How many times the mock was called. */
  readonly callCount: number;
  /** How many of its promises were awaited — AsyncMock's `await_count`. */
  readonly awaitCount: number;
  /** The last call, if any. */
  readonly lastCall: MockCall<A, R> | undefined;
  /**
   * Makes every later call resolve with `value`.
   *
   * @param value The value.
   * @returns The mock, for chaining.
   */
  resolves(value: R): this;
  /**
   * Makes every later call reject with `error`.
   *
   * @param error The error.
   * @returns The mock, for chaining.
   */
  rejects(error: unknown): this;
  /**
   * Queues one outcome per call: a value resolves, an `Error` instance
   * rejects. Once the queue is used up, calls behave as before.
   *
   * @param outcomes The outcomes, in call order.
   * @returns The mock, for chaining.
   */
  resolvesNext(outcomes: Iterable<R | Error>): this;
  /**
   * Makes every later call run `fn` with the call's `this` and arguments.
   *
   * @param fn The implementation.
   * @returns The mock, for chaining.
   */
  implementation(fn: (...args: A) => R | PromiseLike<R>): this;
  /**
   * Resolves with the `n`-th call (from 1) as soon as it has started —
   * at once if it already has. For asserting on code that runs in the
   * background. Honours the ambient cancel scope and `options.signal`.
   *
   * @param n Which call to wait for; 1 by default.
   * @param options Cancellation.
   * @returns The call.
   */
  called(
    n?: number,
    options?: { signal?: AbortSignal },
  ): Promise<MockCall<A, R>>;
  /** Throws an `AssertionError` unless the mock was called. */
  assertCalled(): void;
  /** Throws an `AssertionError` unless the mock was called exactly once. */
  assertCalledOnce(): void;
  /**
   * Throws an `AssertionError`, with a diff, unless the last call had these
   * arguments (compared deeply and strictly).
   *
   * @param args The expected arguments.
   */
  assertCalledWith(...args: A): void;
  /** Throws an `AssertionError` unless a promise of the mock was awaited. */
  assertAwaited(): void;
  /** Forgets the calls and the queued outcomes; keeps the behaviour. */
  reset(): void;
}

/** A spy from {@linkcode spyAsync}: a mock that restores the method on `using`. */
export interface AsyncSpy<A extends unknown[] = unknown[], R = unknown>
  extends AsyncMock<A, R>, Disposable {
  /** Puts the original method back. Idempotent. */
  restore(): void;
}

type Behaviour<A extends unknown[], R> =
  | { kind: "resolve"; value: R }
  | { kind: "reject"; error: unknown }
  | { kind: "call"; fn: (...args: A) => R | PromiseLike<R> };

// A promise that notes when it is awaited: `await` calls `then` on a
// Promise subclass (a plain promise would take the internal fast path).
class TrackedPromise<T> extends Promise<T> {
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }

  onThen: (() => void) | undefined = undefined;

  override then<T1 = T, T2 = never>(
    onFulfilled?: ((value: T) => T1 | PromiseLike<T1>) | null,
    onRejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    this.onThen?.();
    return super.then(onFulfilled, onRejected);
  }
}

function describeCall(args: readonly unknown[]): string {
  return `(${args.map((arg) => inspect(arg, { depth: 4 })).join(", ")})`;
}

function fail(message: string, actual?: unknown, expected?: unknown): never {
  throw new AssertionError({ message, actual, expected, operator: "fail" });
}

function makeMock<A extends unknown[], R>(
  initial: Behaviour<A, R>,
): AsyncMock<A, R> {
  const calls: MockCall<A, R>[] = [];
  let behaviour = initial;
  let queue: (R | Error)[] = [];
  let awaitCount = 0;
  // Waiters of `called(n)`, by n.
  const waiters = new Map<number, Set<(call: MockCall<A, R>) => void>>();

  const run = (self: unknown, args: A): Promise<R> => {
    if (queue.length > 0) {
      const next = queue.shift()!;
      return next instanceof Error
        ? Promise.reject(next)
        : Promise.resolve(next);
    }
    switch (behaviour.kind) {
      case "resolve":
        return Promise.resolve(behaviour.value);
      case "reject":
        return Promise.reject(behaviour.error);
      case "call": {
        const fn = behaviour.fn;
        try {
          return Promise.resolve(fn.apply(self, args));
        } catch (error) {
          return Promise.reject(error);
        }
      }
    }
  };

  const mock = function (this: unknown, ...args: A): Promise<R> {
    const call: MockCall<A, R> = {
      args,
      self: this,
      status: "pending",
      start: Date.now(),
      awaited: false,
    };
    calls.push(call);
    const outcome = run(this, args);
    const tracked = new TrackedPromise<R>((resolve, reject) => {
      outcome.then((value) => {
        call.status = "resolved";
        call.result = value;
        call.end = Date.now();
        resolve(value);
      }, (error) => {
        call.status = "rejected";
        call.error = error;
        call.end = Date.now();
        reject(error);
      });
    });
    tracked.onThen = () => {
      tracked.onThen = undefined;
      call.awaited = true;
      awaitCount++;
    };
    const waiting = waiters.get(calls.length);
    if (waiting !== undefined) {
      waiters.delete(calls.length);
      for (const wake of waiting) wake(call);
    }
    return tracked;
  } as AsyncMock<A, R>;

  Object.defineProperties(mock, {
    calls: { get: () => calls },
    callCount: { get: () => calls.length },
    awaitCount: { get: () => awaitCount },
    lastCall: { get: () => calls.at(-1) },
  });
  mock.resolves = function (value) {
    behaviour = { kind: "resolve", value };
    return this;
  };
  mock.rejects = function (error) {
    behaviour = { kind: "reject", error };
    return this;
  };
  mock.resolvesNext = function (outcomes) {
    if (outcomes === null || typeof outcomes !== "object") {
      throw new TypeError(
        `Cannot queue outcomes: 'outcomes' must be iterable, got ${typeof outcomes}`,
      );
    }
    queue.push(...outcomes);
    return this;
  };
  mock.implementation = function (fn) {
    if (typeof fn !== "function") {
      throw new TypeError(
        `Cannot set the implementation: 'fn' must be a function, got ${typeof fn}`,
      );
    }
    behaviour = { kind: "call", fn };
    return this;
  };
  mock.called = (n = 1, options) => {
    if (!Number.isInteger(n) || n < 1) {
      return Promise.reject(
        new RangeError(
          `Cannot wait for a call: 'n' must be an integer >= 1, got ${n}`,
        ),
      );
    }
    if (calls.length >= n) {
      const call = calls[n - 1];
      return suspend((resolve) => resolve(call), options);
    }
    return suspend<MockCall<A, R>>((resolve) => {
      let waiting = waiters.get(n);
      if (waiting === undefined) waiters.set(n, waiting = new Set());
      waiting.add(resolve);
      return () => {
        waiting.delete(resolve);
        if (waiting.size === 0) waiters.delete(n);
      };
    }, options);
  };
  mock.assertCalled = () => {
    if (calls.length === 0) {
      fail("Expected the mock to have been called, but it was never called");
    }
  };
  mock.assertCalledOnce = () => {
    if (calls.length !== 1) {
      fail(
        `Expected the mock to have been called once, but it was called ${calls.length} times${
          calls.length === 0
            ? ""
            : ":\n" + calls.map((call) => "  " + describeCall(call.args))
              .join("\n")
        }`,
        calls.length,
        1,
      );
    }
  };
  mock.assertCalledWith = (...expected) => {
    const last = calls.at(-1);
    if (last === undefined) {
      fail(
        `Expected the mock to have been called with ${
          describeCall(expected)
        }, but it was never called`,
      );
    }
    try {
      assert.deepStrictEqual(last.args, expected);
    } catch (error) {
      if (!(error instanceof AssertionError)) throw error;
      throw new AssertionError({
        message:
          `Expected the last call of the mock to have other arguments.\n${error.message}`,
        actual: last.args,
        expected,
        operator: "fail", // the message has the diff already
      });
    }
  };
  mock.assertAwaited = () => {
    if (awaitCount === 0) {
      fail(
        `Expected a promise of the mock to have been awaited, but none was (${calls.length} calls)`,
      );
    }
  };
  mock.reset = () => {
    calls.length = 0;
    queue = [];
    awaitCount = 0;
  };
  return mock;
}

/**
 * Makes an async mock — Python's `unittest.mock.AsyncMock()`. Calls are
 * recorded with their arguments, outcome and start/end time (virtual under
 * `FakeTime`); `resolves`, `rejects`, `resolvesNext` and `implementation`
 * set what calls do, `await mock.called(n)` waits for the n-th call, and the
 * `assert*` methods throw an `AssertionError` with a readable diff.
 *
 * @example Stub a dependency and assert on its use
 * ```ts
 * import { mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * const fetchUser = mockAsync<[number], { name: string }>()
 *   .resolves({ name: "Ada" });
 * assert.deepEqual(await fetchUser(1), { name: "Ada" });
 * fetchUser.assertCalledOnce();
 * fetchUser.assertCalledWith(1);
 * fetchUser.assertAwaited();
 * assert.equal(fetchUser.calls[0].status, "resolved");
 * ```
 *
 * @example Fail twice, then succeed
 * ```ts
 * import { mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * const flaky = mockAsync().resolvesNext([
 *   new Error("down"),
 *   new Error("down"),
 *   "up",
 * ]);
 * await assert.rejects(flaky(), /down/);
 * await assert.rejects(flaky(), /down/);
 * assert.equal(await flaky(), "up");
 * ```
 *
 * @example Wait for a call made in the background
 * ```ts
 * import { createTask } from "@aio/std/async";
 * import { mockAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * const notify = mockAsync<[string], void>();
 * const task = createTask(() => notify("done"));
 * const call = await notify.called(1);
 * assert.deepEqual(call.args, ["done"]);
 * await task;
 * ```
 *
 * @param implementation What calls do; resolving with `undefined` by default.
 * @returns The mock.
 */
export function mockAsync<A extends unknown[] = unknown[], R = unknown>(
  implementation?: (...args: A) => R | PromiseLike<R>,
): AsyncMock<A, R> {
  if (implementation !== undefined && typeof implementation !== "function") {
    throw new TypeError(
      `Cannot make a mock: 'implementation' must be a function, got ${typeof implementation}`,
    );
  }
  return makeMock<A, R>(
    implementation === undefined
      ? { kind: "resolve", value: undefined as R }
      : { kind: "call", fn: implementation },
  );
}

interface SpyStack {
  had: boolean;
  original: unknown;
  spies: unknown[];
}

const spyStacks = new WeakMap<object, Map<PropertyKey, SpyStack>>();

/**
 * Replaces `object[method]` with an async mock that calls the original and
 * records each call — `unittest.mock.patch.object(..., wraps=...)` for
 * coroutines. `using` puts the original back at the end of the block, also
 * when the test throws. `resolves`, `rejects` and the rest replace the
 * pass-through behaviour.
 *
 * @example Spy on a method
 * ```ts
 * import { spyAsync } from "@aio/std/testing";
 * import assert from "node:assert/strict";
 *
 * const api = {
 *   async double(n: number): Promise<number> {
 *     return n * 2;
 *   },
 * };
 * {
 *   using spy = spyAsync(api, "double");
 *   assert.equal(await api.double(21), 42);
 *   spy.assertCalledWith(21);
 *   assert.equal(spy.calls[0].result, 42);
 * }
 * assert.equal(Object.hasOwn(api.double, "calls"), false); // restored
 * ```
 *
 * @param object The object that holds the method.
 * @param method The method's name.
 * @returns The spy, which is also installed as `object[method]`.
 */
export function spyAsync<
  T extends object,
  K extends {
    [P in keyof T]: T[P] extends (...args: never[]) => unknown ? P : never;
  }[keyof T],
>(
  object: T,
  method: K,
): AsyncSpy<
  T[K] extends (...args: infer A extends unknown[]) => unknown ? A : never,
  T[K] extends (...args: never[]) => infer R ? Awaited<R> : never
> {
  type A = T[K] extends (...args: infer P extends unknown[]) => unknown ? P
    : never;
  type R = T[K] extends (...args: never[]) => infer V ? Awaited<V> : never;
  if (
    object === null ||
    (typeof object !== "object" && typeof object !== "function")
  ) {
    throw new TypeError(
      `Cannot spy on a method: 'object' must be an object, got ${
        object === null ? "null" : typeof object
      }`,
    );
  }
  const original = object[method] as unknown;
  if (typeof original !== "function") {
    throw new TypeError(
      `Cannot spy on '${
        String(method)
      }': it must be a method, got ${typeof original}`,
    );
  }
  // Spies of one method form a stack: restoring one (in any order) takes it
  // out and puts back the spy below it, or the original once none is left.
  const methods = spyStacks.get(object) ??
    spyStacks.set(object, new Map()).get(object)!;
  let stack = methods.get(method);
  if (stack === undefined) {
    stack = { had: Object.hasOwn(object, method), original, spies: [] };
    methods.set(method, stack);
  }
  const chain = stack;
  const spy = makeMock<A, R>({
    kind: "call",
    fn: function (this: unknown, ...args: A) {
      // Calls through to what is below this spy now (a spy restored since
      // no longer records).
      const at = chain.spies.indexOf(spy);
      const below = at > 0 ? chain.spies[at - 1] : chain.original;
      return (below as (...args: A) => R).apply(this, args);
    },
  }) as AsyncSpy<A, R>;
  let restored = false;
  spy.restore = () => {
    if (restored) return;
    restored = true;
    const target = object as Record<PropertyKey, unknown>;
    chain.spies.splice(chain.spies.indexOf(spy), 1);
    const top = chain.spies.at(-1);
    if (top !== undefined) {
      target[method as PropertyKey] = top;
      return;
    }
    methods.delete(method);
    if (chain.had) target[method as PropertyKey] = chain.original;
    else delete target[method as PropertyKey];
  };
  chain.spies.push(spy);
  spy[Symbol.dispose] = spy.restore;
  (object as Record<PropertyKey, unknown>)[method as PropertyKey] = spy;
  return spy;
}
