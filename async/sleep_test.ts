import assert from "node:assert/strict";
import { CancelledError, CancelScope, checkpoint } from "./cancel_scope.ts";
import { sleep } from "./sleep.ts";

Deno.test("sleep() resolves after the given time", async () => {
  const start = performance.now();
  await sleep(5);
  assert.ok(performance.now() - start >= 4);
});

Deno.test("sleep() rejects a bad ms with RangeError, never throwing synchronously", async (t) => {
  const cases: [string, unknown][] = [
    ["negative", -1],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", -Infinity],
    ["a string", "10"],
    ["undefined", undefined],
    ["a bigint", 10n],
  ];
  for (const [what, ms] of cases) {
    await t.step(what, async () => {
      await assert.rejects(sleep(ms as number), RangeError);
    });
  }
});

Deno.test("sleep() with an already-aborted signal rejects with its reason", async () => {
  const mine = new Error("mine");
  await assert.rejects(
    sleep(60_000, { signal: AbortSignal.abort(mine) }),
    (error) => error === mine,
  );
});

Deno.test("sleep() with a signal already aborted without a reason rejects with CancelledError", async () => {
  await assert.rejects(
    sleep(60_000, { signal: AbortSignal.abort() }),
    CancelledError,
  );
});

Deno.test("sleep() aborted without a reason while sleeping rejects with CancelledError and leaves no timer", async () => {
  const controller = new AbortController();
  const sleeping = sleep(60_000, { signal: controller.signal });
  await checkpoint();
  controller.abort();
  await assert.rejects(sleeping, CancelledError);
  // The op sanitizer fails this test if the 60-second timer is left behind.
});

Deno.test("sleep() aborted with a reason while sleeping rejects with that reason", async () => {
  const controller = new AbortController();
  const sleeping = sleep(60_000, { signal: controller.signal });
  await checkpoint();
  const mine = new Error("mine");
  controller.abort(mine);
  await assert.rejects(sleeping, (error) => error === mine);
});

Deno.test("sleep() in a scope cancelled while sleeping rejects with CancelledError and leaves no timer", async () => {
  const scope = new CancelScope();
  let sleepError: unknown;
  const body = scope.run(async () => {
    try {
      await sleep(60_000);
    } catch (error) {
      sleepError = error;
      throw error;
    }
  });
  await checkpoint();
  scope.cancel();
  await body;
  assert.ok(sleepError instanceof CancelledError);
});

Deno.test("sleep() in an already-cancelled scope rejects at once", async () => {
  const scope = new CancelScope();
  scope.cancel();
  let sleepError: unknown;
  await scope.run(async () => {
    try {
      await sleep(60_000);
    } catch (error) {
      sleepError = error;
      throw error;
    }
  });
  assert.ok(sleepError instanceof CancelledError);
});

Deno.test("sleep() rejects a signal that is not an AbortSignal with TypeError", async () => {
  await assert.rejects(
    async () => await sleep(1, { signal: {} as AbortSignal }),
    TypeError,
  );
});

Deno.test("sleep() rejects a bad 'persistent' or 'signal' with TypeError", async () => {
  await assert.rejects(sleep(1, { persistent: "no" as never }), TypeError);
  await assert.rejects(sleep(1, { signal: {} as never }), TypeError);
});

Deno.test("sleep(ms, { persistent: false }) does not keep the process alive; a persistent sleep does", async () => {
  const url = new URL("./sleep.ts", import.meta.url).href;
  const code = `
    import { sleep } from ${JSON.stringify(url)};
    sleep(600_000, { persistent: false }).then(() => console.log("woke"));
    await sleep(20);
    console.log("done");
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Generous: only a hang (the 10-minute sleep keeping the process) fails.
  const kill = setTimeout(() => child.kill(), 30_000);
  const { code: status, stdout } = await child.output();
  clearTimeout(kill);
  assert.equal(new TextDecoder().decode(stdout).trim(), "done");
  assert.equal(status, 0);
});

Deno.test("sleep(ms, { persistent: false }) still wakes up while the process runs", async () => {
  const hold = sleep(20); // keeps the process (and the test) alive
  await sleep(1, { persistent: false });
  await hold;
});
