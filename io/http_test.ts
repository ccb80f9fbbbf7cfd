import assert from "node:assert/strict";
import {
  CancelledError,
  createTask,
  gather,
  sleep,
  TaskGroup,
  timeout,
  TimeoutError,
} from "../async/mod.ts";
import { Event } from "../sync/event.ts";
import { FakeTime } from "../testing/fake_time.ts";
import {
  ClientConnectionError,
  ClientSession,
  HTTPStatusError,
  HTTPTimeoutError,
} from "./http.ts";
import { hangUp, serve } from "./_test_util.ts";

// A body that sends `first`, then nothing until the client goes away.
function stalledBody(first: string, closed?: () => void): ReadableStream {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(first));
    },
    pull() {
      return new Promise(() => {});
    },
    cancel() {
      closed?.();
    },
  });
}

Deno.test("the seed's three concurrent fetches take about the longest delay, not the sum", async () => {
  await using server = serve(async (req) => {
    const ms = Number(new URL(req.url).searchParams.get("ms"));
    await new Promise((r) => setTimeout(r, ms));
    return new Response(`slept ${ms}`);
  });
  await using session = new ClientSession({ baseURL: server.url });
  const fetchText = async (ms: number) => {
    await using resp = await session.get("/delay", { params: { ms } });
    return await resp.text();
  };
  const start = performance.now();
  const pages = await gather(
    () => fetchText(100),
    () => fetchText(200),
    () => fetchText(300),
  );
  const elapsed = performance.now() - start;
  assert.deepEqual(pages, ["slept 100", "slept 200", "slept 300"]);
  assert.ok(elapsed >= 290, `took ${elapsed} ms`);
  assert.ok(elapsed < 550, `took ${elapsed} ms: the requests did not overlap`);
});

Deno.test("relative URLs keep the base path; absolute ones and params pass through", async () => {
  await using server = serve((req) => {
    const url = new URL(req.url);
    return new Response(url.pathname + url.search);
  });
  await using session = new ClientSession({ baseURL: `${server.url}/api/v1` });
  const text = async (url: string, params?: Record<string, string>) =>
    await (await session.get(url, { params })).text();
  assert.equal(await text("/users"), "/api/v1/users");
  assert.equal(await text("users?a=1", { b: "2" }), "/api/v1/users?a=1&b=2");
  assert.equal(await text(`${server.url}/other`), "/other");
});

Deno.test("JSON, form, bytes and stream bodies are sent with their content types", async () => {
  await using server = serve(async (req) =>
    Response.json({
      type: req.headers.get("content-type"),
      body: await req.text(),
      agent: req.headers.get("user-agent"),
    })
  );
  await using session = new ClientSession({
    baseURL: server.url,
    headers: { "user-agent": "aio-test" },
  });
  const send = async (options: Parameters<typeof session.post>[1]) =>
    await (await session.post("/", options)).json();
  assert.deepEqual(await send({ json: { a: 1 } }), {
    type: "application/json",
    body: '{"a":1}',
    agent: "aio-test",
  });
  assert.deepEqual(await send({ form: { a: "1", b: "x y" } }), {
    type: "application/x-www-form-urlencoded;charset=UTF-8",
    body: "a=1&b=x+y",
    agent: "aio-test",
  });
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("streamed "));
      controller.enqueue(new TextEncoder().encode("body"));
      controller.close();
    },
  });
  assert.deepEqual(
    await send({ body: stream, headers: { "user-agent": "override" } }),
    { type: null, body: "streamed body", agent: "override" },
  );
});

Deno.test("timeout.total fires on a slow server and says so", async () => {
  await using server = serve(async (req) => {
    await hangUp(req);
    return new Response("too late");
  });
  await using session = new ClientSession({ timeout: { total: 50 } });
  const error = await session.get(server.url).catch((e) => e);
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.ok(error instanceof TimeoutError);
  assert.equal(error.timeout, "total");
  assert.match(error.message, /total timeout of 50 ms/);
});

Deno.test("timeout.connect fires when the headers do not come", async () => {
  await using server = serve(async (req) => {
    await hangUp(req);
    return new Response("too late");
  });
  await using session = new ClientSession();
  const error = await session.get(server.url, { timeout: { connect: 50 } })
    .catch((e) => e);
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.equal(error.timeout, "connect");
});

Deno.test("timeout.read fires when the server stalls mid-body", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => closed = r);
  await using server = serve(() =>
    new Response(stalledBody("first part ", closed))
  );
  await using session = new ClientSession({ timeout: { read: 50 } });
  const resp = await session.get(server.url);
  const error = await resp.text().catch((e) => e);
  assert.ok(error instanceof HTTPTimeoutError, String(error));
  assert.equal(error.timeout, "read");
  await serverSawClose;
});

Deno.test("a 429 with Retry-After: 2 is retried after 2 virtual seconds", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return calls === 1
      ? new Response("busy", { status: 429, headers: { "retry-after": "2" } })
      : new Response("done");
  });
  using time = new FakeTime();
  const attempts: number[] = [];
  const retried = new Event();
  const delays: number[] = [];
  await using session = new ClientSession({
    baseURL: server.url,
    retry: {
      attempts: 3,
      onRetry: (info) => {
        delays.push(info.delay);
        retried.set();
      },
    },
    hooks: { beforeRequest: (req) => void attempts.push(req.attempt) },
  });
  const response = session.get("/");
  await retried.wait();
  assert.deepEqual(delays, [2000]);
  await time.tickAsync(1999);
  assert.deepEqual(attempts, [1]);
  await time.tickAsync(1);
  assert.deepEqual(attempts, [1, 2]);
  const resp = await response;
  assert.equal(await resp.text(), "done");
  assert.equal(calls, 2);
});

Deno.test("Retry-After as an HTTP date, capped by maxRetryAfter", async () => {
  let calls = 0;
  await using server = serve(() =>
    ++calls === 1
      ? new Response(null, {
        status: 503,
        headers: {
          "retry-after": new Date(Date.now() + 3_600_000).toUTCString(),
        },
      })
      : new Response("ok")
  );
  const delays: number[] = [];
  await using session = new ClientSession({
    retry: {
      maxRetryAfter: 5,
      onRetry: (info) => void delays.push(info.delay),
    },
  });
  assert.equal(await (await session.get(server.url)).text(), "ok");
  assert.deepEqual(delays, [5]);
});

Deno.test("a POST is not retried; a GET is, until the attempts run out", async () => {
  let calls = 0;
  await using server = serve(() => {
    calls++;
    return new Response("down", { status: 503 });
  });
  const timeline: (number | undefined)[] = [];
  await using session = new ClientSession({
    retry: {
      attempts: 3,
      minDelay: 1,
      onRetry: (info) => void timeline.push(info.status),
    },
  });
  const post = await session.post(server.url, { body: "x" });
  assert.equal(post.status, 503);
  await post.release();
  assert.equal(calls, 1);
  const get = await session.get(server.url);
  assert.equal(get.status, 503);
  assert.equal(await get.text(), "down");
  assert.equal(calls, 4);
  assert.deepEqual(timeline, [503, 503]);
});

Deno.test("an explicit signal also ends the wait between attempts", async () => {
  await using server = serve(() =>
    new Response(null, { status: 503, headers: { "retry-after": "30" } })
  );
  const controller = new AbortController();
  await using session = new ClientSession({
    retry: { onRetry: () => controller.abort() },
  });
  const start = performance.now();
  await assert.rejects(
    session.get(server.url, { signal: controller.signal }),
    CancelledError,
  );
  const elapsed = performance.now() - start;
  assert.ok(elapsed < 10_000, `waited ${elapsed} ms for a cancelled backoff`);
});

Deno.test("a stream body is not retried", async () => {
  let calls = 0;
  await using server = serve(async (req) => {
    calls++;
    await req.text();
    return new Response(null, { status: 503 });
  });
  await using session = new ClientSession({ retry: { minDelay: 1 } });
  const resp = await session.put(server.url, {
    body: new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([1]));
        c.close();
      },
    }),
  });
  assert.equal(resp.status, 503);
  assert.equal(calls, 1);
});

Deno.test("network errors are retried and end as ClientConnectionError with the cause", async () => {
  const listener = Deno.listen({ port: 0 });
  const port = listener.addr.port;
  listener.close();
  const attempts: number[] = [];
  await using session = new ClientSession({
    retry: {
      attempts: 3,
      minDelay: 1,
      onRetry: (i) => void attempts.push(i.attempt),
    },
  });
  const error = await session.get(`http://127.0.0.1:${port}/`).catch((e) => e);
  assert.ok(error instanceof ClientConnectionError, String(error));
  assert.ok(error.cause instanceof Error);
  assert.match(
    error.message,
    /^Cannot GET http:\/\/127\.0\.0\.1:\d+\/: the connection failed/,
  );
  assert.deepEqual(attempts, [1, 2]);
});

Deno.test("limitPerHost: 2 is never exceeded, and a slot is held until the body is read", async () => {
  let running = 0;
  let most = 0;
  await using server = serve(async () => {
    most = Math.max(most, ++running);
    await new Promise((r) => setTimeout(r, 10));
    running--;
    return new Response("x".repeat(100));
  });
  await using session = new ClientSession({ limitPerHost: 2 });
  await Promise.all(Array.from({ length: 8 }, async () => {
    const resp = await session.get(server.url);
    await new Promise((r) => setTimeout(r, 5)); // the body is still unread
    return await resp.text();
  }));
  assert.equal(most, 2);
});

Deno.test("limit: the next request waits until the body is released; the wait is cancellable", async () => {
  await using server = serve(() => new Response("body"));
  await using session = new ClientSession({ limit: 1 });
  const first = await session.get(server.url);
  // The slot is taken: a second request waits, and can be cancelled there.
  const waiting = createTask(() => session.get(server.url));
  await sleep(20);
  assert.equal(waiting.done(), false);
  waiting.cancel();
  await assert.rejects(waiting, CancelledError);
  {
    await using _ = first; // released unread at block end
  }
  const second = await session.get(server.url);
  assert.equal(await second.text(), "body");
});

Deno.test("a task cancelled mid-body aborts the transfer: the server sees the close", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => closed = r);
  await using server = serve(() => new Response(stalledBody("part", closed)));
  await using session = new ClientSession();
  const started = new Event();
  const task = createTask(async () => {
    const resp = await session.get(server.url);
    const chunks = resp.body[Symbol.asyncIterator]();
    await chunks.next();
    started.set();
    await chunks.next();
  });
  await started.wait();
  task.cancel();
  await assert.rejects(task, CancelledError);
  await serverSawClose;
});

Deno.test("a body read answers to the reader's scope, not to the scope that made the request", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => closed = r);
  await using server = serve(() => new Response(stalledBody("part", closed)));
  await using session = new ClientSession();
  // Made in a timeout scope that has exited by the time the body is read.
  const resp = await timeout(10_000, () => session.get(server.url));
  await assert.rejects(
    TaskGroup.run(async (tg) => {
      tg.createTask(() => resp.text());
      await sleep(20);
      throw new Error("sibling failed");
    }),
    (e: AggregateError) => e.errors.length === 1,
  );
  await serverSawClose;
  await assert.rejects(resp.text(), TypeError); // abandoned: already used
});

Deno.test("an explicit signal aborts the request", async () => {
  await using server = serve(async (req) => {
    await hangUp(req);
    return new Response("late");
  });
  await using session = new ClientSession();
  const controller = new AbortController();
  const request = session.get(server.url, { signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(request, CancelledError);
  const reason = new Error("mine");
  const again = session.get(server.url, { signal: AbortSignal.abort(reason) });
  await assert.rejects(again, (e) => e === reason);
});

Deno.test("await using session aborts what is in flight and waits for it", async () => {
  let serverSawClose!: Promise<void>;
  await using server = serve((req) => {
    if (new URL(req.url).pathname === "/stall") {
      return new Response(stalledBody("part"));
    }
    serverSawClose = hangUp(req);
    return serverSawClose.then(() => new Response("late"));
  });
  let request!: Promise<unknown>;
  let unread!: { text(): Promise<string> };
  let reading!: Promise<unknown>;
  {
    await using session = new ClientSession({ baseURL: server.url });
    unread = await session.get("/stall");
    const stalled = await session.get("/stall");
    reading = createTask(() => stalled.text()).catch((e) => e);
    // Made in a task's scope: it has an abort signal.
    request = createTask(() => session.get("/hang")).catch((e) => e);
    await sleep(20);
  }
  assert.ok((await request) instanceof CancelledError);
  assert.ok((await reading) instanceof CancelledError);
  await serverSawClose;
  await assert.rejects(unread.text());
});

Deno.test("close() waits for the headers of a request made outside every scope, then rejects it", async () => {
  let answer!: () => void;
  const answered = new Promise<void>((r) => answer = r);
  let arrived!: () => void;
  const requestArrived = new Promise<void>((r) => arrived = r);
  await using server = serve(async () => {
    arrived();
    await answered;
    return new Response(stalledBody("never read"));
  });
  const session = new ClientSession();
  const request = session.get(server.url).catch((e) => e);
  await requestArrived;
  let closed = false;
  const closing = session.close().then(() => closed = true);
  await sleep(20);
  assert.equal(closed, false); // it cannot abort a fetch without a signal
  answer();
  await closing;
  assert.ok((await request) instanceof CancelledError);
});

Deno.test("a body read of a request made outside every scope is cancelled through its reader", async () => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => closed = r);
  await using server = serve(() => new Response(stalledBody("part", closed)));
  await using session = new ClientSession();
  const resp = await session.get(server.url); // no scope, no signal
  const task = createTask(() => resp.text());
  await sleep(20);
  task.cancel();
  await assert.rejects(task, CancelledError);
  await serverSawClose;
});

Deno.test("raiseForStatus: HTTPStatusError with status, method, URL and a bounded excerpt", async () => {
  await using server = serve(() =>
    new Response("e".repeat(10_000), { status: 500 })
  );
  await using session = new ClientSession({ raiseForStatus: true });
  const url = new URL(server.url);
  url.username = "user";
  url.password = "secret";
  const error = await session.get(url).catch((e) => e);
  assert.ok(error instanceof HTTPStatusError, String(error));
  assert.equal(error.status, 500);
  assert.equal(error.method, "GET");
  assert.ok(!error.url.includes("secret"));
  assert.ok(!error.message.includes("secret"));
  assert.ok(error.body.length <= 1024 && error.body.length > 0);
  const plain = await session.get(server.url, { raiseForStatus: false });
  assert.equal(plain.status, 500);
  await plain.release();
});

Deno.test("SSE events split across chunks come out whole", async () => {
  const pieces = [
    "data: hel",
    "lo\n",
    "\nevent: up",
    'date\ndata: {"a":1}\r',
    "\n\r\n: comment\nid: 7\ndata: x\n\n",
    "data: unfinished",
  ];
  await using server = serve(() =>
    new Response(
      new ReadableStream({
        async start(controller) {
          for (const piece of pieces) {
            controller.enqueue(new TextEncoder().encode(piece));
            await new Promise((r) => setTimeout(r, 2));
          }
          controller.close();
        },
      }),
      { headers: { "content-type": "text/event-stream" } },
    )
  );
  await using session = new ClientSession();
  const resp = await session.get(server.url);
  const events = [];
  for await (const event of resp.events()) events.push(event);
  assert.deepEqual(events, [
    { event: "message", data: "hello", id: "" },
    { event: "update", data: '{"a":1}', id: "" },
    { event: "message", data: "x", id: "7" },
  ]);
});

Deno.test("lines() splits across chunks; breaking out releases the body", async () => {
  await using server = serve(() => new Response("a\nb\r\nc\rd"));
  await using session = new ClientSession({ limit: 1 });
  const lines = [];
  for await (const line of (await session.get(server.url)).lines()) {
    lines.push(line);
  }
  assert.deepEqual(lines, ["a", "b", "c", "d"]);
  for await (const line of (await session.get(server.url)).lines()) {
    assert.equal(line, "a");
    break;
  }
  // The slot came back: this would wait for ever otherwise.
  assert.equal(await (await session.get(server.url)).text(), "a\nb\r\nc\rd");
});

Deno.test("cookies set by a response go back to the same host, not to another", async () => {
  const seen: (string | null)[] = [];
  await using server = serve((req) => {
    seen.push(req.headers.get("cookie"));
    return new Response("ok", {
      headers: [
        ["set-cookie", "session=abc; Path=/; HttpOnly"],
        ["set-cookie", "pref=dark; Max-Age=3600"],
        ["set-cookie", "gone=1; Max-Age=0"],
        ["set-cookie", "tls=1; Secure"],
      ],
    });
  });
  const port = server.addr.port;
  await using session = new ClientSession();
  await (await session.get(`http://127.0.0.1:${port}/a`)).text();
  await (await session.get(`http://127.0.0.1:${port}/b`)).text();
  await (await session.get(`http://127.0.0.2:${port}/b`)).text();
  assert.deepEqual(seen, [null, "session=abc; pref=dark", null]);

  await using without = new ClientSession({ cookies: false });
  await (await without.get(`http://127.0.0.1:${port}/`)).text();
  await (await without.get(`http://127.0.0.1:${port}/`)).text();
  assert.deepEqual(seen.slice(3), [null, null]);
});

Deno.test("redirects: a cookie set by a 302 is kept; a 303 after a POST becomes a GET; no cookie to another host", async () => {
  const seen: string[] = [];
  await using server = serve((req) => {
    const url = new URL(req.url);
    seen.push(
      `${req.method} ${url.host.split(":")[0]}${url.pathname} ${
        req.headers.get("cookie") ?? "-"
      }`,
    );
    switch (url.pathname) {
      case "/login":
        return new Response(null, {
          status: 303,
          headers: { location: "/home", "set-cookie": "sid=42; Path=/" },
        });
      case "/away":
        return Response.redirect(
          `http://127.0.0.2:${url.port}/elsewhere`,
          302,
        );
      case "/loop":
        return Response.redirect(`${url.origin}/loop`, 307);
      default:
        return new Response(`at ${url.pathname}`);
    }
  });
  await using session = new ClientSession({ baseURL: server.url });
  const home = await session.post("/login", { form: { user: "ada" } });
  assert.equal(await home.text(), "at /home");
  assert.ok(home.redirected);
  assert.match(home.url, /\/home$/);
  const away = await session.get("/away");
  assert.equal(await away.text(), "at /elsewhere");
  assert.deepEqual(seen, [
    "POST 127.0.0.1/login -",
    "GET 127.0.0.1/home sid=42",
    "GET 127.0.0.1/away sid=42",
    "GET 127.0.0.2/elsewhere -",
  ]);
  await assert.rejects(session.get("/loop"), /more than 10 redirects/);
  const manual = await session.get("/login", { redirect: "manual" });
  assert.equal(manual.status, 303);
  await manual.release();
});

Deno.test("HEAD and 204 responses free their slot at once", async () => {
  await using server = serve((req) =>
    req.method === "HEAD"
      ? new Response(null, { headers: { "x-len": "3" } })
      : new Response(null, { status: 204 })
  );
  await using session = new ClientSession({ limit: 1 });
  assert.equal((await session.head(server.url)).headers.get("x-len"), "3");
  assert.equal((await session.delete(server.url)).status, 204);
  assert.equal((await session.get(server.url)).status, 204);
});

Deno.test("bad input rejects with a clear error, never throws", async () => {
  await using session = new ClientSession();
  const rejects = (p: () => Promise<unknown>, pattern: RegExp) =>
    assert.rejects(
      p(),
      (e: Error) => e instanceof TypeError && pattern.test(e.message),
    );
  await rejects(
    () => session.get("/relative"),
    /relative URLs need the session's 'baseURL'/,
  );
  await rejects(() => session.request("BAD METHOD", "http://h/"), /HTTP token/);
  await rejects(
    () => session.post("http://h/", { json: 1, body: "x" }),
    /one of 'json', 'form' and 'body'/,
  );
  await assert.rejects(
    session.get("http://h/", { timeout: { total: -1 } }),
    RangeError,
  );
  assert.throws(() => new ClientSession({ limit: 0 }), RangeError);
  assert.throws(() => new ClientSession({ baseURL: "nope" }), TypeError);
  await session.close();
  await assert.rejects(session.get("http://h/"), /the ClientSession is closed/);
});

Deno.test("hooks: beforeRequest changes the headers of every hop; afterResponse sees each attempt; a failing afterResponse rejects and frees the slot", async () => {
  const seen: string[] = [];
  let calls = 0;
  await using server = serve((req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${path} ${req.headers.get("x-trace") ?? "-"}`);
    if (path === "/moved") return Response.redirect(`${req.url}/here`, 302);
    if (path === "/flaky" && ++calls === 1) {
      return new Response("busy", {
        status: 503,
        headers: { "retry-after": "0" },
      });
    }
    return new Response(`at ${path}`);
  });
  const statuses: [number, number][] = [];
  let refuse = false;
  await using session = new ClientSession({
    baseURL: server.url,
    limit: 1,
    retry: { attempts: 2, minDelay: 1, maxDelay: 1 },
    hooks: {
      beforeRequest: async (req) => {
        await sleep(1);
        req.headers.set("x-trace", `attempt-${req.attempt}`);
      },
      afterResponse: (resp, req) => {
        statuses.push([req.attempt, resp.status]);
        if (refuse) throw new RangeError("refused by the hook");
      },
    },
  });
  const moved = await session.get("/moved");
  assert.equal(await moved.text(), "at /moved/here");
  assert.ok(moved.redirected);
  const flaky = await session.get("/flaky");
  assert.equal(await flaky.text(), "at /flaky");
  assert.deepEqual(statuses, [[1, 200], [1, 503], [2, 200]]);
  refuse = true;
  await assert.rejects(session.get("/refused"), RangeError);
  // limit: 1, so the refused response's slot must have been given back.
  refuse = false;
  const after = await session.get("/after", { timeout: { total: 2_000 } });
  assert.equal(await after.text(), "at /after");
  assert.deepEqual(seen, [
    "/moved attempt-1",
    "/moved/here attempt-1",
    "/flaky attempt-1",
    "/flaky attempt-2",
    "/refused attempt-1",
    "/after attempt-1",
  ]);
});
