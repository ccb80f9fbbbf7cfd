// aiofiles: the seed's file examples in a temp folder — write a file, read
// it whole, read it line by line, then read several files concurrently
// (one of them missing: gather returns its error instead of failing).
// Every read and write here obeys the ambient cancel scope.
import { gather } from "@aio/std/async";
import { open, readText, tempDir, writeText } from "@aio/std/io/files";
import { stopwatch } from "./_log.ts";

/** Runs the seed's aiofiles examples; returns what they read. */
export async function main(): Promise<{
  contents: string;
  lines: string[];
  sizes: Array<[string, number] | string>;
  config: string;
}> {
  const log = stopwatch("aiofiles: open, read, lines, concurrent reads");
  await using dir = await tempDir({ prefix: "aio-example-" });
  const example = `${dir.path}/example.txt`;

  // write_file(): async with aiofiles.open('output.txt', mode='w') as f
  {
    await using f = await open(example, "w");
    await f.write("Hello, async world!\n");
    await f.write("A second line\r\nand a third");
  }
  log("wrote example.txt");

  // read_file(): contents = await f.read()
  let contents: string;
  {
    await using f = await open(example, "r");
    contents = await f.read();
  }
  log(`read ${contents.length} characters`);

  // read_lines(): async for line in f
  const lines: string[] = [];
  {
    await using f = await open(example, "r");
    for await (const line of f) lines.push(line.trim());
  }
  log(`lines: ${JSON.stringify(lines)}`);

  // Concurrent file operations: gather(*[read_file(f) …], return_exceptions=True)
  await writeText(`${dir.path}/file1.txt`, "one");
  await writeText(`${dir.path}/file2.txt`, "two, longer");
  async function readFile(name: string): Promise<[string, number]> {
    await using f = await open(`${dir.path}/${name}`, "r");
    const content = await f.read();
    return [name, content.length];
  }
  const results = await gather(
    ...["file1.txt", "file2.txt", "file3.txt"].map((name) => () =>
      readFile(name)
    ),
    { returnExceptions: true },
  );
  const sizes = results.map((result) =>
    result instanceof Error ? result.constructor.name : result
  );
  for (const size of sizes) {
    log(
      typeof size === "string"
        ? `file3.txt: ${size}`
        : `${size[0]}: ${size[1]} characters`,
    );
  }
  // Beyond the seed: replace a file atomically (temp file, fsync, rename,
  // fsync of the folder) — a crash leaves the old version or the new one.
  const config = `${dir.path}/config.json`;
  await writeText(config, '{"version":1}');
  await writeText(config, '{"version":2}', { atomic: true });
  const now = await readText(config);
  log(`config.json replaced atomically: ${now}`);
  return { contents, lines, sizes, config: now };
}

if (import.meta.main) await main();
