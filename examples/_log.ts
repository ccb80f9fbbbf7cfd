// Shared by the examples: a logger that prints the time since the example
// started, so each line shows when it happened.

/** A logger that prefixes each line with the milliseconds since it was made. */
export function stopwatch(title: string): (line: string) => void {
  const start = performance.now();
  console.log(`\n== ${title}`);
  return (line) => {
    const ms = (performance.now() - start).toFixed(0).padStart(5);
    console.log(`${ms} ms  ${line}`);
  };
}
