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
