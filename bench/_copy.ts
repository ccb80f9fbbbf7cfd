// What the COPY benchmarks share (bench/compare_postgres.ts and
// bench/postgres_copy_bench.ts).

/** COPY's text format of the records, as a peer without COPY helpers needs. */
export function copyText(records: [number, string][]): string {
  let text = "";
  for (const [a, b] of records) text += `${a}\t${b}\n`;
  return text;
}

/** Reads a stream to its end; returns how many bytes it gave. */
export async function drain(
  stream: AsyncIterable<Uint8Array>,
): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += chunk.length;
  return bytes;
}

/**
 * Ends a Node COPY FROM stream (pg-copy-streams) with `text` and waits until
 * the server has taken it all.
 */
export function endCopy(
  stream: {
    on(event: "error" | "finish", listener: (error?: unknown) => void): void;
    end(text: string): void;
  },
  text: string,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    stream.on("error", reject);
    stream.on("finish", () => resolve());
    stream.end(text);
  });
}
