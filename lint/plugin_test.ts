import plugin from "./plugin.ts";
import assert from "node:assert/strict";

const IMPORTS = `import {
  CancelledError, createTask, gather, isCancellation, moveOnAfter, retry,
  run, shield, sleep, TaskGroup, TaskSet, timeout,
} from "@aio/std/async";
import { Condition, Event, Lock, Queue, RateLimiter, Semaphore } from "@aio/std/sync";
import { FakeTime } from "@aio/std/testing";
import { connect, createPool, open } from "@aio/std/io";
`;

// A snippet that starts with `// own imports` has no prelude.
function withPrelude(source: string): string {
  return source.startsWith("// own imports") ? source : IMPORTS + source;
}

function lint(source: string): Deno.lint.Diagnostic[] {
  return Deno.lint.runPlugin(plugin, "snippet.ts", withPrelude(source));
}

function ids(source: string, rule: string): Deno.lint.Diagnostic[] {
  return lint(source).filter((d) => d.id === `aio/${rule}`);
}

async function table(
  t: Deno.TestContext,
  rule: string,
  flag: string[],
  pass: string[],
): Promise<void> {
  assert.ok(flag.length >= 10 && pass.length >= 10, "ten cases each at least");
  for (const source of flag) {
    await t.step(`flags: ${source.replace(/\s+/g, " ").slice(0, 70)}`, () => {
      assert.ok(
        ids(source, rule).length > 0,
        `expected aio/${rule} on:\n${source}`,
      );
    });
  }
  for (const source of pass) {
    await t.step(`passes: ${source.replace(/\s+/g, " ").slice(0, 70)}`, () => {
      assert.deepEqual(
        ids(source, rule).map((d) => d.message),
        [],
        `expected no aio/${rule} on:\n${source}`,
      );
    });
  }
}

/** Applies every fix of the rule's diagnostics to the snippet. */
function fixed(source: string, rule: string): string {
  let text = withPrelude(source);
  const fixes = ids(source, rule).flatMap((d) => d.fix ?? [])
    .sort((a, b) => b.range[0] - a.range[0]);
  for (const fix of fixes) {
    text = text.slice(0, fix.range[0]) + (fix.text ?? "") +
      text.slice(fix.range[1]);
  }
  return text.slice(withPrelude(source).length - source.length);
}

Deno.test("aio/no-blocking-in-async: blocking calls in async code", async (t) => {
  await table(t, "no-blocking-in-async", [
    `async function f() { Deno.readTextFileSync("a"); }`,
    `const f = async () => { const s = Deno.statSync("a"); return s; };`,
    `import { readFileSync } from "node:fs";
     async function f() { return readFileSync("a"); }`,
    `import * as fs from "node:fs";
     async function f() { fs.writeFileSync("a", "b"); }`,
    `import fs from "fs";
     export async function f() { fs.existsSync("a"); }`,
    `import { execSync } from "node:child_process";
     async function f() { execSync("ls"); }`,
    `import { spawnSync as sp } from "node:child_process";
     async function f() { sp("ls"); }`,
    `async function f(buf: Int32Array) { Atomics.wait(buf, 0, 0); }`,
    `async function f() { const end = Date.now() + 100; while (Date.now() < end) {} }`,
    `async function f() { const s = performance.now(); do { x++; } while (performance.now() - s < 5); }`,
    `async function f() { for (const s = Date.now(); Date.now() - s < 10;) {} }`,
    `createTask(() => { Deno.readFileSync("a"); });`,
    `class C { async load() { return new Deno.Command("ls").outputSync(); } }`,
    `import { gzipSync } from "node:zlib";
     async function f(b: Uint8Array) { return gzipSync(b); }`,
    `import { scryptSync } from "node:crypto";
     async function f() { return scryptSync("pw", "salt", 64); }`,
    `async function f() { const x = Deno.readTextFileSync("a").trim(); }`,
  ], [
    `Deno.readTextFileSync("config.json");`,
    `function f() { return Deno.readTextFileSync("a"); }`,
    `const config = JSON.parse(Deno.readTextFileSync("c.json"));
     async function f() { return config; }`,
    `import { readFile } from "node:fs/promises";
     async function f() { return await readFile("a"); }`,
    `import { readFileSync } from "node:fs";
     function f() { return readFileSync("a"); }`,
    `async function f() { function inner() { Deno.statSync("a"); } return inner; }`,
    `async function f() { const end = Date.now() + 100; while (Date.now() < end) { await sleep(10); } }`,
    `async function f() { while (queue.size > 0) { Date.now(); } }`,
    `async function f() { for await (const x of xs) { if (Date.now() > d) break; } }`,
    `import { toWorker } from "@aio/std/async";
     async function f() { return await toWorker(() => Deno.readFileSync("a")); }`,
    `async function f() { const t = Date.now(); return t; }`,
    `async function f() { Deno.cwd(); Deno.env.get("HOME"); }`,
    `async function f(o: { readSync(): void }) { o.readSync(); }`,
  ]);
});

Deno.test("aio/no-blocking-in-async: the fix swaps in the async twin", () => {
  assert.equal(
    fixed(
      `async function f() { const x = Deno.readTextFileSync("a").trim(); }`,
      "no-blocking-in-async",
    ),
    `async function f() { const x = (await Deno.readTextFile("a")).trim(); }`,
  );
  assert.equal(
    fixed(
      `async function f() { Deno.writeTextFileSync("a", "b"); }`,
      "no-blocking-in-async",
    ),
    `async function f() { await Deno.writeTextFile("a", "b"); }`,
  );
  // No twin of the same shape (readDir is an async iterable): no fix.
  assert.deepEqual(
    ids(`async function f() { Deno.readDirSync("."); }`, "no-blocking-in-async")
      .map((d) => d.fix ?? []),
    [[]],
  );
});

Deno.test("aio/no-floating-promise: awaitables used as statements", async (t) => {
  await table(t, "no-floating-promise", [
    `async function f() { sleep(10); }`,
    `function f() { gather(() => 1); }`,
    `async function f() { timeout(10, () => g()); }`,
    `async function f() { retry(() => g()); }`,
    `async function f() { TaskGroup.run((tg) => {}); }`,
    `async function f(queue: Queue<number>) { queue.put(1); }`,
    `async function f() { const q = new Queue<number>(); q.put(1); }`,
    `async function f() { const lock = new Lock(); lock.acquire(); }`,
    `async function f(session) { session.get("/"); }`,
    `async function f() { const conn = await connect("postgres://x"); conn.execute("select 1"); }`,
    `async function save() {} async function f() { save(); }`,
    `const save = async () => {}; function f() { save(); }`,
    `class C { async save() {} run() { this.save(); } }`,
    `async function f() { fetch("http://127.0.0.1/"); }`,
    `async function f(ps: Promise<void>[]) { Promise.all(ps); }`,
    `class W { #event = new Event(); async f() { this.#event.wait(); } }`,
    `class W { event = new Event(); async f() { this.event.wait(); } }`,
    `import * as aio from "@aio/std/async";
     async function f() { aio.sleep(1); }`,
  ], [
    `async function f() { await sleep(10); }`,
    `function f() { return sleep(10); }`,
    `async function f() { const p = sleep(10); await other(); await p; }`,
    `async function f() { void sleep(10); }`,
    `function f() { sleep(10).then(() => done()); }`,
    `function f() { sleep(10).catch(() => {}); }`,
    `const f = () => sleep(10);`,
    `async function f() { await Promise.all([sleep(1), sleep(2)]); }`,
    `function f(map: Map<string, number>) { map.get("a"); }`,
    `async function f() { const queue: number[] = []; queue.push(1); }`,
    `async function f() { const queue = new Set(); queue.add(1); }`,
    `async function main() {} main();`,
    `async function main() {} if (import.meta.main) main();`,
    `function sleep2(ms: number) {} function f() { sleep2(1); }`,
    `// own imports
     import { sleep } from "npm:other";
     function f() { sleep(1); }`,
    `async function f(q: Queue<number>) { q.putNowait(1); }`,
    `async function f(lock: Lock) { lock.release(); }`,
    `async function f() { const { conn } = await dial(); conn.close(); }`,
    `async function f(conn) { conn.close(); }`,
    `// own imports
     import { Queue } from "npm:bullmq";
     async function f() { const queue = new Queue("jobs"); queue.get("x"); }`,
    `// own imports
     import { Lock } from "npm:other";
     function f(lock: Lock) { lock.acquire(); }`,
    `function f(tasks: unknown[]) { tasks.push(sleep(1)); }`,
  ]);
});

Deno.test("aio/no-floating-promise: the fix awaits inside async functions only", () => {
  assert.equal(
    fixed(`async function f() { sleep(10); }`, "no-floating-promise"),
    `async function f() { await sleep(10); }`,
  );
  assert.deepEqual(
    ids(`function f() { sleep(10); }`, "no-floating-promise").map((d) =>
      d.fix ?? []
    ),
    [[]],
  );
});

Deno.test("aio/no-orphan-task: createTask results dropped", async (t) => {
  await table(t, "no-orphan-task", [
    `createTask(async () => {});`,
    `async function f() { createTask(() => g()); }`,
    `function f() { createTask(g, { name: "refresh" }); }`,
    `class C { start() { createTask(() => this.loop()); } }`,
    `for (const url of urls) createTask(() => fetch(url));`,
    `if (ok) { createTask(() => g()); }`,
    `import * as aio from "@aio/std/async";
     aio.createTask(() => g());`,
    `import { createTask as spawn } from "@aio/std/async";
     spawn(() => g());`,
    `import { createTask as spawn } from "../async/task.ts";
     spawn(() => g());`,
    `async function f() { await sleep(1); createTask(() => g()); return 1; }`,
    `export function f() { try { createTask(() => g()); } finally { h(); } }`,
  ], [
    `const task = createTask(() => g()); await task;`,
    `await createTask(() => g());`,
    `function f() { return createTask(() => g()); }`,
    `const f = () => createTask(() => g());`,
    `void createTask(() => g());`,
    `await TaskGroup.run((tg) => { tg.createTask(() => g()); });`,
    `await using tasks = new TaskSet(); tasks.createTask(() => g());`,
    `const tasks = [createTask(() => g())];`,
    `createTask(() => g()).addDoneCallback(() => {});`,
    `function createTask2() {} createTask2();`,
    `// own imports
     import { createTask } from "npm:other";
     createTask(() => g());`,
    `holder.task = createTask(() => g());`,
  ]);
});

Deno.test("aio/require-dispose: resources without using or finally", async (t) => {
  await table(t, "require-dispose", [
    `async function f() { const time = new FakeTime(); time.tick(1); }`,
    `async function f() { const tasks = new TaskSet(); tasks.createTask(g); }`,
    `async function f() { const conn = await connect("postgres://x"); await conn.fetch("select 1"); }`,
    `async function f() { const pool = await createPool({ max: 2 }); await pool.fetch("q"); }`,
    `async function f() { const file = await open("a.txt", "r"); await file.read(); }`,
    `async function f() { const s = new ClientSession(); await s.get("/"); await s.close(); }`,
    `async function f() { let pool = new WorkerPool(); await pool.run(g); }`,
    `async function f(lock: Lock) { const guard = await lock.acquire(); work(); }`,
    `async function f(sem: Semaphore) { await sem.acquire(); work(); }`,
    `new FakeTime();`,
    `async function f() { new ClientSession(); }`,
    `const time = new FakeTime(); Deno.test("x", () => {});`,
    `async function f(lock: Lock) { await lock.acquire(); work(); lock.release(); }`,
  ], [
    `async function f() { using time = new FakeTime(); time.tick(1); }`,
    `async function f() { await using tasks = new TaskSet(); }`,
    `async function f() { if (x) { await using s = new ClientSession(); } }`,
    `async function f() { const s = new ClientSession(); try { await s.get("/"); } finally { await s.close(); } }`,
    `function f() { const time = new FakeTime(); try { g(); } finally { time.restore(); } }`,
    `function f() { return new ClientSession(); }`,
    `function f() { const s = new ClientSession(); return s; }`,
    `class C { #s = new ClientSession(); }`,
    `class C { s: ClientSession; constructor() { this.s = new ClientSession(); } }`,
    `export const session = new ClientSession();`,
    `async function f(stack: AsyncDisposableStack) { const s = new ClientSession(); stack.use(s); }`,
    `async function f(lock: Lock) { await lock.acquire(); try { work(); } finally { lock.release(); } }`,
    `async function f(lock: Lock) { using _ = await lock.acquire(); work(); }`,
    `async function f(limiter: RateLimiter) { await limiter.acquire(); work(); }`,
    `async function f(limiter: RateLimiter) { const x = await limiter.acquire(); }`,
    `async function f() { const p = await createPool(); addEventListener("unload", () => p.close()); }`,
    `const time = new FakeTime(); g(); time.restore();`,
    `async function f() { const s = new ClientSession(); try { await s.get("/"); } finally { await s[Symbol.asyncDispose](); } }`,
    `function f() { let t; try { t = new FakeTime(); g(); } finally { t?.restore(); } }`,
    `function f() { const t = new FakeTime(); return { t }; }`,
  ]);
});

Deno.test("aio/require-dispose: the fix binds with using, not when a callback uses it", () => {
  assert.equal(
    fixed(
      `async function f() { const s = new ClientSession(); await s.get("/"); }`,
      "require-dispose",
    ),
    `async function f() { await using s = new ClientSession(); await s.get("/"); }`,
  );
  assert.equal(
    fixed(`function f() { const t = new FakeTime(); }`, "require-dispose"),
    `function f() { using t = new FakeTime(); }`,
  );
  assert.deepEqual(
    ids(
      `function f() { const t = new FakeTime(); setTimeout(() => t.tick(1)); }`,
      "require-dispose",
    ).map((d) => d.fix ?? []),
    [[]],
  );
  // `await using` needs an async function.
  assert.deepEqual(
    ids(`function f() { const s = new ClientSession(); }`, "require-dispose")
      .map((d) => d.fix ?? []),
    [[]],
  );
});

Deno.test("aio/no-swallowed-cancel: catches that eat cancellation", async (t) => {
  await table(t, "no-swallowed-cancel", [
    `async function f() { try { await sleep(1); } catch {} }`,
    `async function f() { try { await sleep(1); } catch (e) { console.error(e); } }`,
    `async function f(q: Queue<number>) { while (true) { try { await q.get(); } catch (e) { log(e); } } }`,
    `async function f() { try { await g(); } catch { return null; } }`,
    `async function f() { try { return await g(); } catch (e) { return { error: e }; } }`,
    `createTask(async () => { try { await sleep(1); } catch { /* ignore */ } });`,
    `async function f() { try { for await (const x of xs) use(x); } catch {} }`,
    `async function f() { try { await g(); } catch (e) { if (e instanceof TypeError) return; } }`,
    `async function f() { try { await g(); } catch (e) { errors.push(e); } finally { done(); } }`,
    `async function f() { try { await fetch(url); } catch { ok = false; } }`,
    `class C { async m() { try { await this.g(); } catch (error) { this.failed = true; } } }`,
    `async function f() { try { const r = await Deno.readTextFile("a"); await sleep(1); } catch {} }`,
  ], [
    `async function f() { try { await sleep(1); } catch (e) { if (isCancellation(e)) throw e; log(e); } }`,
    `async function f() { try { await sleep(1); } catch (e) { if (e instanceof CancelledError) throw e; } }`,
    `async function f() { try { await g(); } catch (e) { log(e); throw e; } }`,
    `async function f() { try { await g(); } catch (e) { throw new Error("wrapped", { cause: e }); } }`,
    `async function f() { try { await Deno.remove("a"); } catch { /* gone already */ } }`,
    `async function f() { try { return await Deno.readTextFile("a"); } catch { return ""; } }`,
    `async function f() { try { await import("./x.ts"); } catch { return null; } }`,
    `function f() { try { JSON.parse(s); } catch { return null; } }`,
    `async function f() { try { g(); } catch { return null; } await sleep(1); }`,
    `async function f() { try { await g(); } finally { done(); } }`,
    `async function f() { try { await g(); } catch (e) { if (signal.aborted) return; log(e); } }`,
    `async function f() { try { await g(); } catch (e) { if (e.name === "AbortError") throw e; } }`,
    `function f() { return new Promise((resolve, reject) => { (async () => { try { await g(); resolve(1); } catch (e) { reject(e); } })(); }); }`,
    `async function f() { try { await g(); } finally { try { await conn.close(); } catch {} } }`,
    `async function f() { try { await g(); } catch (e) { console.error(e); Deno.exit(1); } }`,
    `async function f() { try { return (await new Deno.Command("pg_config").output()).success; } catch { return false; } }`,
    `async function f() { try { for await (const e of Deno.readDir("/x")) use(e); } catch { /* no dir */ } }`,
    `async function f() { let caught; try { await g(); } catch (e) { caught = e; } await cleanup(); if (caught) throw caught; }`,
    `Deno.test("x", async () => { try { await g(); } catch (e) { assert.ok(e instanceof TypeError); } });`,
    `try { await sleep(1); } catch (error) { console.log(error); }`,
    `async function f() { await shield(async () => { try { await rollback(); } catch { /* best effort */ } }); }`,
    `class C { #fail(e: unknown) {} async m() { try { await this.g(); } catch (error) { this.#fail(error); } } }`,
    `async function f() { for (;;) { try { await g(); } catch { break; } } throw 1; }`
      .replace("break;", "throw 1;"),
  ]);
});

Deno.test("aio/no-swallowed-cancel: the fix rethrows when isCancellation is imported", () => {
  assert.equal(
    fixed(
      `async function f() { try { await sleep(1); } catch (e) { log(e); } }`,
      "no-swallowed-cancel",
    ),
    `async function f() { try { await sleep(1); } catch (e) { if (isCancellation(e)) throw e; log(e); } }`,
  );
  const [d] = Deno.lint.runPlugin(
    plugin,
    "a.ts",
    `async function f() { try { await g(); } catch (e) { log(e); } }`,
  );
  assert.equal(d.id, "aio/no-swallowed-cancel");
  assert.deepEqual(d.fix ?? [], []);
});

Deno.test("a throw in a nested function does not count for the catch around it", () => {
  const found = ids(
    `async function f() { try { await g(); } catch { const h = () => { throw 1; }; h; } }`,
    "no-swallowed-cancel",
  );
  assert.equal(found.length, 1);
});
