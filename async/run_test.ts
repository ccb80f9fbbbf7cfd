import assert from "node:assert/strict";
import { run } from "./run.ts";

const modUrl = new URL("./mod.ts", import.meta.url).href;

/** A child Deno process running `source`, and what it printed. */
interface Child {
  process: Deno.ChildProcess;
  /** Everything read from stdout so far. */
  stdout: string;
  /** Reads stdout until it contains `text`; false if stdout ended first. */
  readUntil(text: string): Promise<boolean>;
  /** Reads the rest of stdout, stderr and the exit status, closing both. */
  finish(): Promise<{ stdout: string; stderr: string; code: number }>;
}

/** Writes `source` to a temp file and runs it with `deno run -A`. */
async function spawn(source: string): Promise<Child & AsyncDisposable> {
  const scriptPath = await Deno.makeTempFile({ suffix: ".ts" });
  await Deno.writeTextFile(scriptPath, source);
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", scriptPath],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = process.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  const stderr = new Response(process.stderr).text();
  // A guard, not a wait: a child that hangs is killed so the test fails
  // instead of hanging.
  const guard = setTimeout(() => {
    try {
      process.kill("SIGKILL");
    } catch {
      // Already gone.
    }
  }, 20_000);
  let stdoutDone = false;
  let finished:
    | Promise<{ stdout: string; stderr: string; code: number }>
    | undefined;
  const child: Child & AsyncDisposable = {
    process,
    stdout: "",
    async readUntil(text) {
      while (!child.stdout.includes(text)) {
        const { done, value } = await reader.read();
        if (done) {
          stdoutDone = true;
          return false;
        }
        child.stdout += value;
      }
      return true;
    },
    finish() {
      return finished ??= (async () => {
        while (!stdoutDone) {
          const { done, value } = await reader.read();
          if (done) stdoutDone = true;
          else child.stdout += value;
        }
        reader.releaseLock();
        const { code } = await process.status;
        return { stdout: child.stdout, stderr: await stderr, code };
      })();
    },
    async [Symbol.asyncDispose]() {
      try {
        if (finished === undefined) {
          try {
            process.kill("SIGKILL");
          } catch {
            // Already gone.
          }
        }
        await child.finish();
      } finally {
        clearTimeout(guard);
        await Deno.remove(scriptPath);
      }
    },
  };
  return child;
}

Deno.test("run() returns main's result", async () => {
  assert.equal(await run(() => Promise.resolve(42)), 42);
  assert.equal(await run(() => "sync"), "sync");
});

Deno.test("run() gives main the root scope's signal when it declares a parameter", async () => {
  const signal = await run((signal: AbortSignal) => ({ signal }));
  assert.ok(signal.signal instanceof AbortSignal);
  assert.equal(signal.signal.aborted, false);
});

Deno.test("run() rejects a non-function main with TypeError", async () => {
  await assert.rejects(run(42 as never), TypeError);
});

Deno.test("run() cancels main on SIGINT so that its finally blocks run, and exits non-zero", async () => {
  await using child = await spawn(`
    import { run, sleep } from ${JSON.stringify(modUrl)};
    await run(async () => {
      try {
        console.log("ready");
        await sleep(60_000);
      } finally {
        console.log("finally ran");
      }
    });
  `);
  assert.ok(await child.readUntil("ready"), "the script did not start");
  child.process.kill("SIGINT");
  const { stdout, stderr, code } = await child.finish();
  assert.ok(stdout.includes("finally ran"), `stdout: ${stdout}`);
  assert.notEqual(code, 0, `stderr: ${stderr}`);
});

Deno.test("run() exits at once with code 130 on a second SIGINT", async () => {
  await using child = await spawn(`
    import { run, shield, sleep } from ${JSON.stringify(modUrl)};
    await run(async () => {
      try {
        console.log("ready");
        await sleep(60_000);
      } finally {
        console.log("cleaning");
        await shield(() => sleep(60_000));
        console.log("cleaned");
      }
    });
  `);
  assert.ok(await child.readUntil("ready"), "the script did not start");
  child.process.kill("SIGINT");
  assert.ok(await child.readUntil("cleaning"), `stdout: ${child.stdout}`);
  child.process.kill("SIGINT");
  const { stdout, code } = await child.finish();
  assert.equal(code, 130);
  assert.ok(!stdout.includes("cleaned"), `stdout: ${stdout}`);
});

Deno.test("run() with a refused signal name rejects, leaves no listener installed and never starts main", async () => {
  let ran = false;
  const main = () => {
    ran = true;
  };
  const installed = new Set<() => void>();
  const { addSignalListener, removeSignalListener } = Deno;
  Deno.addSignalListener = (name, listener) => {
    addSignalListener(name, listener); // throws for SIGBOGUS
    installed.add(listener);
  };
  Deno.removeSignalListener = (name, listener) => {
    removeSignalListener(name, listener);
    installed.delete(listener);
  };
  try {
    await assert.rejects(
      run(main, { signals: ["SIGINT", "SIGBOGUS" as Deno.Signal] }),
      TypeError,
    );
  } finally {
    Deno.addSignalListener = addSignalListener;
    Deno.removeSignalListener = removeSignalListener;
  }
  assert.equal(installed.size, 0);
  await assert.rejects(
    run(main, { signals: ["SIGINT", 5 as never] }),
    TypeError,
  );
  await assert.rejects(run(main, { signals: "SIGINT" as never }), TypeError);
  assert.equal(ran, false);
});
