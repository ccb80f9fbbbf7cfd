// Debug mode's report of a response whose body was never read nor released
// (aiohttp's "Unclosed response"): it holds its slot for good.
import assert from "node:assert/strict";
import {
  type DebugReport,
  enableDebug,
  setDebugReporter,
} from "../async/debug.ts";
import { ClientSession } from "./http.ts";
import { gcUntil, withReports } from "../async/_test_util.ts";
import { serve } from "./_test_util.ts";

// withReports with debug mode on inside.
function withDebugReports(
  fn: (reports: DebugReport[]) => Promise<void>,
): Promise<DebugReport[]> {
  return withReports(async (reports) => {
    using _debug = enableDebug();
    await fn(reports);
  });
}

Deno.test("debug mode reports a response collected unread, with the place where it was made", async () => {
  await using server = serve(() => new Response("never read"));
  const reports = await withDebugReports(async (reports) => {
    await using session = new ClientSession();
    await (async () => {
      await session.get(server.url); // dropped: body unread, slot held
    })();
    await gcUntil(() => reports.length > 0);
  });
  assert.deepEqual(reports.map((r) => [r.kind, r.resource]), [
    ["unclosed", "ClientResponse"],
  ]);
  // The line of the `session.get` above.
  const line = Deno.readTextFileSync(new URL(import.meta.url)).split("\n")
    .findIndex((text) => text.includes("// dropped: body unread")) + 1;
  assert.match(reports[0].site!, new RegExp(`http_debug_test\\.ts:${line}:`));
  assert.match(reports[0].message, /unclosed ClientResponse, made at/);
});

Deno.test("debug mode does not report responses that were read, released, bodiless or closed with the session", async () => {
  await using server = serve((req) =>
    req.method === "HEAD"
      ? new Response(null, { headers: { "x-a": "1" } })
      : new URL(req.url).pathname === "/empty"
      ? new Response(null, { status: 204 })
      : new Response("body")
  );
  const reports = await withDebugReports(async () => {
    await using session = new ClientSession({ baseURL: server.url });
    await (async () => {
      await (await session.get("/")).text();
      await (await session.get("/")).release();
      {
        await using _resp = await session.get("/");
      }
      await (await session.get("/")).body.cancel();
      for await (const _ of (await session.get("/")).lines()) break;
      await (await session.get("/")).raiseForStatus().then((r) => r.text());
      await session.head("/");
      await session.get("/empty");
      await session.fetchText("/");
    })();
    {
      const other = new ClientSession({ baseURL: server.url });
      await other.get("/"); // unread, but the session's close releases it
      await other.close();
    }
    await gcUntil(() => false, 10);
  });
  assert.deepEqual(reports, []);
});

Deno.test("without debug mode an unread response is not reported", async () => {
  await using server = serve(() => new Response("never read"));
  const reports: DebugReport[] = [];
  const previous = setDebugReporter((report) => reports.push(report));
  try {
    await using session = new ClientSession();
    await (async () => {
      await session.get(server.url);
    })();
    await gcUntil(() => false, 10);
  } finally {
    setDebugReporter(previous);
  }
  assert.deepEqual(reports, []);
});
