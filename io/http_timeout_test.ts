// timeout.total as the budget of a whole request: retries, the waits between
// them and the body read of the response returned all come out of it.
import assert from "node:assert/strict";
import { Event } from "../sync/event.ts";
import { FakeTime } from "../testing/fake_time.ts";
import { ClientSession, HTTPStatusError, HTTPTimeoutError } from "./http.ts";
import { hangUp, serve } from "./_test_util.ts";

// `promise`'s value, or "pending" after `ms` real milliseconds (also under
// a FakeTime).
async function within<T>(promise: Promise<T>, ms: number): Promise<T | string> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    FakeTime.restoreFor(() => {
      id = setTimeout(() => resolve("pending"), ms);
    });
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    FakeTime.restoreFor(() => clearTimeout(id));
  }
}

Deno.test("timeout.total spans the retries: a second attempt gets only what the first left", async () => {
  let calls = 0;
  const second = new Event();
  await using server = serve(async (req) => {
    if (++calls === 1) {
      return new Response("busy", {
        status: 429,
        headers: { "retry-after": "2" },
      });
    }
    second.set();
    await hangUp(req);
    return new Response("too late");
  });
  using time = new FakeTime();
  const retried = new Event();
  await using session = new ClientSession({
    timeout: { total: 3000 },
    retry: { attempts: 3, onRetry: () => retried.set() },
  });
  const start = time.now;
  let settled = false;
  const outcome = session.get(server.url).catch((e) => e)
    .finally(() => settled = true);
  // The Retry-After wait (2 s of the 3 s budget), then attempt 2 hangs.
  await retried.wait();
  await time.tickAsync(2000);
  await second.wait();
  await time.tickAsync(950 - (time.now - start - 2000));
  assert.equal(settled, false);
  await time.tickAsync(100); // 3 s since the request began, not 5
  // The abort itself goes through real I/O: give it real time.
  const error = await within(outcome, 5000);
  assert.ok(settled, "still pending 3 s into a 3 s budget");
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.equal(error.timeout, "total");
  assert.equal(calls, 2);
});

Deno.test("timeout.total: a Retry-After longer than what is left rejects at once, with the last answer as cause", async () => {
  let calls = 0;
  await using server = serve(() =>
    ++calls === 1
      ? new Response("busy", { status: 503, headers: { "retry-after": "1" } })
      : new Response("done")
  );
  await using session = new ClientSession({
    timeout: { total: 300 },
    retry: { attempts: 3 },
  });
  const start = performance.now();
  const error = await session.get(server.url).catch((e) => e);
  const elapsed = performance.now() - start;
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.equal(error.timeout, "total");
  assert.match(
    error.message,
    /the total timeout of 300 ms would pass before attempt 2 could start/,
  );
  assert.ok(error.cause instanceof HTTPStatusError);
  assert.equal((error.cause as HTTPStatusError).status, 503);
  assert.equal(calls, 1);
  assert.ok(elapsed < 1000, `slept ${elapsed} ms into a sure timeout`);
});

Deno.test("timeout.total also covers the body read of the response a retry returned", async () => {
  let calls = 0;
  await using server = serve(() => {
    if (++calls === 1) return new Response(null, { status: 503 });
    return new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("part"));
        },
        pull: () => new Promise(() => {}),
      }),
    );
  });
  await using session = new ClientSession({
    timeout: { total: 200 },
    retry: { attempts: 2, minDelay: 1, maxDelay: 1 },
  });
  const resp = await session.get(server.url);
  const error = await resp.text().catch((e) => e);
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.equal(error.timeout, "total");
  assert.equal(calls, 2);
});

Deno.test("timeout.connect and timeout.read stay per attempt under a total budget", async () => {
  let calls = 0;
  await using server = serve(async (req) => {
    if (++calls === 1) {
      await hangUp(req); // attempt 1 times out on connect and is retried
      return new Response("late");
    }
    return new Response("second");
  });
  await using session = new ClientSession({
    timeout: { total: 5000, connect: 100 },
    retry: { attempts: 2, minDelay: 1, maxDelay: 1 },
  });
  const resp = await session.get(server.url);
  assert.equal(await resp.text(), "second");
  assert.equal(calls, 2);
});
