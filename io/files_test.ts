import assert from "node:assert/strict";
import {
  CancelledError,
  CancelScope,
  checkpoint,
  gather,
  timeout,
  TimeoutError,
} from "../async/mod.ts";
import {
  appendText,
  type AsyncFile,
  open,
  readBytes,
  readText,
  tempDir,
  tempFile,
  writeBytes,
  writeText,
} from "./files.ts";

const encoder = new TextEncoder();

Deno.test("the seed's aiofiles examples: write, read, read lines, read files concurrently", async () => {
  await using dir = await tempDir();
  const example = `${dir.path}/example.txt`;
  {
    await using f = await open(example, "w");
    await f.write("Hello, async world!\n");
  }
  {
    await using f = await open(example, "r");
    assert.equal(await f.read(), "Hello, async world!\n");
  }
  {
    await using f = await open(example, "r");
    const lines: string[] = [];
    for await (const line of f) lines.push(line.trim());
    assert.deepEqual(lines, ["Hello, async world!"]);
  }
  const files = ["file1.txt", "file2.txt", "file3.txt"];
  await writeText(`${dir.path}/file1.txt`, "one");
  await writeText(`${dir.path}/file2.txt`, "three");
  async function readOne(name: string): Promise<[string, number]> {
    await using f = await open(`${dir.path}/${name}`, "r");
    return [name, (await f.read()).length];
  }
  const results = await gather(
    ...files.map((name) => () => readOne(name)),
    { returnExceptions: true },
  );
  assert.deepEqual(results.slice(0, 2), [["file1.txt", 3], ["file2.txt", 5]]);
  assert.ok(results[2] instanceof Deno.errors.NotFound);
});

Deno.test("open: each mode reads, writes, creates and truncates as Python's", async (t) => {
  await using dir = await tempDir();
  const path = `${dir.path}/f.txt`;
  await t.step("r needs the file; w creates and truncates", async () => {
    await assert.rejects(open(path, "r"), Deno.errors.NotFound);
    await writeText(path, "old content");
    {
      await using f = await open(path, "w");
      await f.write("new");
    }
    assert.equal(await readText(path), "new");
  });
  await t.step("a appends at the end, created if missing", async () => {
    {
      await using f = await open(path, "a");
      assert.equal(await f.tell(), 3);
      await f.write("+more");
    }
    assert.equal(await readText(path), "new+more");
    await appendText(`${dir.path}/fresh.txt`, "x");
    assert.equal(await readText(`${dir.path}/fresh.txt`), "x");
  });
  await t.step("x refuses an existing file", async () => {
    await assert.rejects(open(path, "x"), Deno.errors.AlreadyExists);
    await using f = await open(`${dir.path}/new.txt`, "x");
    await f.write("made");
  });
  await t.step(
    "r+ reads and writes in place at the logical position",
    async () => {
      await writeText(path, "0123456789");
      {
        await using f = await open(path, "r+");
        assert.equal(await f.read(3), "012"); // the whole file was read ahead
        await f.write("abc"); // lands at 3, not at the end
        assert.equal(await f.tell(), 6);
        assert.equal(await f.read(), "6789");
      }
      assert.equal(await readText(path), "012abc6789");
    },
  );
  await t.step("w+ truncates, then reads what it wrote", async () => {
    await using f = await open(path, "w+");
    await f.write("fresh");
    await f.seek(0);
    assert.equal(await f.read(), "fresh");
  });
  await t.step("a+ appends and reads after a seek", async () => {
    await using f = await open(path, "a+");
    await f.write("!");
    await f.seek(0);
    assert.equal(await f.read(), "fresh!");
    await f.seek(0);
    await f.write("?"); // O_APPEND: still at the end
    await f.seek(0);
    assert.equal(await f.read(), "fresh!?");
  });
  await t.step("b reads and writes bytes", async () => {
    await using f = await open(path, "w+b");
    await f.write(new Uint8Array([1, 2, 3, 4, 5]));
    await f.seek(1);
    assert.deepEqual(await f.read(2), new Uint8Array([2, 3]));
    assert.deepEqual(await f.read(), new Uint8Array([4, 5]));
    assert.deepEqual(await f.read(), new Uint8Array(0));
  });
});

Deno.test("open: a bad mode, path or argument is a clear error", async () => {
  await using dir = await tempDir();
  for (const mode of ["", "z", "rw", "r++", "rbt", "br", "+r", "R"]) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      open(`${dir.path}/a`, mode as any),
      (error: Error) =>
        error instanceof TypeError && error.message.includes("'mode'") &&
        error.message.includes(JSON.stringify(mode)),
      mode,
    );
  }
  // deno-lint-ignore no-explicit-any
  await assert.rejects(open(42 as any), TypeError);
  await assert.rejects(
    open(dir.path, "r", { encoding: "klingon" }),
    (error: Error) =>
      error instanceof RangeError && /klingon/.test(error.message),
  );
  const missing = `${dir.path}/missing.txt`;
  await assert.rejects(open(missing), (error: Error & { code?: string }) => {
    assert.ok(error instanceof Deno.errors.NotFound);
    assert.ok(
      error.message.startsWith(`Cannot open '${missing}' with mode 'r'`),
    );
    assert.equal(error.code, "ENOENT");
    assert.ok(error.cause instanceof Deno.errors.NotFound);
    return true;
  });
  await assert.rejects(
    open(`${dir.path}/no/such/dir.txt`, "w"),
    Deno.errors.NotFound,
  );
  await assert.rejects(readText(missing), /Cannot open '.*missing.txt'/);
  await assert.rejects(
    open(dir.path),
    (e: Error) =>
      e instanceof Deno.errors.IsADirectory && e.message.includes(dir.path),
  );
  await assert.rejects(open(dir.path, "w"), Deno.errors.IsADirectory);
});

Deno.test("AsyncFile: operations the mode does not allow, or on a closed file, are refused", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  await writeText(path, "text");
  {
    await using f = await open(path, "r");
    await assert.rejects(
      f.write("x"),
      (e: Error) =>
        e instanceof Deno.errors.NotSupported && e.message.includes("mode 'r'"),
    );
    await assert.rejects(f.truncate(), Deno.errors.NotSupported);
    // deno-lint-ignore no-explicit-any
    await assert.rejects(f.write(new Uint8Array(1) as any), TypeError);
    await assert.rejects(f.read(-1), RangeError);
    // deno-lint-ignore no-explicit-any
    await assert.rejects(f.seek(0, "middle" as any), TypeError);
  }
  {
    await using f = await open(path, "w");
    await assert.rejects(f.read(), Deno.errors.NotSupported);
    await assert.rejects(f.lines().next(), Deno.errors.NotSupported);
  }
  {
    await using f = await open(path, "rb");
    await assert.rejects(f.readLine(), /text-mode file/);
  }
  const f = await open(path);
  await f.close();
  await f.close(); // twice is fine
  await assert.rejects(
    f.read(),
    (e: Error) =>
      e instanceof Deno.errors.BadResource && e.message.includes(path) &&
      e.message.includes("closed"),
  );
});

Deno.test("AsyncFile.lines: every newline case through the file, read-ahead of 1..17 bytes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/lines.txt`;
  const text = "a\nb\r\nc\rd\n\n\r\r\né€😀\r\nlast";
  await writeText(path, text);
  for (let size = 1; size <= 17; size++) {
    {
      await using f = await open(path, "r", { bufferSize: size });
      const lines: string[] = [];
      for await (const line of f) lines.push(line);
      assert.deepEqual(
        lines,
        ["a", "b", "c", "d", "", "", "", "é€😀", "last"],
        `bufferSize ${size}`,
      );
    }
    {
      await using f = await open(path, "r", { bufferSize: size });
      const lines: string[] = [];
      for await (const line of f.lines({ keepEnds: true })) lines.push(line);
      assert.equal(lines.join(""), text, `bufferSize ${size}`);
    }
  }
});

Deno.test("AsyncFile.lines: a 100 MB single line, then a short one", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/big.txt`;
  const size = 100 * (1 << 20);
  {
    await using f = await open(path, "wb");
    await f.write(new Uint8Array(size).fill(0x78));
    await f.write(encoder.encode("\r\nend"));
  }
  await using f = await open(path, "r", { bufferSize: 1 << 20 });
  const lengths: number[] = [];
  for await (const line of f) lengths.push(line.length);
  assert.deepEqual(lengths, [size, 3]);
});

Deno.test("AsyncFile: read(n) counts characters in text mode and bytes in bytes mode; tell is in bytes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  await writeText(path, "é😀x\nß\n");
  {
    await using f = await open(path, "r", { bufferSize: 3 });
    assert.equal(await f.read(2), "é😀");
    assert.equal(await f.tell(), 6);
    assert.equal(await f.readLine(), "x\n");
    assert.equal(await f.tell(), 8);
    for await (const line of f) assert.equal(line, "ß");
    assert.equal(await f.tell(), 11);
    await f.seek(-3, "current");
    assert.equal(await f.read(), "ß\n");
  }
  {
    await using f = await open(path, "rb");
    assert.deepEqual(await f.read(2), encoder.encode("é"));
    assert.equal(await f.tell(), 2);
  }
});

Deno.test("AsyncFile: tell() after each readLine() gives each line's end, in bytes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  const lines = ["ascii\n", "more ascii\r\n", "é then ascii\n", "x\r", "end"];
  await writeText(path, lines.join(""));
  for (const bufferSize of [4, 7, 1 << 16]) {
    await using f = await open(path, "r", { bufferSize });
    let offset = 0;
    for (const expected of lines) {
      assert.equal(await f.readLine(), expected);
      offset += encoder.encode(expected).length;
      assert.equal(await f.tell(), offset, `bufferSize ${bufferSize}`);
    }
  }
});

Deno.test("AsyncFile: UTF-16 text is read and written; a legacy encoding reads", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/u16.txt`;
  {
    await using f = await open(path, "w", { encoding: "utf-16le" });
    await f.write("ab😀\r\nc");
  }
  assert.equal((await readBytes(path)).length, 14);
  {
    await using f = await open(path, "r", {
      encoding: "utf-16le",
      bufferSize: 3,
    });
    assert.equal(await f.readLine(), "ab😀\r\n");
    assert.equal(await f.tell(), 12);
    assert.equal(await f.read(), "c");
  }
  await writeBytes(path, new Uint8Array([0x93, 0xfa, 0x0a, 0x41]));
  {
    await using f = await open(path, "r+", { encoding: "shift_jis" });
    const lines: string[] = [];
    for await (const line of f) lines.push(line);
    assert.deepEqual(lines, ["日", "A"]);
    await f.seek(0);
    assert.equal(await f.readLine(), "日\n");
    await assert.rejects(f.tell(), /no known length in bytes/); // "A" held
    await assert.rejects(f.write("x"), /no encoder/);
  }
});

Deno.test("AsyncFile: invalid UTF-8 is a TypeError that names the file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/bad.txt`;
  await writeBytes(path, new Uint8Array([0x61, 0xff, 0x0a]));
  await using f = await open(path);
  await assert.rejects(
    f.read(),
    (e: Error) => e instanceof TypeError && e.message.includes(path),
  );
});

Deno.test("AsyncFile: concurrent writers never interleave inside a write; calls run in order", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/shared.txt`;
  const big = 3 << 20; // three write chunks each
  {
    await using f = await open(path, "w");
    await Promise.all([
      f.write("a".repeat(big)),
      f.write("b".repeat(big)),
      f.write("c\n"),
      f.write("d".repeat(big)),
    ]);
  }
  const text = await readText(path);
  assert.equal(
    text,
    "a".repeat(big) + "b".repeat(big) + "c\n" + "d".repeat(big),
  );
  // Readers and a seek in between, from several tasks: one position.
  await using f = await open(path, "r", { bufferSize: 16 });
  const [first, , second] = await Promise.all([
    f.read(4),
    f.seek(big * 2),
    f.readLine(),
  ]);
  assert.equal(first, "aaaa");
  assert.equal(second, "c\n");
});

Deno.test("appendText from concurrent tasks, each with its own handle: every line lands whole", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/log.txt`;
  await gather(
    ...["a", "b", "c", "d"].map((who) => async () => {
      for (let i = 0; i < 50; i++) {
        await appendText(path, `${who}${i}`.padEnd(99, who) + "\n");
      }
    }),
  );
  const lines = (await readText(path)).split("\n").slice(0, -1);
  assert.equal(lines.length, 200);
  for (const line of lines) {
    const [, who, n] = /^([a-d])(\d+)/.exec(line)!;
    assert.equal(line, `${who}${n}`.padEnd(99, who));
  }
  assert.deepEqual(new Set(lines).size, 200);
});

Deno.test("AsyncFile: an operation cancelled while it waits its turn does nothing", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  await using f = await open(path, "w+");
  const scope = new CancelScope();
  const slow = f.write("x".repeat(2 << 20));
  const cancelled = scope.run(() => f.write("never"));
  scope.cancel();
  await slow;
  await cancelled;
  await f.seek(0);
  assert.equal((await f.read()).length, 2 << 20);
});

Deno.test("AsyncFile.lines: a cancelled next() consumes no line", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  await writeText(path, "1\n2\n3\n");
  await using f = await open(path);
  const lines = f.lines();
  const scope = new CancelScope();
  await scope.run(async () => {
    assert.equal((await lines.next()).value, "1");
    scope.cancel();
    await assert.rejects(lines.next(), CancelledError);
    await assert.rejects(f.read(), CancelledError);
  });
  assert.equal((await lines.next()).value, "2");
  assert.equal(await f.read(), "3\n");
});

// A FIFO lets the test cancel while Deno's read is blocked in the OS: the
// bytes that read returns must stay for the next read.
for (const mode of ["r", "rb"] as const) {
  Deno.test({
    name:
      `AsyncFile.read (mode '${mode}'): cancelled while a pipe is silent, it rejects at once and keeps the bytes (and half a character) that come later`,
    ignore: Deno.build.os === "windows",
    async fn() {
      await using dir = await tempDir();
      const fifo = `${dir.path}/fifo`;
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.ok(made.success);
      const [reader, writer] = await Promise.all([
        open(fifo, mode),
        Deno.open(fifo, { write: true }),
      ]);
      await using _r = reader;
      using _w = writer;
      const scope = new CancelScope();
      let outcome: unknown = "pending";
      const pending = scope.run(() =>
        reader.read(10).then(
          (value) => outcome = value,
          (error) => outcome = error,
        )
      );
      for (let i = 0; i < 5; i++) await checkpoint(); // the read is in the OS
      scope.cancel();
      // The read rejects at once, though the pipe has said nothing yet.
      await pending;
      assert.ok(outcome instanceof CancelledError, String(outcome));
      const bytes = encoder.encode("héllo\n");
      await writer.write(bytes.subarray(0, 2)); // "h" and half of "é"
      await writer.write(bytes.subarray(2));
      const rest = await reader.read(mode === "r" ? 6 : 7);
      assert.deepEqual(rest, mode === "r" ? "héllo\n" : bytes);
    },
  });
}

Deno.test({
  name:
    "AsyncFile.lines: a timeout ends a wait on a silent pipe; the line that comes later is read next",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using dir = await tempDir();
    const fifo = `${dir.path}/fifo`;
    const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.ok(made.success);
    const [reader, writer] = await Promise.all([
      open(fifo),
      Deno.open(fifo, { write: true }),
    ]);
    await using _r = reader;
    using _w = writer;
    const seen: string[] = [];
    await assert.rejects(
      timeout(20, async () => {
        for await (const line of reader) seen.push(line);
      }),
      TimeoutError,
    );
    assert.deepEqual(seen, []);
    await writer.write(encoder.encode("late\n"));
    assert.equal(await reader.readLine(), "late\n");
  },
});

Deno.test("AsyncFile: await using closes, and a pending iteration ends the file's use cleanly", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/a.txt`;
  await writeText(path, "1\n2\n");
  let file: AsyncFile | undefined;
  {
    await using f = await open(path);
    file = f;
    for await (const line of f) if (line === "1") break;
    assert.equal(await f.read(), "2\n"); // break keeps the file open
  }
  assert.ok(file.closed);
});

Deno.test("readText/writeText/readBytes/writeBytes/appendText round-trip", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/t.txt`;
  await writeText(path, "héllo\n");
  await appendText(path, "wörld\n");
  assert.equal(await readText(path), "héllo\nwörld\n");
  await writeBytes(path, new Uint8Array([0xe9]));
  assert.equal(await readText(path, { encoding: "latin1" }), "é");
  assert.deepEqual(await readBytes(path), new Uint8Array([0xe9]));
  // deno-lint-ignore no-explicit-any
  await assert.rejects(writeText(path, 5 as any), TypeError);
  // deno-lint-ignore no-explicit-any
  await assert.rejects(writeBytes(path, "x" as any), TypeError);
});

Deno.test("writeText atomic: replaces the file, keeps its permissions, leaves no temp file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/config.json`;
  await writeText(path, "old", { permissions: 0o600 });
  if (Deno.build.os !== "windows") await Deno.chmod(path, 0o640);
  await writeText(path, "new", { atomic: true });
  assert.equal(await readText(path), "new");
  if (Deno.build.os !== "windows") {
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o640);
  }
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name);
  assert.deepEqual(names, ["config.json"]);
  await writeText(`${dir.path}/fresh.txt`, "made", { atomic: true });
  assert.equal(await readText(`${dir.path}/fresh.txt`), "made");
});

Deno.test({
  name:
    "writeText atomic: through a symlink, the target is replaced and the link stays",
  ignore: Deno.build.os === "windows",
  async fn() {
    await using dir = await tempDir();
    const target = `${dir.path}/target.txt`;
    const link = `${dir.path}/link.txt`;
    await writeText(target, "old");
    await Deno.symlink(target, link);
    await writeText(link, "new", { atomic: true });
    assert.ok((await Deno.lstat(link)).isSymlink);
    assert.equal(await readText(target), "new");
  },
});

Deno.test("writeText atomic: cancelled midway, the old content stays and the temp file goes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data.txt`;
  await writeText(path, "old");
  const scope = new CancelScope();
  const writing = scope.run(() =>
    writeText(path, "x".repeat(8 << 20), { atomic: true })
  );
  await checkpoint();
  scope.cancel();
  await writing;
  assert.equal(await readText(path), "old");
  const names = [...Deno.readDirSync(dir.path)].map((e) => e.name);
  assert.deepEqual(names, ["data.txt"]);
});

Deno.test("writeText atomic: a writer killed with SIGKILL leaves the old content or the new, never a torn file", async () => {
  await using dir = await tempDir();
  const folder = `${dir.path}/data`;
  await Deno.mkdir(folder);
  const path = `${folder}/state.txt`;
  const size = 1 << 20;
  const content = (n: number) => `${n}:`.padEnd(size, String(n % 10));
  const valid = (text: string) => {
    const n = Number(text.slice(0, text.indexOf(":")));
    return Number.isInteger(n) && text === content(n);
  };
  await writeText(path, content(0));
  const child = `${dir.path}/writer.ts`;
  await writeText(
    child,
    `import { writeText } from ${
      JSON.stringify(new URL("./files.ts", import.meta.url).href)
    };
const content = (n: number) => \`\${n}:\`.padEnd(${size}, String(n % 10));
for (let n = 1; ; n++) await writeText(Deno.args[0], content(n), { atomic: true });
`,
  );
  const temps = () =>
    [...Deno.readDirSync(folder)].filter((e) => e.name.endsWith(".tmp"))
      .length;
  let killed = 0;
  for (let round = 0; round < 6; round++) {
    // Kill the writer as its k-th temp file appears: in the middle of a
    // write (the temp file is left behind) or just after one.
    using watcher = Deno.watchFs(folder, { recursive: false });
    const process = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", child, path],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const outcome = process.output();
    const seen = (async () => {
      let created = 0;
      for await (const event of watcher) {
        const temp = event.paths.some((p) => p.endsWith(".tmp"));
        if (event.kind === "create" && temp && ++created > round % 3) break;
      }
    })();
    // A writer that dies by itself (it cannot load, say) fails the test
    // instead of leaving it waiting for a temp file.
    const early = await Promise.race([
      seen.then(() => false as const),
      outcome,
    ]);
    if (early !== false) {
      throw new Error(
        `The writer exited by itself: ${
          new TextDecoder().decode(early.stderr)
        }`,
      );
    }
    process.kill("SIGKILL");
    const { signal } = await outcome;
    assert.equal(signal, "SIGKILL");
    killed++;
    const text = await readText(path);
    assert.ok(
      valid(text),
      `torn file after round ${round}: ${text.slice(0, 20)}…`,
    );
  }
  assert.equal(killed, 6);
  assert.ok(temps() > 0, "no kill landed in the middle of a write");
});

Deno.test("tempDir and tempFile are removed at the end of their block", async () => {
  let dirPath: string;
  let filePath: string;
  {
    await using dir = await tempDir({ prefix: "aio-test-" });
    dirPath = dir.path;
    await writeText(`${dir.path}/inner.txt`, "x");
    await using file = await tempFile({ dir: dir.path, suffix: ".json" });
    filePath = file.path;
    assert.ok(file.path.endsWith(".json"));
    assert.equal(String(file), file.path);
    assert.equal((await Deno.stat(file.path)).isFile, true);
  }
  await assert.rejects(Deno.stat(filePath), Deno.errors.NotFound);
  await assert.rejects(Deno.stat(dirPath), Deno.errors.NotFound);
  // Removing what is already gone is fine.
  const dir = await tempDir();
  await Deno.remove(dir.path);
  await dir[Symbol.asyncDispose]();
});
