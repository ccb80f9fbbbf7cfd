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
