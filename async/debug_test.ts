import {
  type BlockInfo,
  debugEnabled,
  enableDebug,
  monitorEventLoop,
  taskStats,
} from "./debug.ts";
import { hooks, registerResource, resourceClosed } from "./_debug.ts";
import {
  createTask,
  type ExceptionContext,
  setExceptionHandler,
  type Task,
} from "./task.ts";
import { run } from "./run.ts";
import { sleep } from "./sleep.ts";
import { TaskSet } from "./task_set.ts";
import { gcUntil, withReports } from "./_test_util.ts";
import { CancelledError } from "./cancel_scope.ts";
import assert from "node:assert/strict";

/** Spins for `ms` real milliseconds: the blocking code the monitor is for. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

Deno.test("monitorEventLoop() reports a blocked loop through the debug reporter", async () => {
  const reports = await withReports(async () => {
    using _monitor = monitorEventLoop({ threshold: 40 });
    await sleep(15);
    block(150);
    await sleep(30);
  });
  // A loaded machine may add stalls of its own: look for the 150 ms one.
  const blocked = reports.filter((r) =>
    r.kind === "blocked" && r.duration! >= 100
  );
  assert.equal(blocked.length, 1);
  assert.ok(Math.abs(blocked[0].start! - Date.now()) < 10_000);
  assert.match(blocked[0].message, /blocked for \d+ ms/);
});

Deno.test("monitorEventLoop() stays quiet while nothing blocks", async () => {
  const blocks: BlockInfo[] = [];
  {
    using _monitor = monitorEventLoop({
      threshold: 200,
      onBlock: (b) => blocks.push(b),
    });
    for (let i = 0; i < 5; i++) await sleep(10);
  }
  assert.deepEqual(blocks, []);
});

Deno.test("monitorEventLoop() names the task whose first stretch blocked the loop", async () => {
  using _debug = enableDebug();
  const blocks: BlockInfo[] = [];
  {
    using _monitor = monitorEventLoop({
      threshold: 40,
      onBlock: (b) => blocks.push(b),
    });
    await sleep(15);
    await createTask(() => block(150), { name: "hog" });
    await sleep(30);
  }
  const hog = blocks.filter((b) => b.task === "hog");
  assert.equal(hog.length, 1);
  assert.match(hog[0].site!, /debug_test\.ts:\d+:\d+/);
  assert.ok(hog[0].duration >= 140);
  // Kept among the longest blocks of the session.
  assert.equal(taskStats().blocks[0].task, "hog");
});

Deno.test("monitorEventLoop() rejects a bad threshold or callback", () => {
  for (const threshold of [0, -1, NaN, Infinity]) {
    assert.throws(() => monitorEventLoop({ threshold }), RangeError);
  }
  assert.throws(
    () => monitorEventLoop({ onBlock: 1 as unknown as () => void }),
    TypeError,
  );
});

Deno.test("taskStats() counts tasks per name: done, failed, cancelled, durations", async () => {
  using _debug = enableDebug();
  await createTask(() => sleep(5), { name: "ok" });
  await createTask(() => sleep(1), { name: "ok" });
  await assert.rejects(
    createTask(() => Promise.reject(new Error("no")), { name: "bad" }),
  );
  await assert.rejects(
    createTask(() => {
      throw new Error("sync");
    }, { name: "bad" }),
  );
  const slow = createTask(() => sleep(60_000), { name: "slow" });
  await sleep(1);
  slow.cancel();
  await assert.rejects(slow, CancelledError);
  const rows = new Map(taskStats().tasks.map((row) => [row.name, row]));
  const ok = rows.get("ok")!;
  assert.deepEqual(
    [ok.count, ok.done, ok.failed, ok.cancelled, ok.pending],
    [2, 2, 0, 0, 0],
  );
  assert.ok(ok.totalMs >= 4 && ok.maxMs >= 4 && ok.maxMs <= ok.totalMs);
  const bad = rows.get("bad")!;
  assert.deepEqual([bad.count, bad.failed, bad.done], [2, 2, 0]);
  const slowRow = rows.get("slow")!;
  assert.deepEqual([slowRow.count, slowRow.cancelled], [1, 1]);
});

Deno.test("taskStats() counts unnamed tasks by their function's name", async () => {
  using _debug = enableDebug();
  async function work() {}
  for (let i = 0; i < 3; i++) await createTask(work);
  await createTask(() => 1);
  const rows = new Map(taskStats().tasks.map((row) => [row.name, row]));
  assert.equal(rows.get("work")?.count, 3);
  assert.match(rows.get("work")!.site!, /debug_test\.ts:\d+:\d+$/);
  const anonymous = [...rows.keys()].filter((k) => k.startsWith("(anonymous)"));
  assert.equal(anonymous.length, 1);
  assert.match(anonymous[0], /^\(anonymous\) at .*debug_test\.ts:\d+:\d+$/);
  assert.equal(rows.get(anonymous[0])?.count, 1);
});

Deno.test("tasks past the first ones of a name share the first one's site", async () => {
  const reports = await withReports(async () => {
    await run(async () => {
      for (let i = 0; i < 20; i++) {
        createTask(() => sleep(60_000), { name: "many" });
      }
      await sleep(1);
    }, { debug: true, signals: [] });
  });
  const pending = reports.filter((r) => r.kind === "pending-task");
  assert.equal(pending.length, 20);
  const sites = new Set(pending.map((r) => r.site));
  assert.equal(sites.size, 1);
  assert.match([...sites][0]!, /debug_test\.ts:\d+:\d+/);
});

Deno.test("a failed task nobody awaited is still reported when collected in debug mode", async () => {
  using _debug = enableDebug();
  const seen: ExceptionContext[] = [];
  const previous = setExceptionHandler((context) => seen.push(context));
  try {
    for (let i = 0; i < 3; i++) {
      (() => {
        createTask(() => {
          throw new Error(`lost ${i}`);
        }, { name: "lost" });
      })();
    }
    await gcUntil(() => seen.length === 3);
  } finally {
    setExceptionHandler(previous);
  }
  assert.equal(seen.length, 3); // debug mode keeps no task alive
});

Deno.test("debug mode is off by default and off again after the handle is disposed", async () => {
  assert.equal(hooks, undefined);
  assert.equal(debugEnabled(), false);
  {
    using _outer = enableDebug();
    {
      using _inner = enableDebug();
      assert.notEqual(hooks, undefined);
    }
    assert.equal(debugEnabled(), true); // calls nest
  }
  assert.equal(hooks, undefined);
  const before = taskStats().tasks.length;
  await createTask(() => 1, { name: "untracked" });
  assert.equal(taskStats().tasks.length, before);
});

Deno.test("a task keeps its signal parameter semantics under debug mode", async () => {
  using _debug = enableDebug();
  const seen = await createTask((signal) => signal instanceof AbortSignal);
  assert.equal(seen, true);
  const none = await createTask((...args: unknown[]) => args[0]);
  assert.equal(none, undefined);
});

Deno.test("run(main, { debug: true }) reports and cancels the tasks main left behind", async () => {
  let leftover: Task<void> | undefined;
  const reports = await withReports(async () => {
    const value = await run(async () => {
      leftover = createTask(() => sleep(60_000), { name: "heartbeat" });
      await sleep(1);
      return "done";
    }, { debug: true, signals: [] });
    assert.equal(value, "done");
  });
  assert.ok(leftover!.cancelled(), "the leftover task was cancelled");
  const pending = reports.filter((r) => r.kind === "pending-task");
  assert.equal(pending.length, 1);
  assert.equal(pending[0].task, "heartbeat");
  assert.match(pending[0].site!, /debug_test\.ts/);
  assert.match(pending[0].message, /heartbeat.*still pending/);
  const stats = reports.find((r) => r.kind === "stats")!;
  assert.match(stats.message, /heartbeat/);
  assert.equal(stats.stats!.tasks[0].cancelled, 1);
  assert.equal(debugEnabled(), false);
});

Deno.test("run() without debug leaves tasks alone and reports nothing", async () => {
  let leftover: Task<void> | undefined;
  const reports = await withReports(async () => {
    await run(() => {
      leftover = createTask(() => sleep(5), { name: "later" });
    }, { signals: [] });
  });
  assert.deepEqual(reports, []);
  assert.equal(leftover!.cancelled(), false);
  await leftover;
});

Deno.test("AIO_DEBUG=1 turns run()'s debug mode on", async () => {
  Deno.env.set("AIO_DEBUG", "1");
  try {
    const reports = await withReports(async () => {
      await run(() => sleep(1), { signals: [] });
    });
    assert.ok(reports.some((r) => r.kind === "stats"));
  } finally {
    Deno.env.delete("AIO_DEBUG");
  }
});

Deno.test("run(main, { debug: true }) reports an unhandled rejection with its task", async () => {
  const handled = (event: PromiseRejectionEvent) => event.preventDefault();
  globalThis.addEventListener("unhandledrejection", handled);
  try {
    const reports = await withReports(async () => {
      await run(async () => {
        await createTask(async () => {
          await sleep(1);
          void Promise.reject(new Error("lost"));
          await sleep(20);
        }, { name: "leaky" });
      }, { debug: true, signals: [] });
    });
    const rejection = reports.find((r) => r.kind === "unhandled-rejection")!;
    assert.equal(rejection.task, "leaky");
    assert.equal((rejection.error as Error).message, "lost");
    assert.match(rejection.message, /in task 'leaky'/);
  } finally {
    globalThis.removeEventListener("unhandledrejection", handled);
  }
});

Deno.test("a resource collected without being closed is reported where it was made", async () => {
  const reports = await withReports(async (reports) => {
    using _debug = enableDebug();
    (() => {
      registerResource({}, "ClientSession");
      const closed = {};
      registerResource(closed, "Pool");
      resourceClosed(closed);
    })();
    await gcUntil(() => reports.length > 0);
    // A little more time for a wrong report of the closed one to show up.
    for (let i = 0; i < 3; i++) await gcUntil(() => false, 1);
  });
  assert.equal(reports.length, 1);
  assert.equal(reports[0].kind, "unclosed");
  assert.equal(reports[0].resource, "ClientSession");
  assert.match(reports[0].site!, /debug_test\.ts/);
  assert.match(reports[0].message, /unclosed ClientSession/);
});

Deno.test("registerResource() does nothing while debug mode is off", async () => {
  const reports = await withReports(async () => {
    (() => registerResource({}, "ClientSession"))();
    await gcUntil(() => false, 5);
  });
  assert.deepEqual(reports, []);
});

Deno.test("a TaskSet collected without being disposed is reported; a disposed one is not", async () => {
  const reports = await withReports(async (reports) => {
    using _debug = enableDebug();
    await (async () => {
      new TaskSet();
      await using _disposed = new TaskSet();
    })();
    await gcUntil(() => reports.length > 0);
    for (let i = 0; i < 3; i++) await gcUntil(() => false, 1);
  });
  assert.deepEqual(reports.map((r) => [r.kind, r.resource]), [
    ["unclosed", "TaskSet"],
  ]);
  assert.match(reports[0].site!, /debug_test\.ts/);
});
