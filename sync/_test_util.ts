// Helpers shared by the tests of sync/. Private; not part of the package.
import { CancelScope } from "../async/cancel_scope.ts";

/** A seeded pseudo-random generator (mulberry32): floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Lets pending promise reactions run: `rounds` turns of the microtask queue. */
export async function flush(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** A cancellable operation started by {@linkcode start}. */
export interface Op<T> {
  /** Settles with `{ ok: true, value }` or `{ ok: false, error }`. */
  result: Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;
  /** Whether it has settled. */
  settled: boolean;
  /** Cancels it: through its signal or its ambient scope. */
  cancel(): void;
}

/**
 * Starts `fn` so that it can be cancelled later, at random either through an
 * `AbortSignal` passed to it or through an ambient {@linkcode CancelScope}
 * around it (then `fn` gets no signal). `fn` is called synchronously.
 */
export function start<T>(
  random: () => number,
  fn: (signal: AbortSignal | undefined) => Promise<T>,
): Op<T> {
  let cancel: () => void;
  let promise: Promise<T>;
  if (random() < 0.5) {
    const controller = new AbortController();
    cancel = () => controller.abort();
    promise = fn(controller.signal);
  } else {
    const scope = new CancelScope();
    cancel = () => scope.cancel();
    promise = new Promise<T>((resolve, reject) => {
      scope.run(async () => {
        try {
          resolve(await fn(undefined));
        } catch (error) {
          reject(error);
        }
      });
    });
  }
  const op: Op<T> = {
    settled: false,
    cancel: () => cancel(),
    result: promise.then(
      (value) => {
        op.settled = true;
        return { ok: true as const, value };
      },
      (error) => {
        op.settled = true;
        return { ok: false as const, error };
      },
    ),
  };
  return op;
}

/** What {@linkcode churnGuards} leaves behind. */
export interface Churn<G> {
  /** Guards still held (none of them released). */
  held: G[];
  /** How many acquisitions succeeded. */
  acquired: number;
  /** How many acquisitions were started. */
  started: number;
}

/**
 * The property run of Lock and Semaphore: 500 random steps of acquiring
 * (cancellable by signal or scope), cancelling a pending acquirer, releasing
 * a held guard and letting microtasks run; `check(held)` after every step.
 * Then cancels every acquirer left and waits for all of them to settle.
 */
export async function churnGuards<G extends { release(): void }>(
  random: () => number,
  acquire: (signal: AbortSignal | undefined) => Promise<G>,
  check: (held: number) => void,
): Promise<Churn<G>> {
  const ops: Op<G>[] = [];
  const held: G[] = [];
  let acquired = 0;
  for (let step = 0; step < 500; step++) {
    const r = random();
    if (r < 0.35) {
      const op = start(random, acquire);
      op.result.then((result) => {
        if (result.ok) {
          held.push(result.value);
          acquired++;
        }
      });
      ops.push(op);
    } else if (r < 0.6) {
      const pending = ops.filter((op) => !op.settled);
      if (pending.length > 0) {
        pending[Math.floor(random() * pending.length)].cancel();
      }
    } else if (r < 0.8) {
      if (held.length > 0) {
        held.splice(Math.floor(random() * held.length), 1)[0].release();
      }
    } else {
      await flush(Math.floor(random() * 4));
    }
    check(held.length);
  }
  for (const op of ops) op.cancel();
  await Promise.all(ops.map((op) => op.result));
  return { held, acquired, started: ops.length };
}

/** What `Lock.run` and `Semaphore.run` look like to the tests. */
export type Run = (
  fn: () => Promise<void>,
  options: { signal?: AbortSignal },
) => Promise<void>;

/**
 * Takes a lock or permit through `run(fn)` instead of `acquire()`: resolves,
 * once `fn` is called, with a guard whose `release()` settles `fn`'s promise
 * (fulfilled or, at random, rejected); `run` then gives back what it held.
 * Rejects as `run` does when the wait is cancelled.
 */
export function holdViaRun(
  random: () => number,
  run: Run,
  signal: AbortSignal | undefined,
): Promise<{ release(): void }> {
  const fails = random() < 0.5;
  return new Promise((resolve, reject) => {
    run(
      () =>
        new Promise<void>((done, fail) =>
          resolve({ release: fails ? () => fail(new Error("job")) : done })
        ),
      { signal },
    ).catch(reject); // after `fn` was called this is the job's error: ignored
  });
}
