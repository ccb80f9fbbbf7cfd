// The seed's HTTP patterns (aiohttp's and httpx's) with ClientSession, against
// a local server this example starts itself (httpbin's /delay, /get, /post):
// three fetches at once take about the longest delay; a base URL; JSON;
// and a task group cancelled while a request is in flight.
import { gather, moveOnAfter } from "@aio/std/async";
import { ClientSession } from "@aio/std/io/http";
import { stopwatch } from "./_log.ts";

// A server whose slow answers end early when it shuts down (a client that
// hung up leaves its handler waiting otherwise).
function startServer(): Deno.HttpServer<Deno.NetAddr> & AsyncDisposable {
  const waiting = new Set<() => void>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const url = new URL(req.url);
      const delay = url.pathname.match(/^\/delay\/(\d+)$/);
      if (delay) {
        // httpbin's /delay/<s>, in tenths of a second to keep the tour short.
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(id);
            waiting.delete(done);
            resolve();
          };
          const id = setTimeout(done, Number(delay[1]) * 100);
          waiting.add(done);
        });
        return new Response(`waited ${delay[1]}00 ms`);
      }
      if (url.pathname === "/get") return Response.json({ url: req.url });
      if (url.pathname === "/post") {
        return Response.json({ data: await req.text() });
      }
      return new Response("not found", { status: 404 });
    },
  );
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      for (const done of [...waiting]) done();
      await server.shutdown();
    },
  });
}

/**
 * Runs the patterns; returns what each one showed.
 */
export async function main(): Promise<{
  pages: string[];
  concurrentMs: number;
  status: number;
  posted: unknown;
  json: unknown;
  cancelledInFlight: boolean;
}> {
  const log = stopwatch("HTTP with ClientSession (aiohttp/httpx patterns)");
  await using server = startServer();
  const base = `http://127.0.0.1:${server.addr.port}`;

  // "Concurrent HTTP Requests": async with ClientSession, gather the fetches.
  await using session = new ClientSession();
  const fetchPage = async (url: string) => {
    await using resp = await session.get(url); // body released at block end
    return await resp.text();
  };
  const start = performance.now();
  const pages = await gather(
    () => fetchPage(`${base}/delay/1`),
    () => fetchPage(`${base}/delay/2`),
    () => fetchPage(`${base}/delay/3`),
  );
  const concurrentMs = performance.now() - start;
  log(`fetched ${pages.length} pages in ${concurrentMs.toFixed(0)} ms`);

  // aiohttp's base URL: ClientSession('http://httpbin.org').
  await using api = new ClientSession({ baseURL: base });
  let status: number;
  {
    await using resp = await api.get("/get");
    status = resp.status;
  }
  log(`GET /get -> ${status}`);
  const posted = await (await api.post("/post", { body: "data" })).json();
  log(`POST /post -> ${JSON.stringify(posted)}`);

  // httpx's AsyncClient: response.json().
  const json = await (await api.get("/get", { params: { q: "x" } })).json();
  log(`GET /get?q=x -> ${JSON.stringify(json)}`);

  // A request cancelled in flight: the time limit aborts the transfer.
  const result = await moveOnAfter(50, () => api.get("/delay/50"));
  const cancelledInFlight = result === undefined;
  log(`a 5 s request under a 50 ms limit: cancelled = ${cancelledInFlight}`);
  return { pages, concurrentMs, status, posted, json, cancelledInFlight };
}

if (import.meta.main) await main();
