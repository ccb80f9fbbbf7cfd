// The host side of one worker: a Web Worker or a `deno` subprocess behind
// one small interface, so the pool's dispatcher does not care which.
import v8 from "node:v8";
import { encodeFrame, type Fatal, FrameDecoder } from "./_worker_protocol.ts";

/** Permissions of a worker, as Deno's `--allow-*` flags. */
export interface WorkerPermissions {
  /** `--allow-read`: `true` for everything, or a list of paths. */
  read?: boolean | (string | URL)[];
  /** `--allow-write`: `true` for everything, or a list of paths. */
  write?: boolean | (string | URL)[];
  /** `--allow-net`: `true` for everything, or a list of hosts. */
  net?: boolean | string[];
  /** `--allow-env`: `true` for everything, or a list of variable names. */
  env?: boolean | string[];
  /** `--allow-run`: `true` for everything, or a list of programs. */
  run?: boolean | (string | URL)[];
  /** `--allow-ffi`: `true` for everything, or a list of paths. */
  ffi?: boolean | (string | URL)[];
  /** `--allow-sys`: `true` for everything, or a list of APIs. */
  sys?: boolean | string[];
  /** `--allow-import`: `true` for everything, or a list of hosts. */
  import?: boolean | string[];
}

/** What a worker tells its host. */
export interface TransportEvents {
  /** A message of the protocol (a result, a batch of results, a notice). */
  message(data: unknown): void;
  /** The worker cannot go on (or is gone): everything sent is lost. */
  fatal(reason: Fatal): void;
}

/** One worker, seen from the host. */
export interface Transport {
  /** Sends a message; throws if a value cannot be cloned. */
  send(message: unknown, transfer: Transferable[]): void;
  /** Stops the worker at once; resolves once it has really stopped. */
  kill(): Promise<void>;
  /** Lets the worker finish what it was sent, then stop. */
  close(): Promise<void>;
}

/** How to start workers: one of these per pool. */
export interface TransportOptions {
  module: string | null;
  tag: string;
  permissions: "inherit" | WorkerPermissions | undefined;
  name: string;
  config: string | undefined;
}

const entryURL = new URL("./_worker_entry.ts", import.meta.url).href;
const processURL = new URL("./_worker_process.ts", import.meta.url).href;

/** A Web Worker (isolation "worker"). */
export function webWorker(
  options: TransportOptions,
  events: TransportEvents,
): Transport {
  const { permissions } = options;
  const deno = permissions === undefined || permissions === "inherit"
    ? undefined
    : { permissions: workerPermissions(permissions) };
  // With permissions of its own, the worker could not read the user's
  // module to import it: start it from a module that imports it literally.
  const main = deno === undefined || options.module === null
    ? entryURL
    : dataModule(
      `globalThis[Symbol.for("aio.worker.import")] = () => import(${
        JSON.stringify(options.module)
      });\nawait import(${JSON.stringify(entryURL)});\n`,
    );
  const worker = new Worker(main, {
    type: "module",
    name: options.name,
    ...(deno ? { deno } : {}),
  } as WorkerOptions);
  let dead = false;
  const fatal = (reason: Fatal) => {
    if (dead) return;
    dead = true;
    worker.terminate();
    events.fatal(reason);
  };
  worker.onmessage = (event) => {
    if (!dead) events.message(event.data);
  };
  worker.onerror = (event) => {
    // Without preventDefault an error in a worker ends the whole program.
    event.preventDefault();
    fatal({
      fatal: "uncaught",
      error: { name: "Error", message: event.message ?? String(event) },
    });
  };
  worker.onmessageerror = () => {
    fatal({
      fatal: "uncaught",
      error: {
        name: "DataCloneError",
        message: "a message from the worker could not be deserialised",
      },
    });
  };
  worker.postMessage({ module: options.module, tag: options.tag });
  return {
    send(message, transfer) {
      worker.postMessage(message, transfer);
    },
    kill() {
      dead = true;
      worker.terminate();
      return Promise.resolve();
    },
    close() {
      dead = true;
      worker.terminate();
      return Promise.resolve();
    },
  };
}

/**
 * Whether Deno lets Web Workers take permission options: they need
 * `--unstable-worker-options`, and without it `new Worker` with
 * `deno.permissions` exits the process instead of throwing. The flag is
 * looked for on the command line (readable only with read permission for
 * `/proc/self/cmdline`).
 */
export function workerOptionsEnabled(): boolean {
  try {
    const path = "/proc/self/cmdline";
    if (
      Deno.permissions.querySync({ name: "read", path }).state !== "granted"
    ) {
      return false;
    }
    const args = Deno.readTextFileSync(path).split("\0");
    return args.includes("--unstable-worker-options") ||
      args.includes("--unstable");
  } catch {
    return false;
  }
}

function list(value: boolean | (string | URL)[] | undefined): unknown {
  if (value === undefined || value === false) return false;
  if (value === true) return true;
  return value.map((v) => v instanceof URL ? v.href : v);
}

function workerPermissions(p: WorkerPermissions): Record<string, unknown> {
  return {
    read: list(p.read),
    write: list(p.write),
    net: list(p.net),
    env: list(p.env),
    run: list(p.run),
    ffi: list(p.ffi),
    sys: list(p.sys),
    import: list(p.import),
  };
}

/** The `--allow-*` flags for `permissions` (none: least privilege). */
export function permissionFlags(
  permissions: "inherit" | WorkerPermissions | undefined,
): string[] {
  if (permissions === "inherit") {
    throw new TypeError(
      "Cannot start a process worker with permissions 'inherit': a process takes explicit permissions, e.g. { read: ['./data'] }",
    );
  }
  const flags: string[] = [];
  for (const [key, value] of Object.entries(permissions ?? {})) {
    if (value === undefined || value === false) continue;
    if (value === true) flags.push(`--allow-${key}`);
    else if (Array.isArray(value)) {
      const items = value.map((v: string | URL) =>
        v instanceof URL ? (v.protocol === "file:" ? v.pathname : v.href) : v
      );
      if (items.length > 0) flags.push(`--allow-${key}=${items.join(",")}`);
    } else {
      throw new TypeError(
        `Cannot start a process worker: permission '${key}' must be a boolean or a list, got ${typeof value}`,
      );
    }
  }
  return flags;
}

/**
 * The `deno.json` that applies to `module`: the first one found walking up
 * from its folder, so that its imports resolve in the child as in the parent.
 */
export function findConfig(module: string | null): string | undefined {
  if (module === null || !module.startsWith("file:")) return undefined;
  let dir = new URL(".", module);
  for (let i = 0; i < 64; i++) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      const path = decodeURIComponent(new URL(name, dir).pathname);
      try {
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // not here (or not readable): go on up
      }
    }
    const parent = new URL("..", dir);
    if (parent.href === dir.href) break;
    dir = parent;
  }
  return undefined;
}

/** A `deno run` subprocess over stdin/stdout (isolation "process"). */
export function subprocess(
  options: TransportOptions,
  events: TransportEvents,
): Transport {
  // The main module imports the user's module with a literal dynamic
  // import: Deno loads it with the module graph (no read permission needed)
  // and a failure to load is an error the child can report.
  const load = options.module === null
    ? "undefined"
    : `() => import(${JSON.stringify(options.module)})`;
  const source = `import { serve } from ${
    JSON.stringify(processURL)
  };\nawait serve(${load}, ${JSON.stringify(options.tag)});\n`;
  const main = dataModule(source);
  const args = [
    "run",
    "--quiet",
    "--no-prompt",
    ...(options.config ? ["--config", options.config] : []),
    ...permissionFlags(options.permissions),
    main,
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const writer = child.stdin.getWriter();
  writer.closed.catch(() => {}); // a dead child's pipe: the exit says why
  let dead = false;
  const reading = (async () => {
    const decoder = new FrameDecoder();
    try {
      for await (const chunk of child.stdout) {
        for (const body of decoder.push(chunk)) {
          if (!dead) events.message(v8.deserialize(body));
        }
      }
    } catch {
      // the pipe broke: the exit status says why
    }
  })();
  const status = child.status;
  let stopped: Promise<void> | undefined;
  const stop = (signal: "SIGKILL" | undefined): Promise<void> => {
    dead = true;
    if (stopped !== undefined) {
      if (signal) kill(child, signal);
      return stopped;
    }
    if (signal) kill(child, signal);
    return stopped = (async () => {
      await writer.close().catch(() => {});
      await status;
      await reading;
    })();
  };
  status.then(async (s) => {
    await reading;
    if (dead) return;
    dead = true;
    await writer.close().catch(() => {});
    events.fatal({
      fatal: "exit",
      code: s.code,
      ...(s.signal ? { signal: s.signal } : {}),
    });
  });
  return {
    send(message) {
      const frame = encodeFrame(v8.serialize(message));
      writer.write(frame as never).catch(() => {});
    },
    kill() {
      return stop("SIGKILL");
    },
    close() {
      return stop(undefined);
    },
  };
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // already exited
  }
}

function dataModule(source: string): string {
  return `data:application/typescript;base64,${
    btoa(String.fromCharCode(...new TextEncoder().encode(source)))
  }`;
}
