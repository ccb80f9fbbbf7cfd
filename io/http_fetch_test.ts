// ClientSession.fetchText / fetchJson: one call, the body read to its end,
// the slot free again, a status >= 400 raised unless told otherwise.
import assert from "node:assert/strict";
import { CancelledError, createTask, sleep } from "../async/mod.ts";
import { ClientSession, HTTPStatusError } from "./http.ts";
import { serve } from "./_test_util.ts";

Deno.test("fetchText() and fetchJson() read the whole body and free the slot", async () => {
  await using server = serve((req) =>
    new URL(req.url).pathname === "/json"
      ? Response.json({ a: [1, 2] })
      : new Response("plain")
  );
  // One slot: each call must give it back, or the next one would wait.
  await using session = new ClientSession({ baseURL: server.url, limit: 1 });
  assert.equal(await session.fetchText("/text"), "plain");
  assert.deepEqual(await session.fetchJson("/json"), { a: [1, 2] });
  assert.equal(await session.fetchText("/text", { params: { q: 1 } }), "plain");
});

Deno.test("fetchJson() sends the method and body given; GET by default", async () => {
  await using server = serve(async (req) =>
    Response.json({ method: req.method, body: await req.text() })
  );
  await using session = new ClientSession({ baseURL: server.url });
  assert.deepEqual(await session.fetchJson("/"), { method: "GET", body: "" });
  assert.deepEqual(
    await session.fetchJson("/", { method: "put", json: { x: 1 } }),
    { method: "PUT", body: '{"x":1}' },
  );
});

Deno.test("fetchText() rejects on a status >= 400 by default, with the excerpt, and frees the slot", async () => {
  await using server = serve((req) =>
    new URL(req.url).pathname === "/missing"
      ? new Response("no such page", { status: 404 })
      : new Response("fine")
  );
  // The session itself does not raise; the shortcut does.
  await using session = new ClientSession({ baseURL: server.url, limit: 1 });
  const error = await session.fetchText("/missing").catch((e) => e);
  assert.ok(error instanceof HTTPStatusError, String(error));
  assert.equal(error.status, 404);
  assert.equal(error.body, "no such page");
  await assert.rejects(session.fetchJson("/missing"), HTTPStatusError);
  assert.equal(
    await session.fetchText("/missing", { raiseForStatus: false }),
    "no such page",
  );
  assert.equal(await session.fetchText("/ok"), "fine");
});

Deno.test("fetchJson() of a body that is not JSON rejects with SyntaxError and frees the slot", async () => {
  await using server = serve(() => new Response("<html>"));
  await using session = new ClientSession({ limit: 1 });
  await assert.rejects(session.fetchJson(server.url), SyntaxError);
  assert.equal(await session.fetchText(server.url), "<html>");
});

Deno.test("fetchText() cancelled mid-body rejects with CancelledError and frees the slot", async () => {
  const encoder = new TextEncoder();
  await using server = serve((req) =>
    new URL(req.url).pathname === "/slow"
      ? new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(encoder.encode("first "));
          },
          pull: () => new Promise(() => {}),
        }),
      )
      : new Response("next")
  );
  await using session = new ClientSession({ baseURL: server.url, limit: 1 });
  const task = createTask(() => session.fetchText("/slow"));
  await sleep(50);
  task.cancel();
  await assert.rejects(task, CancelledError);
  assert.equal(await session.fetchText("/next"), "next");
});
