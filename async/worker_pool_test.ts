import assert from "node:assert/strict";
import {
  CancelledError,
  createTask,
  ExceptionGroup,
  sleep,
  TaskGroup,
  timeout,
  TimeoutError,
} from "./mod.ts";
import { WorkerError, WorkerPool, WorkerQueueFull } from "./worker_pool.ts";
import { CustomError } from "./_worker_fixture_test.ts";

type Work = typeof import("./_worker_fixture_test.ts");
const work = new URL("./_worker_fixture_test.ts", import.meta.url);

// What a call rejected with (failing the test if it resolved).
// deno-lint-ignore no-explicit-any
async function caught(promise: Promise<unknown>): Promise<any> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail("expected a rejection");
}

// A flag a worker function raises when it starts (shared memory: Web
// Workers only).
function flag(): { buffer: SharedArrayBuffer; started: Promise<unknown> } {
  const buffer = new SharedArrayBuffer(4);
  const result = Atomics.waitAsync(new Int32Array(buffer), 0, 0);
  return { buffer, started: Promise.resolve(result.value) };
}

// Polls `condition` (for what only the OS can tell, or a process worker
// that shares no memory), failing after `ms`.
async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) assert.fail("condition not met in time");
    await sleep(5);
  }
}

// The CPU time (clock ticks) a process used so far (Linux).
function cpuTicks(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

// The pids of this process's children that are process workers serving
// this file's fixture module (Linux): other test files running in parallel
// in this process have children of their own.
function children(): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== Deno.pid) continue;
      const args = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`)
        .split("\0");
      const main = args.find((a) => a.startsWith("data:")) ?? "";
      const source = atob(main.slice(main.indexOf(",") + 1));
      if (source.includes(work.href)) pids.push(Number(entry.name));
    } catch {
      // gone meanwhile, or not ours
    }
  }
  return pids;
}

for (const isolation of ["worker", "process"] as const) {
  const pool = (size = 1, options = {}) =>
    new WorkerPool<Work>(work, { size, isolation, ...options });
  // A task's start: a shared flag for Web Workers; for a process, the pool
  // having sent it (a process shares no memory).
  const starting = (p: WorkerPool<Work>, running: number) => {
    if (isolation === "worker") return flag();
    return { buffer: undefined, started: until(() => p.running >= running) };
  };

  Deno.test(`${isolation}: runs exports and returns structured clones`, async () => {
    await using p = pool(2);
    assert.equal(await p.run("fib", [20]), 6765);
    const value = { m: new Map([[1, "a"]]), d: new Date(0), big: 10n };
    assert.deepEqual(await p.run("echo", [value]), value);
    assert.equal(await p.run("echo", [undefined]), undefined);
    assert.equal(await p.run("echo", [null]), null);
  });

  Deno.test(`${isolation}: many queued tasks resolve in order, in batches`, async () => {
    await using p = pool(2);
    const results = await Promise.all(
      Array.from({ length: 5_000 }, (_, i) => p.run("inc", [i])),
    );
    assert.deepEqual(results, Array.from({ length: 5_000 }, (_, i) => i + 1));
    assert.ok(p.workers <= 2);
  });

  Deno.test(`${isolation}: a queued task is removed when cancelled`, async () => {
    await using p = pool(1);
    const running = p.run("blockingSleep", [200]);
    const controller = new AbortController();
    const queued = p.run("inc", [1], { signal: controller.signal });
    await sleep(0);
    assert.equal(p.queued, 1);
    controller.abort();
    await assert.rejects(queued, CancelledError);
    assert.equal(p.queued, 0);
    assert.equal(await running, 200);
    assert.equal(p.workers, 1); // the busy worker was left alone
  });

  Deno.test(`${isolation}: a running task is cancelled by stopping its worker`, async () => {
    await using p = pool(1);
    const { buffer, started } = starting(p, 1);
    const controller = new AbortController();
    const task = p.run("wait", [60_000, buffer], { signal: controller.signal });
    await started;
    controller.abort();
    await assert.rejects(task, CancelledError);
    assert.equal(p.workers, 0);
    assert.equal(await p.run("inc", [1]), 2); // a fresh worker
  });

  Deno.test(`${isolation}: timeout around pool.run raises TimeoutError`, async () => {
    await using p = pool(1);
    const start = performance.now();
    await assert.rejects(
      timeout(100, () => p.run("wait", [60_000])),
      TimeoutError,
    );
    assert.ok(performance.now() - start < 5_000);
    assert.equal(await p.run("inc", [41]), 42);
  });

  Deno.test(`${isolation}: a TaskGroup sibling's failure cancels pool work; the pool is whole after`, async () => {
    await using p = pool(2);
    const { buffer, started } = starting(p, 2);
    const group = TaskGroup.run(async (tg) => {
      tg.createTask(() => p.run("wait", [60_000, buffer]));
      tg.createTask(() => p.run("wait", [60_000]));
      await started;
      tg.createTask(() => {
        throw new Error("sibling failed");
      });
    });
    await assert.rejects(group, (error: unknown) => {
      assert.ok(error instanceof ExceptionGroup);
      assert.equal(error.errors.length, 1);
      assert.equal((error.errors[0] as Error).message, "sibling failed");
      return true;
    });
    assert.equal(p.running, 0);
    assert.deepEqual(
      await Promise.all([p.run("inc", [1]), p.run("inc", [2])]),
      [2, 3],
    );
  });

  Deno.test(`${isolation}: errors come back with name, message, stack, cause and class`, async (t) => {
    await using p = pool(1, { errorClasses: [CustomError] });
    await t.step("Error", async () => {
      const error = await caught(p.run("fail", ["Error"]));
      assert.ok(error instanceof Error);
      assert.equal(error.message, "plain failure");
      assert.match(String(error.stack), /at fail .*_worker_fixture_test\.ts/);
    });
    await t.step("TypeError", async () => {
      await assert.rejects(p.run("fail", ["TypeError"]), TypeError);
    });
    await t.step("a custom class known by name", async () => {
      const error = await caught(p.run("fail", ["custom"]));
      assert.ok(error instanceof CustomError);
      assert.equal(error.name, "CustomError");
      assert.equal(error.code, "E_CUSTOM");
    });
    await t.step("cause", async () => {
      const error = await caught(p.run("fail", ["cause"]));
      assert.equal(error.message, "outer");
      assert.ok(error.cause instanceof RangeError);
      assert.equal(error.cause.message, "inner");
    });
    await t.step("non-Error values", async () => {
      await assert.rejects(p.run("fail", ["number"]), (e) => e === 42);
      const thrown = await caught(p.run("fail", ["object"]));
      assert.deepEqual(thrown, { reason: "not an error" });
    });
    await t.step("a missing export", async () => {
      await assert.rejects(
        p.run("nope" as "inc", [1]),
        /has no exported function of that name/,
      );
    });
    assert.equal(p.workers, 1); // thrown errors do not cost the worker
  });

  Deno.test(`${isolation}: Deno.exit() in a worker rejects its task; the pool goes on`, async () => {
    await using p = pool(1);
    const error = await caught(p.run("exit", [3]));
    assert.ok(error instanceof WorkerError);
    assert.match(error.message, /exited with code 3/);
    assert.equal(await p.run("inc", [1]), 2);
  });

  Deno.test(`${isolation}: an uncaught error in a worker rejects its task; the pool goes on`, async () => {
    await using p = pool(1);
    const error = await caught(p.run("crashLater", []));
    assert.ok(error instanceof WorkerError);
    assert.match(error.message, /uncaught/);
    assert.match(String((error.cause as Error)?.message), /uncaught in worker/);
    assert.equal(await p.run("inc", [1]), 2);
  });

  Deno.test(`${isolation}: a module that fails to load rejects with the reason`, async () => {
    const broken = "data:text/javascript,import './does-not-exist.js';";
    await using p = new WorkerPool(broken, { size: 1, isolation });
    const error = await caught(p.run("f", []));
    assert.ok(error instanceof WorkerError, String(error));
    assert.match(error.message, /failed to load/);
  });

  Deno.test(`${isolation}: await using stops every worker; what was left rejects`, async () => {
    let outcome: Promise<PromiseSettledResult<unknown>[]>;
    {
      await using p = pool(1);
      const { buffer, started } = starting(p, 1);
      const task = p.run("wait", [60_000, buffer]);
      const queued = p.run("inc", [1]);
      outcome = Promise.allSettled([task, queued]);
      await started;
      assert.equal(p.workers, 1);
    }
    for (const result of await outcome) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof CancelledError);
    }
  });

  Deno.test(`${isolation}: close() lets tasks finish, then refuses new ones`, async () => {
    const p = pool(1);
    const task = p.run("blockingSleep", [50]);
    const closed = p.close();
    assert.equal(await task, 50);
    await closed;
    assert.equal(p.workers, 0);
    await assert.rejects(p.run("inc", [1]), /is closed/);
  });
}

Deno.test("process: cancelling a spinning task kills its process", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1, isolation: "process" });
  await p.run("inc", [0]); // the worker is up
  const [pid] = children();
  assert.ok(pid > 0);
  const controller = new AbortController();
  const task = p.run("spin", [], { signal: controller.signal });
  const idle = cpuTicks(pid);
  await until(() => cpuTicks(pid) > idle + 20); // it spins
  controller.abort();
  await assert.rejects(task, CancelledError);
  // The rejection came once the process had exited: it is gone already.
  assert.ok(!children().includes(pid));
  assert.equal(await p.run("inc", [1]), 2);
});

Deno.test("process: workers get no permissions unless given", async () => {
  {
    await using p = new WorkerPool<Work>(work, {
      size: 1,
      isolation: "process",
    });
    await assert.rejects(p.run("readEnv", ["HOME"]), /env/i);
  }
  await using p = new WorkerPool<Work>(work, {
    size: 1,
    isolation: "process",
    permissions: { env: ["HOME"] },
  });
  assert.equal(await p.run("readEnv", ["HOME"]), Deno.env.get("HOME"));
});

Deno.test("worker: permissions without --unstable-worker-options reject instead of exiting", async () => {
  await using p = new WorkerPool<Work>(work, {
    size: 1,
    permissions: { env: true },
  });
  await assert.rejects(p.run("inc", [1]), (error: unknown) => {
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /--unstable-worker-options/);
    return true;
  });
  assert.equal(p.workers, 0);
});

Deno.test("worker: a 64 MB ArrayBuffer goes and comes back without a copy", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1 });
  const size = 64 * 1024 * 1024;
  const buffer = new ArrayBuffer(size);
  new Uint8Array(buffer)[size - 1] = 7;
  const back = await p.run("roundTrip", [buffer], { transfer: [buffer] });
  assert.equal(buffer.byteLength, 0); // moved, not copied
  assert.equal(back.byteLength, size);
  assert.equal(new Uint8Array(back)[size - 1], 7);
});

Deno.test("maxQueue: a task beyond it is refused with WorkerQueueFull", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1, maxQueue: 1 });
  const first = p.run("blockingSleep", [20]);
  await sleep(0); // the first one is on the worker, not queued
  const second = p.run("inc", [1]);
  await assert.rejects(p.run("inc", [2]), WorkerQueueFull);
  assert.deepEqual(await Promise.all([first, second]), [20, 2]);
});

Deno.test("map: ordered, unordered, and leaving early cancels the rest", async () => {
  await using p = new WorkerPool<Work>(work, { size: 2 });
  const ordered: number[] = [];
  for await (const y of p.map("inc", [1, 2, 3, 4, 5])) ordered.push(y);
  assert.deepEqual(ordered, [2, 3, 4, 5, 6]);
  const unordered: number[] = [];
  for await (const y of p.map("inc", [1, 2, 3], { ordered: false })) {
    unordered.push(y);
  }
  assert.deepEqual(unordered.sort(), [2, 3, 4]);
  for await (const _ of p.map("wait", [1, 60_000, 60_000])) break;
  assert.equal(p.running, 0);
  assert.equal(p.queued, 0);
});

Deno.test("exec: a function by its source; a closure's variable is a ReferenceError", async () => {
  await using p = new WorkerPool(null, { size: 1 });
  assert.equal(await p.exec((a: number, b: number) => a * b, [6, 7]), 42);
  const outside = 1;
  await assert.rejects(p.exec(() => outside), ReferenceError);
  await assert.rejects(p.run("fib", [1]), /without a module/);
});

Deno.test("bad input rejects or throws clearly", async () => {
  assert.throws(() => new WorkerPool(work, { size: 0 }), RangeError);
  assert.throws(
    () => new WorkerPool(work, { isolation: "thread" as "worker" }),
    TypeError,
  );
  await using p = new WorkerPool<Work>(work, { size: 1 });
  await assert.rejects(p.run("inc", 1 as never), TypeError);
  await assert.rejects(p.run("echo", [() => 1]), /structured-cloned/);
  assert.equal(await p.run("inc", [1]), 2); // not corrupted
});

Deno.test("a cancelled task's caller sees the cancellation only once its process exited", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1, isolation: "process" });
  await p.run("inc", [0]);
  const [pid] = children();
  const task = createTask(() => p.run("spin", []));
  const idle = cpuTicks(pid);
  await until(() => cpuTicks(pid) > idle + 10);
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.ok(!children().includes(pid));
});

Deno.test("values that do not clone fail only their own task, alone or batched", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1 });
  await assert.rejects(p.run("makeFunction", []), /structured-cloned/);
  const results = await Promise.allSettled([
    p.run("inc", [1]),
    p.run("makeFunction", []),
    p.run("echo", [() => 1]),
    p.run("inc", [2]),
  ]);
  assert.deepEqual(results.map((r) => r.status), [
    "fulfilled",
    "rejected",
    "rejected",
    "fulfilled",
  ]);
  assert.equal(await p.run("inc", [3]), 4);
});

Deno.test("tasks of different functions and arities interleave correctly", async () => {
  await using p = new WorkerPool<Work>(work, { size: 1 });
  for (let i = 0; i < 3; i++) {
    assert.equal(await p.run("inc", [i]), i + 1);
    assert.equal(await p.run("wait", [0]), "waited");
    assert.deepEqual(await p.run("echo", [[i]]), [i]);
    assert.equal(await p.exec((a: number, b: number) => a - b, [i, 1]), i - 1);
  }
});

Deno.test("worker: with --unstable-worker-options, a Web Worker gets only the permissions given", async () => {
  // A program of its own: the flag is the command line's.
  const source = `
    import { WorkerPool } from ${
    JSON.stringify(new URL("./worker_pool.ts", import.meta.url).href)
  };
    await using p = new WorkerPool(${JSON.stringify(work.href)}, {
      size: 1,
      permissions: { env: ["HOME"] },
    });
    const home = await p.run("readEnv", ["HOME"]);
    const path = await p.run("readEnv", ["PATH"]).then(() => "read", (e) => e.name);
    console.log(JSON.stringify([home, path]));
  `;
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-worker-options",
      `data:application/typescript;base64,${btoa(source)}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(code, 0);
  const [home, path] = JSON.parse(new TextDecoder().decode(stdout));
  assert.equal(home, Deno.env.get("HOME"));
  assert.equal(path, "NotCapable");
});
