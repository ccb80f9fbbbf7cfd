// Helpers shared by the tests of io/. Private; not part of the package.

/**
 * A local HTTP server for one test, with its base URL. It listens on
 * 0.0.0.0, so that 127.0.0.2 (another host, for the cookie tests) reaches
 * it too; `url` names 127.0.0.1.
 */
export function serve(
  handler: (req: Request) => Response | Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> & { url: string } {
  const server = Deno.serve(
    { port: 0, hostname: "0.0.0.0", onListen() {} },
    handler,
  );
  return Object.assign(server, {
    url: `http://127.0.0.1:${server.addr.port}`,
  });
}

/** Resolves when the client hangs up on the request. */
export function hangUp(req: Request): Promise<void> {
  return new Promise((resolve) => {
    if (req.signal.aborted) resolve();
    req.signal.addEventListener("abort", () => resolve());
  });
}
