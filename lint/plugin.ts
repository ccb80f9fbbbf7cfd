/**
 * A Deno lint plugin that catches the seed's async pitfalls before the code
 * runs — what asyncio's debug mode reports at run time, found at edit time.
 *
 * Add it to a project's `deno.json`: its specifier, `jsr:@aio/std/lint`,
 * goes in the `lint.plugins` list (the README shows the whole entry).
 *
 * | rule                      | pitfall                                          |
 * | ------------------------- | ------------------------------------------------ |
 * | `aio/no-blocking-in-async` | blocking the event loop, sync libraries in async code |
 * | `aio/no-floating-promise` | "coroutine was never awaited"                    |
 * | `aio/no-orphan-task`      | lost task references                             |
 * | `aio/require-dispose`     | unclosed resources                               |
 * | `aio/no-swallowed-cancel` | unhandled (swallowed) cancellation              |
 *
 * Every rule is biased to few false positives: without types, a rule only
 * speaks when the code plainly is one of the pitfalls (a name imported from
 * `@aio/std`, a variable made by one of its constructors, a parameter typed as
 * one of its classes). Silence a single line with
 * `// deno-lint-ignore aio/<rule>`.
 *
 * @example Linting a snippet
 * ```ts
 * import plugin from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const source = `
 * import { sleep } from "@aio/std/async";
 * export async function tick() {
 *   sleep(10);
 * }
 * `;
 * const [diagnostic] = Deno.lint.runPlugin(plugin, "tick.ts", source);
 * assert.equal(diagnostic.id, "aio/no-floating-promise");
 * ```
 *
 * @module
 */

type Node = Deno.lint.Node;
type Ctx = Deno.lint.RuleContext;
type FunctionNode =
  | Deno.lint.FunctionDeclaration
  | Deno.lint.FunctionExpression
  | Deno.lint.ArrowFunctionExpression;

function parentOf(node: Node): Node | undefined {
  return (node as { parent?: Node | null }).parent ?? undefined;
}

function isFunction(node: Node): node is FunctionNode {
  return node.type === "FunctionDeclaration" ||
    node.type === "FunctionExpression" ||
    node.type === "ArrowFunctionExpression";
}

/** The nearest function around `node`, or undefined at module level. */
function enclosingFunction(node: Node): FunctionNode | undefined {
  for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
    if (isFunction(p)) return p;
  }
  return undefined;
}

/** `a?.b` parses as a ChainExpression around the member (or call). */
function unchain(node: Node): Node {
  return node.type === "ChainExpression" ? node.expression : node;
}

/** The name a callee is called by: `f` in `f()`, `m` in `a.b.m()`. */
function calleeName(callee: Node): string | undefined {
  callee = unchain(callee);
  if (callee.type === "Identifier") return callee.name;
  if (callee.type === "MemberExpression" && !callee.computed) {
    if (callee.property.type === "Identifier") return callee.property.name;
    if (callee.property.type === "PrivateIdentifier") {
      return callee.property.name.replace(/^#/, "");
    }
  }
  return undefined;
}

/** `a.b` → "a.b", `this.q` → "this.q"; undefined for anything else. */
function pathOf(node: Node): string | undefined {
  node = unchain(node);
  if (node.type === "Identifier") return node.name;
  if (node.type === "ThisExpression") return "this";
  if (node.type === "MemberExpression" && !node.computed) {
    const object = pathOf(node.object);
    if (object !== undefined && node.property.type === "Identifier") {
      return `${object}.${node.property.name}`;
    }
    if (object !== undefined && node.property.type === "PrivateIdentifier") {
      return `${object}.#${node.property.name.replace(/^#/, "")}`;
    }
  }
  return undefined;
}

/** The identifier an expression chain starts from: `Deno` in `new Deno.Command(…).output()`. */
function rootOf(node: Node): string | undefined {
  for (;;) {
    node = unchain(node);
    if (node.type === "Identifier") return node.name;
    if (node.type === "MemberExpression") node = node.object;
    else if (node.type === "CallExpression" || node.type === "NewExpression") {
      node = node.callee;
    } else return undefined;
  }
}

/** Is `child` (a direct child of `parent`) in the role `key` of `parent`? */
function isField(parent: Node, key: string, child: Node): boolean {
  return (parent as unknown as Record<string, unknown>)[key] === child;
}

/** Specifiers of this library, and the project's own relative imports. */
function isOurs(specifier: string): boolean {
  return /^(?:jsr:)?@aio\/std(?:\/|$)|^\./.test(specifier);
}

/**
 * The names imported from this library: local name → exported name, and the
 * namespace imports (`import * as aio from "@aio/std/async"`).
 */
interface Imports {
  named: Map<string, string>;
  namespaces: Set<string>;
  /** Local names imported from elsewhere (another library's `Queue`). */
  foreign: Set<string>;
}

function ourImports(program: Deno.lint.Program): Imports {
  const named = new Map<string, string>();
  const namespaces = new Set<string>();
  const foreign = new Set<string>();
  for (const statement of program.body) {
    if (statement.type !== "ImportDeclaration") continue;
    if (!isOurs(statement.source.value)) {
      for (const specifier of statement.specifiers) {
        foreign.add(specifier.local.name);
      }
      continue;
    }
    for (const specifier of statement.specifiers) {
      if (specifier.type === "ImportSpecifier") {
        const imported = specifier.imported.type === "Identifier"
          ? specifier.imported.name
          : specifier.imported.value;
        named.set(specifier.local.name, imported);
      } else {
        namespaces.add(specifier.local.name);
      }
    }
  }
  return { named, namespaces, foreign };
}

/**
 * The library name a call refers to: `sleep()` with `sleep` imported from
 * aio, or `aio.sleep()` on a namespace import; undefined otherwise.
 */
function ourCallee(callee: Node, imports: Imports): string | undefined {
  if (callee.type === "Identifier") return imports.named.get(callee.name);
  if (
    callee.type === "MemberExpression" && !callee.computed &&
    callee.object.type === "Identifier" &&
    imports.namespaces.has(callee.object.name) &&
    callee.property.type === "Identifier"
  ) {
    return callee.property.name;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// aio/no-blocking-in-async

// Deno's *Sync APIs whose async twin takes the same arguments and, awaited,
// gives the same value: the fix swaps one for the other.
const DENO_ASYNC_TWIN = new Set([
  "chmod",
  "chown",
  "copyFile",
  "create",
  "link",
  "lstat",
  "makeTempDir",
  "makeTempFile",
  "mkdir",
  "open",
  "readFile",
  "readLink",
  "readTextFile",
  "realPath",
  "remove",
  "rename",
  "stat",
  "symlink",
  "truncate",
  "utime",
  "writeFile",
  "writeTextFile",
]);

const BLOCKING_CRYPTO = new Set([
  "pbkdf2Sync",
  "scryptSync",
  "generateKeyPairSync",
  "generatePrimeSync",
]);
const BLOCKING_CHILD = new Set(["execSync", "execFileSync", "spawnSync"]);

/** Which node: module's exports block the thread: module → predicate. */
function blockingIn(module: string): ((name: string) => boolean) | undefined {
  const bare = module.replace(/^node:/, "").replace(/\/promises$/, "");
  if (module.endsWith("/promises")) return undefined;
  switch (bare) {
    case "fs":
    case "zlib":
      return (name) => name.endsWith("Sync");
    case "child_process":
      return (name) => BLOCKING_CHILD.has(name);
    case "crypto":
      return (name) => BLOCKING_CRYPTO.has(name);
  }
  return undefined;
}

// Functions passed to these run as tasks (or inside one), so a sync body
// blocks the loop just as an async one does.
const TASK_RUNNERS = new Set([
  "createTask",
  "gather",
  "shield",
  "timeout",
  "timeoutAt",
  "moveOnAfter",
  "waitFor",
  "retry",
  "run",
  "start",
]);

/** Is code in `fn` running on the event loop as async code (not a worker)? */
function isAsyncContext(fn: FunctionNode | undefined): boolean {
  if (fn === undefined) return false;
  const parent = parentOf(fn);
  if (parent?.type === "CallExpression" || parent?.type === "NewExpression") {
    const name = calleeName(parent.callee);
    if (name === "toWorker" || name === "Worker") return false;
    if (
      !fn.async && parent.type === "CallExpression" && name !== undefined &&
      TASK_RUNNERS.has(name)
    ) {
      return true;
    }
  }
  return fn.async;
}

function isClockCall(node: Deno.lint.CallExpression): boolean {
  const path = pathOf(node.callee);
  return path === "Date.now" || path === "performance.now";
}

type Loop =
  | Deno.lint.WhileStatement
  | Deno.lint.DoWhileStatement
  | Deno.lint.ForStatement;

/**
 * `aio/no-blocking-in-async` — a blocking call inside an async function or a
 * task body stops every other task until it returns: the seed's "blocking
 * the event loop" and "using sync libraries in async code". Flags `Deno.*Sync`
 * calls (and `.outputSync()`), `node:fs`/`node:zlib` `*Sync` functions,
 * `node:child_process` `execSync`/`execFileSync`/`spawnSync`, the slow
 * `node:crypto` `*Sync` functions, `Atomics.wait`, and busy-wait loops that
 * spin on `Date.now()`/`performance.now()` without awaiting. Sync calls at
 * module level or in plain functions are left alone (a CLI reading its
 * config at start-up blocks nobody). Functions passed to `toWorker` run in
 * a worker and are not checked.
 *
 * Fix: for a `Deno.*Sync` call with an async twin of the same shape
 * (`readTextFileSync` → `await readTextFile`), `deno lint --fix` swaps it.
 *
 * Bad:
 * ```ts ignore
 * async function handle() {
 *   const config = Deno.readTextFileSync("config.json"); // every task waits
 *   const start = Date.now();
 *   while (Date.now() - start < 100) {} // spins instead of sleeping
 * }
 * ```
 *
 * Good:
 * ```ts ignore
 * async function handle() {
 *   const config = await Deno.readTextFile("config.json");
 *   await sleep(100);
 *   const digest = await toWorker(new URL("./hash.ts", import.meta.url), "hash", config);
 * }
 * ```
 *
 * @example The rule flags a sync read inside an async function
 * ```ts
 * import { noBlockingInAsync } from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const plugin = { name: "aio", rules: { "no-blocking-in-async": noBlockingInAsync } };
 * const source = `async function f() { return Deno.readTextFileSync("a"); }`;
 * const [d] = Deno.lint.runPlugin(plugin, "a.ts", source);
 * assert.equal(d.id, "aio/no-blocking-in-async");
 * assert.equal(d.fix?.[0].text, `await Deno.readTextFile("a")`);
 * ```
 */
export const noBlockingInAsync: Deno.lint.Rule = {
  create(ctx: Ctx): Deno.lint.LintVisitor {
    // local name → predicate over member names (namespace/default imports),
    // and local names of blocking functions imported by name.
    const namespaces = new Map<string, (name: string) => boolean>();
    const functions = new Map<string, string>();
    // Loops whose test reads the clock, and loops with an await inside.
    const clockLoops = new Set<Node>();
    const awaitingLoops = new Set<Node>();

    const report = (
      node: Node,
      what: string,
      fix?: Deno.lint.ReportData["fix"],
    ) =>
      ctx.report({
        node,
        message: `${what} blocks the event loop inside async code`,
        hint:
          "Use the async API (await it), or move the work off the event loop with toWorker().",
        fix,
      });

    const isLoop = (node: Node): node is Loop =>
      node.type === "WhileStatement" || node.type === "DoWhileStatement" ||
      node.type === "ForStatement";

    // Marks the loops around `node` (up to its function) as awaiting.
    const markAwaiting = (node: Node) => {
      for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
        if (isFunction(p)) return;
        if (isLoop(p)) awaitingLoops.add(p);
      }
    };

    const checkLoop = (loop: Loop) => {
      if (!clockLoops.has(loop) || awaitingLoops.has(loop)) return;
      if (!isAsyncContext(enclosingFunction(loop))) return;
      report(loop, "A busy-wait loop on the clock");
    };

    return {
      Program(program) {
        for (const statement of program.body) {
          if (statement.type !== "ImportDeclaration") continue;
          const blocking = blockingIn(statement.source.value);
          if (blocking === undefined) continue;
          for (const specifier of statement.specifiers) {
            if (specifier.type === "ImportSpecifier") {
              const name = specifier.imported.type === "Identifier"
                ? specifier.imported.name
                : specifier.imported.value;
              if (blocking(name)) functions.set(specifier.local.name, name);
            } else {
              namespaces.set(specifier.local.name, blocking);
            }
          }
        }
      },
      AwaitExpression: markAwaiting,
      ForOfStatement(node) {
        if (node.await) markAwaiting(node.body);
      },
      CallExpression(node) {
        if (isClockCall(node)) {
          // The loop whose test this call is in, if any.
          let child: Node = node;
          for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
            if (isFunction(p)) break;
            if (isLoop(p) && isField(p, "test", child)) clockLoops.add(p);
            child = p;
          }
          return;
        }
        const callee = node.callee;
        let what: string | undefined;
        let fix: Deno.lint.ReportData["fix"];
        if (callee.type === "Identifier") {
          const name = functions.get(callee.name);
          if (name !== undefined) what = `${name}()`;
        } else if (
          callee.type === "MemberExpression" && !callee.computed &&
          callee.property.type === "Identifier"
        ) {
          const member = callee.property.name;
          const object = callee.object;
          if (object.type === "Identifier") {
            if (object.name === "Deno" && member.endsWith("Sync")) {
              what = `Deno.${member}()`;
              const twin = member.slice(0, -"Sync".length);
              if (DENO_ASYNC_TWIN.has(twin)) {
                fix = (fixer) => {
                  const args = node.arguments.map((arg) =>
                    ctx.sourceCode.getText(arg)
                  ).join(", ");
                  const call = `await Deno.${twin}(${args})`;
                  const parent = parentOf(node);
                  const bare = parent?.type === "ExpressionStatement" ||
                    parent?.type === "VariableDeclarator" ||
                    parent?.type === "ReturnStatement";
                  return fixer.replaceText(node, bare ? call : `(${call})`);
                };
              }
            } else if (object.name === "Atomics" && member === "wait") {
              what = "Atomics.wait()";
            } else if (namespaces.get(object.name)?.(member)) {
              what = `${object.name}.${member}()`;
            }
          }
          if (what === undefined && member === "outputSync") {
            what = ".outputSync()";
          }
        }
        if (what === undefined) return;
        const fn = enclosingFunction(node);
        if (!isAsyncContext(fn)) return;
        // The fix awaits, which needs an async function.
        report(node, what, fn?.async ? fix : undefined);
      },
      "WhileStatement:exit": checkLoop,
      "DoWhileStatement:exit": checkLoop,
      "ForStatement:exit": checkLoop,
    };
  },
};

// ---------------------------------------------------------------------------
// Bindings: which variables hold which of this library's objects.

// Awaitable methods of this library's classes.
const AWAITABLE_METHODS: Record<string, Set<string>> = {
  Queue: new Set(["put", "get", "join"]),
  Lock: new Set(["acquire", "run"]),
  Semaphore: new Set(["acquire", "run"]),
  Condition: new Set(["acquire", "wait", "waitFor", "run"]),
  Event: new Set(["wait"]),
  Barrier: new Set(["wait"]),
  RateLimiter: new Set(["acquire"]),
  TaskSet: new Set(["join"]),
  ClientSession: new Set([
    "get",
    "post",
    "put",
    "patch",
    "delete",
    "head",
    "options",
    "request",
    "close",
  ]),
  Connection: new Set([
    "fetch",
    "fetchrow",
    "fetchval",
    "execute",
    "executemany",
    "prepare",
    "transaction",
    "copyFrom",
    "copyTo",
    "listen",
    "notify",
    "close",
  ]),
  Pool: new Set([
    "fetch",
    "fetchrow",
    "fetchval",
    "execute",
    "executemany",
    "transaction",
    "acquire",
    "close",
  ]),
  WorkerPool: new Set(["run", "close"]),
  AsyncFile: new Set(["read", "write", "seek", "truncate", "sync", "close"]),
};
const CLASS_ALIASES: Record<string, string> = {
  PriorityQueue: "Queue",
  LifoQueue: "Queue",
  BoundedSemaphore: "Semaphore",
  Client: "Connection",
};
const FACTORY_CLASSES: Record<string, string> = {
  connect: "Connection",
  createPool: "Pool",
  open: "AsyncFile",
};
// Names that, on a receiver the file says nothing else about, are taken to
// be the library's object (`queue.put(x)` with `queue` an untyped parameter).
const NAME_GUESSES: Record<string, string> = {
  queue: "Queue",
  lock: "Lock",
  mutex: "Lock",
  semaphore: "Semaphore",
  session: "ClientSession",
  conn: "Connection",
  connection: "Connection",
  pool: "Pool",
};

function className(name: string, imports?: Imports): string | undefined {
  if (imports?.foreign.has(name)) return undefined;
  const canonical = CLASS_ALIASES[name] ?? name;
  return canonical in AWAITABLE_METHODS ? canonical : undefined;
}

/** The class of the value `init` makes, if it is one of ours. */
function classOfInit(init: Node, imports: Imports): string | undefined {
  if (init.type === "AwaitExpression") init = init.argument;
  if (init.type === "NewExpression") {
    const name = calleeName(init.callee);
    return name === undefined ? undefined : className(name, imports);
  }
  if (init.type === "CallExpression") {
    const name = ourCallee(init.callee, imports);
    if (name !== undefined && name in FACTORY_CLASSES) {
      return FACTORY_CLASSES[name];
    }
  }
  return undefined;
}

/** The class named by a type annotation: `q: Queue<number>` → "Queue". */
function classOfType(
  annotation: Node | undefined,
  imports: Imports,
): string | undefined {
  if (annotation?.type !== "TSTypeAnnotation") return undefined;
  const type = annotation.typeAnnotation;
  if (type.type !== "TSTypeReference") return undefined;
  const name = type.typeName.type === "Identifier"
    ? type.typeName.name
    : undefined;
  return name === undefined ? undefined : className(name, imports);
}

/**
 * Collects, for a whole file, what each name (and `this.name`) holds: one of
 * our classes, or "other" when the file binds it to something else.
 */
function bindingCollector(imports: () => Imports) {
  const bindings = new Map<string, string>();
  const bind = (name: string, cls: string | undefined) => {
    const known = bindings.get(name);
    if (cls === undefined) bindings.set(name, "other");
    else if (known === undefined) bindings.set(name, cls);
    else if (known !== cls) bindings.set(name, "other");
  };
  const visitor: Deno.lint.LintVisitor = {
    VariableDeclarator(node) {
      if (node.id.type === "ObjectPattern") {
        for (const property of node.id.properties) {
          if (
            property.type === "Property" && property.value.type === "Identifier"
          ) bind(property.value.name, undefined);
        }
      }
      if (node.id.type === "ArrayPattern") {
        for (const element of node.id.elements) {
          if (element?.type === "Identifier") bind(element.name, undefined);
        }
      }
      if (node.id.type !== "Identifier") return;
      const cls = classOfType(node.id.typeAnnotation, imports()) ??
        (node.init ? classOfInit(node.init, imports()) : undefined);
      bind(node.id.name, cls);
    },
    PropertyDefinition(node) {
      if (node.computed) return;
      const key = node.key.type === "Identifier"
        ? node.key.name
        : node.key.type === "PrivateIdentifier"
        ? `#${node.key.name.replace(/^#/, "")}`
        : undefined;
      if (key === undefined) return;
      const cls = classOfType(node.typeAnnotation ?? undefined, imports()) ??
        (node.value ? classOfInit(node.value, imports()) : undefined);
      bind(`this.${key}`, cls);
    },
    Identifier(node) {
      // A typed parameter (`fn(q: Queue<number>)`).
      const parent = parentOf(node);
      if (
        node.typeAnnotation != null && parent !== undefined &&
        isFunction(parent)
      ) {
        bind(node.name, classOfType(node.typeAnnotation, imports()));
      }
    },
  };
  /**
   * The class a receiver holds; with `guess`, by its name when the file
   * says nothing about it.
   */
  const classOf = (receiver: Node, guess = false): string | undefined => {
    const path = pathOf(receiver);
    if (path === undefined) return undefined;
    const known = bindings.get(path);
    if (known !== undefined) return known === "other" ? undefined : known;
    if (!guess) return undefined;
    const last = path.slice(path.lastIndexOf(".") + 1);
    return NAME_GUESSES[last];
  };
  return { visitor, classOf };
}

/** Merges visitors: each handler of the same key runs in order. */
function merge(...visitors: Deno.lint.LintVisitor[]): Deno.lint.LintVisitor {
  const merged: Record<string, (node: Node) => void> = {};
  for (const visitor of visitors) {
    const handlers = visitor as Record<
      string,
      ((node: Node) => void) | undefined
    >;
    for (const [key, handler] of Object.entries(handlers)) {
      if (handler === undefined) continue;
      const before = merged[key];
      merged[key] = before === undefined ? handler : (node) => {
        before(node);
        handler(node);
      };
    }
  }
  return merged as Deno.lint.LintVisitor;
}

// ---------------------------------------------------------------------------
// aio/no-floating-promise

const AWAITABLE_FUNCTIONS = new Set([
  "sleep",
  "gather",
  "wait",
  "waitFor",
  "timeout",
  "timeoutAt",
  "moveOnAfter",
  "retry",
  "shield",
  "checkpoint",
  "run",
  "toWorker",
  "connect",
  "createPool",
  "open",
  "readText",
  "writeText",
]);
const PROMISE_COMBINATORS = new Set(["all", "allSettled", "any", "race"]);

/**
 * `aio/no-floating-promise` — an awaitable called as a bare statement:
 * neither awaited, returned, assigned, nor passed on. Its work runs
 * unsupervised, its error becomes an unhandled rejection, and the code after
 * it does not wait for it — the seed's "coroutine was never awaited" (in
 * JavaScript the call does run, which makes the bug quieter, not smaller).
 *
 * Flags calls of this library's awaitables (`sleep`, `gather`, `timeout`,
 * `retry`, `TaskGroup.run`, `queue.put`, `lock.acquire`, `event.wait`,
 * `session.get`, `conn.fetch`, … on a variable made by, or typed as, our
 * class), `fetch`, `Promise.all/allSettled/any/race`, and async functions
 * and methods declared in the same file. A call at module level of an async
 * function of the file (`main();`) is left alone: its rejection ends the
 * program loudly. `void promise;` says "on purpose" and is not flagged;
 * neither is a `.then()`/`.catch()` chain.
 *
 * Fix: inside an async function, `deno lint --fix` adds the `await`.
 *
 * Bad:
 * ```ts ignore
 * async function produce(queue: Queue<number>) {
 *   queue.put(1); // not awaited: back-pressure is lost, errors unhandled
 *   sleep(100); // does not wait at all
 * }
 * ```
 *
 * Good:
 * ```ts ignore
 * async function produce(queue: Queue<number>) {
 *   await queue.put(1);
 *   const pause = sleep(100); // stored, awaited later
 *   void notifyMetrics(); // fire-and-forget on purpose
 *   await pause;
 * }
 * ```
 *
 * @example The rule adds the missing `await`
 * ```ts
 * import { noFloatingPromise } from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const plugin = { name: "aio", rules: { "no-floating-promise": noFloatingPromise } };
 * const source = `import { sleep } from "@aio/std/async";
 * async function f() { sleep(1); }`;
 * const [d] = Deno.lint.runPlugin(plugin, "a.ts", source);
 * assert.equal(d.id, "aio/no-floating-promise");
 * assert.equal(d.fix?.[0].text, "await ");
 * ```
 */
export const noFloatingPromise: Deno.lint.Rule = {
  create(ctx: Ctx): Deno.lint.LintVisitor {
    let imports: Imports = {
      named: new Map(),
      namespaces: new Set(),
      foreign: new Set(),
    };
    const { visitor, classOf } = bindingCollector(() => imports);
    const asyncFunctions = new Set<string>();
    const asyncMethods = new Set<string>();
    const candidates: Deno.lint.CallExpression[] = [];

    const what = (call: Deno.lint.CallExpression): string | undefined => {
      const callee = call.callee;
      const ours = ourCallee(callee, imports);
      if (ours !== undefined && AWAITABLE_FUNCTIONS.has(ours)) {
        return `${ours}()`;
      }
      if (callee.type === "Identifier") {
        if (callee.name === "fetch") return "fetch()";
        // An async function of the file, called from inside a function.
        if (
          asyncFunctions.has(callee.name) &&
          enclosingFunction(call) !== undefined
        ) {
          return `${callee.name}()`;
        }
        return undefined;
      }
      if (
        callee.type !== "MemberExpression" || callee.computed ||
        callee.property.type !== "Identifier"
      ) {
        return undefined;
      }
      const method = callee.property.name;
      const receiver = callee.object;
      const receiverPath = pathOf(receiver);
      if (receiverPath === "Promise" && PROMISE_COMBINATORS.has(method)) {
        return `Promise.${method}()`;
      }
      if (receiverPath === "TaskGroup" && method === "run") {
        return "TaskGroup.run()";
      }
      if (receiver.type === "ThisExpression" && asyncMethods.has(method)) {
        return `this.${method}()`;
      }
      const known = classOf(receiver);
      if (known !== undefined && AWAITABLE_METHODS[known].has(method)) {
        return `${receiverPath}.${method}()`;
      }
      // By name only, and not close(): many things called `conn` close
      // synchronously (a Deno.Conn does).
      const guessed = classOf(receiver, true);
      if (
        known === undefined && guessed !== undefined && method !== "close" &&
        AWAITABLE_METHODS[guessed].has(method)
      ) {
        return `${receiverPath}.${method}()`;
      }
      return undefined;
    };

    return merge(visitor, {
      Program(program) {
        imports = ourImports(program);
      },
      FunctionDeclaration(node) {
        if (node.async && node.id) asyncFunctions.add(node.id.name);
      },
      VariableDeclarator(node) {
        if (
          node.id.type === "Identifier" && node.init &&
          (node.init.type === "ArrowFunctionExpression" ||
            node.init.type === "FunctionExpression") &&
          node.init.async
        ) {
          asyncFunctions.add(node.id.name);
        }
      },
      MethodDefinition(node) {
        if (
          node.value.async && node.key.type === "Identifier" && !node.computed
        ) {
          asyncMethods.add(node.key.name);
        }
      },
      ExpressionStatement(node) {
        let expression: Node = node.expression;
        if (expression.type === "ChainExpression") {
          expression = expression.expression;
        }
        if (expression.type === "CallExpression") candidates.push(expression);
      },
      "Program:exit"() {
        for (const call of candidates) {
          const name = what(call);
          if (name === undefined) continue;
          const inAsync = enclosingFunction(call)?.async === true;
          ctx.report({
            node: call,
            message: `${name} returns a promise that is never awaited`,
            hint:
              "Await it, return it, keep it and await it later, or write `void` before it if dropping it is on purpose.",
            fix: inAsync
              ? (fixer) => fixer.insertTextBefore(call, "await ")
              : undefined,
          });
        }
      },
    });
  },
};

// ---------------------------------------------------------------------------
// aio/no-orphan-task

/**
 * `aio/no-orphan-task` — `createTask(...)` whose task is dropped: nobody
 * awaits it, nobody can cancel it, and its failure surfaces only as a
 * "Task exception was never retrieved" report — the seed's lost-task-
 * reference pitfall. `tg.createTask(...)` and `tasks.createTask(...)` are
 * fine (the group or set owns the task); so is `void createTask(...)`, which
 * says the drop is on purpose.
 *
 * No automatic fix: where the task belongs is a design choice.
 *
 * Bad:
 * ```ts ignore
 * createTask(() => refreshCache()); // who awaits it? who cancels it?
 * ```
 *
 * Good:
 * ```ts ignore
 * await TaskGroup.run((tg) => {
 *   tg.createTask(() => refreshCache());
 * });
 * // or, for work that outlives a block:
 * await using background = new TaskSet();
 * background.createTask(() => refreshCache());
 * ```
 *
 * @example The rule flags a dropped task
 * ```ts
 * import { noOrphanTask } from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const plugin = { name: "aio", rules: { "no-orphan-task": noOrphanTask } };
 * const source = `import { createTask } from "@aio/std/async";
 * createTask(async () => {});`;
 * const [d] = Deno.lint.runPlugin(plugin, "a.ts", source);
 * assert.equal(d.id, "aio/no-orphan-task");
 * ```
 */
export const noOrphanTask: Deno.lint.Rule = {
  create(ctx: Ctx): Deno.lint.LintVisitor {
    let imports: Imports = {
      named: new Map(),
      namespaces: new Set(),
      foreign: new Set(),
    };
    return {
      Program(program) {
        imports = ourImports(program);
      },
      ExpressionStatement(node) {
        let expression: Node = node.expression;
        if (expression.type === "AwaitExpression") return;
        if (expression.type === "ChainExpression") {
          expression = expression.expression;
        }
        if (expression.type !== "CallExpression") return;
        if (ourCallee(expression.callee, imports) !== "createTask") return;
        ctx.report({
          node: expression,
          message:
            "The task made by createTask() is dropped: nobody awaits or cancels it",
          hint:
            "Start it in a TaskGroup (tg.createTask) or a TaskSet (tasks.createTask), or keep the task and await it.",
        });
      },
    };
  },
};

// ---------------------------------------------------------------------------
// aio/require-dispose

// Classes whose instances hold a resource, and whether disposal is async.
const RESOURCE_CLASSES: Record<string, "using" | "await using"> = {
  ClientSession: "await using",
  WorkerPool: "await using",
  TaskSet: "await using",
  FakeTime: "using",
};
const RESOURCE_FACTORIES = new Set(["connect", "createPool", "open"]);
// Calls that close a resource or release a guard.
const CLOSERS = new Set([
  "close",
  "release",
  "restore",
  "terminate",
  "dispose",
  "cancelAll",
]);
// Calls that take ownership of a value passed to them.
const ADOPTERS = new Set([
  "use",
  "adopt",
  "defer",
  "push",
  "unshift",
  "add",
  "set",
  "register",
  "resolve",
]);

interface Resource {
  /** The node to report. */
  node: Node;
  /** The variable it is bound to; undefined when it is dropped. */
  name?: string;
  /** How it should be bound. */
  using: "using" | "await using";
  /** The declaration to rewrite, when the fix is safe. */
  declaration?: Deno.lint.VariableDeclaration;
  what: string;
  /** For a guard: what it was acquired from (a RateLimiter gives none). */
  receiver?: Node;
}

/**
 * `aio/require-dispose` — a resource not bound with `using`/`await using`
 * and not closed in a `finally`: on the first error (or cancellation) it
 * stays open — the seed's "unclosed resources" (aiohttp's "Unclosed client
 * session"). Resources: `new ClientSession`, `new WorkerPool`,
 * `new TaskSet`, `new FakeTime`, this library's `connect()`, `createPool()`,
 * `open()`, and guards from `await x.acquire()`.
 *
 * Not flagged: a resource closed (`close`, `release`, `restore`,
 * `[Symbol.asyncDispose]`, …) in a `finally` or in a callback, one that is
 * returned, exported, stored in an object, array or field, or handed to
 * `stack.use(x)`/`set.add(x)` (its owner closes it), and at module level
 * one closed at all. `await lock.acquire(); try { … } finally { lock.release() }`
 * is asyncio's own idiom and passes.
 *
 * Fix: a `const` binding not used from a callback becomes `using`/`await using`.
 *
 * Bad:
 * ```ts ignore
 * const session = new ClientSession();
 * const page = await session.get("https://example.com"); // throws → leaked
 * await session.close();
 * ```
 *
 * Good:
 * ```ts ignore
 * await using session = new ClientSession();
 * const page = await session.get("https://example.com");
 * ```
 *
 * @example The rule rewrites the binding
 * ```ts
 * import { requireDispose } from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const plugin = { name: "aio", rules: { "require-dispose": requireDispose } };
 * const source = `function f() { const time = new FakeTime(); time.tick(1); }`;
 * const [d] = Deno.lint.runPlugin(plugin, "a.ts", source);
 * assert.equal(d.id, "aio/require-dispose");
 * assert.equal(d.fix?.[0].text, "using");
 * ```
 */
export const requireDispose: Deno.lint.Rule = {
  create(ctx: Ctx): Deno.lint.LintVisitor {
    let imports: Imports = {
      named: new Map(),
      namespaces: new Set(),
      foreign: new Set(),
    };
    const { visitor, classOf } = bindingCollector(() => imports);
    const resources: Resource[] = [];
    // Per name: closed somewhere that counts, escaped to an owner, used in a
    // callback (so `using` could dispose it too early).
    const closed = new Set<string>();
    const escaped = new Set<string>();
    const inCallback = new Set<string>();
    // Receivers released in a finally (`lock` in `finally { lock.release() }`).
    const released = new Set<string>();
    const bareAcquires: { node: Node; receiver: Node }[] = [];
    const declaredIn = new Map<string, FunctionNode | undefined>();

    /** What `node` makes, if it is a resource. */
    const resourceOf = (
      node: Node,
    ):
      | { what: string; using: "using" | "await using"; receiver?: Node }
      | undefined => {
      let awaited = false;
      if (node.type === "AwaitExpression") {
        node = node.argument;
        awaited = true;
      }
      if (node.type === "NewExpression") {
        const name = calleeName(node.callee);
        if (name !== undefined && name in RESOURCE_CLASSES) {
          return { what: `new ${name}()`, using: RESOURCE_CLASSES[name] };
        }
      }
      if (node.type === "CallExpression") {
        const name = ourCallee(node.callee, imports);
        if (name !== undefined && RESOURCE_FACTORIES.has(name)) {
          return { what: `${name}()`, using: "await using" };
        }
        if (
          awaited && node.callee.type === "MemberExpression" &&
          calleeName(node.callee) === "acquire"
        ) {
          return {
            what: "the guard of acquire()",
            using: "using",
            receiver: node.callee.object,
          };
        }
      }
      return undefined;
    };

    /** Is `node` inside the `finally` block of a try, in its own function? */
    const inFinally = (node: Node): boolean => {
      let child: Node = node;
      for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
        if (isFunction(p)) return false;
        if (p.type === "TryStatement" && isField(p, "finalizer", child)) {
          return true;
        }
        child = p;
      }
      return false;
    };

    return merge(visitor, {
      Program(program) {
        imports = ourImports(program);
      },
      VariableDeclarator(node) {
        if (node.init === null || node.id.type !== "Identifier") return;
        const declaration = parentOf(node);
        if (declaration?.type !== "VariableDeclaration") return;
        if (
          declaration.kind === "using" || declaration.kind === "await using"
        ) {
          return;
        }
        const made = resourceOf(node.init);
        if (made === undefined) return;
        const name = node.id.name;
        const fn = enclosingFunction(node);
        declaredIn.set(name, fn);
        if (parentOf(declaration)?.type === "ExportNamedDeclaration") {
          escaped.add(name);
        }
        const rewritable = declaration.kind === "const" &&
          declaration.declarations.length === 1 &&
          (made.using === "using" || fn === undefined || fn.async) &&
          parentOf(declaration)?.type !== "ForOfStatement";
        resources.push({
          node,
          name,
          what: made.what,
          using: made.using,
          declaration: rewritable ? declaration : undefined,
          receiver: made.receiver,
        });
      },
      AssignmentExpression(node) {
        if (node.left.type !== "Identifier") return;
        const made = resourceOf(node.right);
        if (made === undefined) return;
        resources.push({
          node,
          name: node.left.name,
          what: made.what,
          using: made.using,
          receiver: made.receiver,
        });
      },
      ExpressionStatement(node) {
        const expression = node.expression;
        const made = resourceOf(expression);
        if (made === undefined) return;
        if (made.receiver !== undefined) {
          // `await lock.acquire();`: fine when released in a finally.
          bareAcquires.push({ node: expression, receiver: made.receiver });
          return;
        }
        resources.push({
          node: expression,
          what: made.what,
          using: made.using,
        });
      },
      CallExpression(node) {
        const callee = unchain(node.callee);
        if (callee.type === "Identifier" && declaredIn.has(callee.name)) {
          // `release()`: a guard that is a function (async-mutex's).
          const fn = enclosingFunction(node);
          if (inFinally(node) || fn !== declaredIn.get(callee.name)) {
            closed.add(callee.name);
          }
          return;
        }
        if (callee.type !== "MemberExpression") return;
        const receiver = pathOf(callee.object);
        if (receiver === undefined) return;
        const name = calleeName(callee);
        const symbolDispose = callee.computed &&
          (pathOf(callee.property) === "Symbol.dispose" ||
            pathOf(callee.property) === "Symbol.asyncDispose");
        if (!symbolDispose && (name === undefined || !CLOSERS.has(name))) {
          return;
        }
        const fn = enclosingFunction(node);
        if (
          inFinally(node) || fn !== declaredIn.get(receiver) || fn === undefined
        ) {
          closed.add(receiver);
          if (name === "release" && inFinally(node)) released.add(receiver);
        }
      },
      Identifier(node) {
        const parent = parentOf(node);
        if (parent === undefined) return;
        const name = node.name;
        const fn = enclosingFunction(node);
        if (declaredIn.has(name) && fn !== declaredIn.get(name)) {
          inCallback.add(name);
        }
        switch (parent.type) {
          case "ReturnStatement":
          case "YieldExpression":
          case "ArrayExpression":
          case "ExportSpecifier":
            escaped.add(name);
            break;
          case "Property":
            if (isField(parent, "value", node)) escaped.add(name);
            break;
          case "ArrowFunctionExpression":
            if (isField(parent, "body", node)) escaped.add(name);
            break;
          case "AssignmentExpression":
            if (
              isField(parent, "right", node) &&
              parent.left.type === "MemberExpression"
            ) escaped.add(name);
            break;
          case "NewExpression":
            if (parent.arguments.includes(node)) escaped.add(name);
            break;
          case "CallExpression": {
            const callee = calleeName(parent.callee);
            if (
              parent.arguments.includes(node) && callee !== undefined &&
              ADOPTERS.has(callee)
            ) escaped.add(name);
            break;
          }
        }
      },
      "Program:exit"() {
        for (const resource of resources) {
          const name = resource.name;
          if (
            resource.receiver !== undefined &&
            classOf(resource.receiver) === "RateLimiter"
          ) continue;
          if (name !== undefined && (closed.has(name) || escaped.has(name))) {
            continue;
          }
          const declaration = resource.declaration;
          const fixable = declaration !== undefined && name !== undefined &&
            !inCallback.has(name);
          ctx.report({
            node: resource.node,
            message: name === undefined
              ? `${resource.what} is dropped without being closed`
              : `${resource.what} is bound to '${name}' without ${resource.using} and not closed in a finally`,
            hint: name === undefined
              ? `Bind it: \`${resource.using} x = …\`.`
              : `Write \`${resource.using} ${name} = …\` so it is closed however the block ends, or close it in a finally.`,
            fix: fixable
              ? (fixer) =>
                fixer.replaceTextRange(
                  [declaration.range[0], declaration.range[0] + "const".length],
                  resource.using,
                )
              : undefined,
          });
        }
        for (const { node, receiver } of bareAcquires) {
          // Only a lock-like guard matters (a RateLimiter's acquire gives none).
          const cls = classOf(receiver, true);
          if (cls !== "Lock" && cls !== "Semaphore" && cls !== "Condition") {
            continue;
          }
          const path = pathOf(receiver);
          if (path !== undefined && released.has(path)) continue;
          ctx.report({
            node,
            message: `The guard of ${
              path ?? "this"
            }.acquire() is dropped and not released in a finally`,
            hint:
              "Write `using _ = await lock.acquire();`, or release in a finally.",
          });
        }
      },
    });
  },
};

// ---------------------------------------------------------------------------
// aio/no-swallowed-cancel

// Names whose mention in a catch shows it thinks about cancellation.
const CANCEL_TESTS = new Set([
  "isCancellation",
  "CancelledError",
  "AbortError",
  "aborted",
  "cancelled",
  "cancelCalled",
  "throwIfAborted",
]);
// Calls that pass the error on, or end the program.
const PASSES_ON = /^(reject|rethrow|raise|fail|error|exit|abort|cancel)$/i;

/**
 * `aio/no-swallowed-cancel` — a `catch` around awaits that neither rethrows
 * nor tests for cancellation, so the task returns normally when it is
 * cancelled: a task group waits for a task that already "succeeded", a
 * timeout never fires, a loop around it spins (cancellation is
 * level-triggered: the next await rejects again at once) — the seed's
 * "unhandled cancellation". asyncio's rule: always re-raise `CancelledError`.
 *
 * Not flagged: a catch that contains a `throw`, mentions `isCancellation`,
 * `CancelledError`, `AbortError` or `signal.aborted`, passes the error to
 * `reject(e)`/`controller.error(e)`, or exits; a try whose only awaits are
 * `Deno.*` calls or `import()` (they are not cancellation points); a
 * try/catch inside a `finally` (the pending cancellation is rethrown after
 * the `finally` anyway).
 *
 * Fix: when the file imports `isCancellation` and the catch names its
 * error, `deno lint --fix` inserts `if (isCancellation(e)) throw e;`.
 *
 * Bad:
 * ```ts ignore
 * while (true) {
 *   try {
 *     await handle(await queue.get());
 *   } catch (error) {
 *     console.error(error); // a cancelled worker logs and loops forever
 *   }
 * }
 * ```
 *
 * Good:
 * ```ts ignore
 * while (true) {
 *   try {
 *     await handle(await queue.get());
 *   } catch (error) {
 *     if (isCancellation(error)) throw error;
 *     console.error(error);
 *   }
 * }
 * ```
 *
 * @example The rule flags a swallowed cancellation
 * ```ts
 * import { noSwallowedCancel } from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const plugin = { name: "aio", rules: { "no-swallowed-cancel": noSwallowedCancel } };
 * const source = `async function f() { try { await g(); } catch { return 0; } }`;
 * const [d] = Deno.lint.runPlugin(plugin, "a.ts", source);
 * assert.equal(d.id, "aio/no-swallowed-cancel");
 * ```
 */
export const noSwallowedCancel: Deno.lint.Rule = {
  create(ctx: Ctx): Deno.lint.LintVisitor {
    let imports: Imports = {
      named: new Map(),
      namespaces: new Set(),
      foreign: new Set(),
    };
    const awaiting = new Set<Node>(); // try statements awaiting in their block
    const handled = new Set<Node>(); // catch clauses that deal with it

    /** The try statements whose block holds `node`, in its own function. */
    const tries = function* (node: Node): Generator<Deno.lint.TryStatement> {
      let child: Node = node;
      for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
        if (isFunction(p)) return;
        if (p.type === "TryStatement" && isField(p, "block", child)) yield p;
        child = p;
      }
    };
    const catches = function* (node: Node): Generator<Node> {
      for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
        if (isFunction(p)) return;
        if (p.type === "CatchClause") yield p;
      }
    };
    const markAwait = (node: Node, argument?: Node) => {
      // Deno's own APIs and import() are not cancellation points.
      if (argument?.type === "ImportExpression") return;
      if (argument !== undefined && rootOf(argument) === "Deno") return;
      for (const statement of tries(node)) awaiting.add(statement);
    };
    const markHandled = (node: Node) => {
      for (const clause of catches(node)) handled.add(clause);
    };

    return {
      Program(program) {
        imports = ourImports(program);
      },
      AwaitExpression(node) {
        markAwait(node, node.argument);
      },
      ForOfStatement(node) {
        if (node.await) markAwait(node, node.right);
      },
      VariableDeclaration(node) {
        if (node.kind === "await using") markAwait(node);
      },
      AssignmentExpression(node) {
        // `caught = error`: kept to be rethrown after some cleanup.
        if (node.right.type !== "Identifier") return;
        const name = node.right.name;
        for (const clause of catches(node)) {
          const param = (clause as Deno.lint.CatchClause).param;
          if (param?.type === "Identifier" && param.name === name) {
            handled.add(clause);
          }
        }
      },
      ThrowStatement: markHandled,
      Identifier(node) {
        if (CANCEL_TESTS.has(node.name)) markHandled(node);
      },
      Literal(node) {
        if (node.value === "AbortError") markHandled(node);
      },
      CallExpression(node) {
        const name = calleeName(node.callee);
        const path = pathOf(node.callee);
        if (
          name !== undefined && PASSES_ON.test(name) &&
          !path?.startsWith("console.")
        ) markHandled(node);
        // A test asserting on what it caught fails on a cancellation.
        if (path !== undefined && /^(assert|expect)/.test(path)) {
          markHandled(node);
        }
      },
      "TryStatement:exit"(node) {
        const handler = node.handler;
        if (handler === null || handled.has(handler)) return;
        if (!awaiting.has(node)) return;
        // At module level there is no task to return normally; inside
        // shield(fn), no cancellation reaches.
        const fn = enclosingFunction(node);
        if (fn === undefined) return;
        const call = parentOf(fn);
        if (
          call?.type === "CallExpression" &&
          calleeName(call.callee) === "shield"
        ) {
          return;
        }
        // Inside a finally, the cancellation already pending is rethrown
        // when the finally ends.
        let child: Node = node;
        for (let p = parentOf(node); p !== undefined; p = parentOf(p)) {
          if (isFunction(p)) break;
          if (p.type === "TryStatement" && isField(p, "finalizer", child)) {
            return;
          }
          child = p;
        }
        const param = handler.param;
        const canFix = param?.type === "Identifier" &&
          imports.named.get("isCancellation") !== undefined;
        const local = [...imports.named].find(([, name]) =>
          name === "isCancellation"
        )?.[0];
        ctx.report({
          range: [handler.range[0], handler.body.range[0]],
          message:
            "This catch swallows cancellation: it neither rethrows nor tests isCancellation(error)",
          hint:
            "Start the catch with `if (isCancellation(error)) throw error;` so a cancelled task stops.",
          fix: canFix && local !== undefined && param?.type === "Identifier"
            ? (fixer) =>
              fixer.insertTextAfterRange(
                [handler.body.range[0], handler.body.range[0] + 1],
                ` if (${local}(${param.name})) throw ${param.name};`,
              )
            : undefined,
        });
      },
    };
  },
};

/**
 * The plugin: `name: "aio"`, five rules. Load it from `deno.json` (its
 * specifier `jsr:@aio/std/lint` in `lint.plugins`), or test code with
 * `Deno.lint.runPlugin(plugin, fileName, source)`.
 *
 * @example Every rule on one file
 * ```ts
 * import plugin from "@aio/std/lint";
 * import assert from "node:assert/strict";
 *
 * const source = `import { createTask, sleep } from "@aio/std/async";
 * createTask(async () => {
 *   Deno.readTextFileSync("a.txt");
 *   try {
 *     await sleep(10);
 *   } catch {
 *     // swallowed
 *   }
 * });`;
 * const ids = Deno.lint.runPlugin(plugin, "a.ts", source).map((d) => d.id);
 * assert.deepEqual(ids.sort(), [
 *   "aio/no-blocking-in-async",
 *   "aio/no-orphan-task",
 *   "aio/no-swallowed-cancel",
 * ]);
 * ```
 */
const plugin: Deno.lint.Plugin = {
  name: "aio",
  rules: {
    "no-blocking-in-async": noBlockingInAsync,
    "no-floating-promise": noFloatingPromise,
    "no-orphan-task": noOrphanTask,
    "require-dispose": requireDispose,
    "no-swallowed-cancel": noSwallowedCancel,
  },
};
export default plugin;
