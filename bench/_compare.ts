// Shared helpers of the comparison script.

/** One line of the comparison table. */
export interface Row {
  /** What is measured, e.g. "TaskGroup 100k trivial tasks vs Promise.all". */
  name: string;
  /** Our figure, with its unit, e.g. "41.2 ms". */
  ours: string;
  /** The anchor's figure, with what the anchor is, e.g. "Promise.all 17.0 ms". */
  anchor: string;
  /** The ratio the goal is stated in (e.g. ours/anchor time, or anchor/ours speed). */
  ratio: number;
  /** The goal, in words, e.g. "<= 2.5x". */
  goal: string;
  /** Whether the goal is met; `undefined` for a row that only gives context. */
  met: boolean | undefined;
  /**
   * The goal as a number on the ratio's scale, and which side is good, for
   * the chart; read from `goal` ("<= 2.5x", ">= 10x") when left out.
   */
  target?: { value: number; better: "lower" | "higher" };
}

/** Timings of one contender: median and range, in milliseconds. */
export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** Collects garbage if the script runs with --v8-flags=--expose-gc. */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Collects the young generation only (with --v8-flags=--expose-gc): the
 * garbage one run leaves to the next, without the side effect of a full
 * collection at an idle moment, which drops the hidden classes that no live
 * object uses and so deoptimizes the code built on them (measured with
 * --trace-deopt: "embedded weak objects cleared" in every module). Under
 * steady load that never happens, so a full gc() before each run would bill
 * every run a fresh warm-up, and the contender with more JavaScript more.
 */
export function minorGc(): void {
  (globalThis as { gc?: (options: { type: string }) => void }).gc?.({
    type: "minor",
  });
}

/** Writes a progress note to stderr (the table goes to stdout). */
export function progress(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text));
}

/**
 * Times several contenders fairly: round-robin (each round runs every
 * contender once, in an order that rotates, so none always runs on the heap
 * another left behind), garbage collected before each timed run (so no run
 * pays for the previous one's garbage), `warmup` untimed rounds first.
 * Prints a dot per round to stderr. A contender that times itself (another
 * process, say Python) returns `{ selfTimedMs }`, which is used instead of
 * the wall time of the call: so it is interleaved with the others too, and
 * a load that comes and goes on the machine hits every contender alike.
 *
 * @param contenders The functions to time; each call is one run.
 * @param runs Timed rounds.
 * @param warmup Untimed rounds.
 * @returns Median and range of each contender, in the order given.
 */
export async function measure(
  contenders: (() => unknown)[],
  runs = 11,
  warmup = 3,
): Promise<Stats[]> {
  const times: number[][] = contenders.map(() => []);
  for (let round = 0; round < warmup + runs; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (k + round) % contenders.length;
      gc();
      const start = performance.now();
      const result = await contenders[i]();
      const self = (result as { selfTimedMs?: unknown } | undefined)
        ?.selfTimedMs;
      const elapsed = typeof self === "number"
        ? self
        : performance.now() - start;
      if (round >= warmup) times[i].push(elapsed);
    }
    progress(".");
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return {
      median: t[Math.floor(t.length / 2)],
      min: t[0],
      max: t[t.length - 1],
      runs: t.length,
    };
  });
}

/** Formats a contender's median and range: "41.2 ms (39.8–45.0)". */
export function msRange(stats: Stats): string {
  return `${stats.median.toFixed(1)} ms (${stats.min.toFixed(1)}–${
    stats.max.toFixed(1)
  })`;
}

/**
 * Runs `fn` `warmup` times, then `runs` times, and returns the median time in
 * milliseconds.
 */
export async function medianMs(
  fn: () => unknown,
  runs = 15,
  warmup = 3,
): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Runs a Python 3 script and returns its standard output, trimmed. */
export async function python(script: string): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `python3 failed (${code}): ${new TextDecoder().decode(stderr)}`,
    );
  }
  return new TextDecoder().decode(stdout).trim();
}

/** Formats milliseconds. */
export function ms(value: number): string {
  return `${value.toFixed(1)} ms`;
}

/**
 * A contender for {@linkcode measure} that runs a Python 3 script printing
 * one number, the milliseconds its timed part took.
 *
 * @param script The script.
 * @returns The contender.
 */
export function pythonContender(
  script: string,
): () => Promise<{ selfTimedMs: number }> {
  return async () => {
    const out = await python(script);
    const selfTimedMs = Number(out);
    if (!Number.isFinite(selfTimedMs)) {
      throw new Error(`Cannot time the Python contender: it printed ${out}`);
    }
    return { selfTimedMs };
  };
}
