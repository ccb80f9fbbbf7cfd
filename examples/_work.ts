// The work the workers example sends off the event loop: a module of plain
// functions, as a ProcessPoolExecutor's module would hold.

/**
 * The seed's `blocking_io`: a call that blocks its thread for `ms`; returns
 * when it started and ended (wall clock, shared with the caller).
 */
export function blockingIO(ms: number): { from: number; to: number } {
  const from = Date.now();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return { from, to: Date.now() };
}

/** The seed's `cpu_intensive`: `sum(i * i for i in range(n))`. */
export function cpuIntensive(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += i * i;
  return sum;
}

/** Naive Fibonacci, a classic CPU-bound benchmark. */
export function fib(n: number): number {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/** Never returns nor yields: only a process worker can be stopped. */
export function spin(): never {
  while (true) {
    // busy
  }
}
