// The smallest PostgreSQL client testing/postgres.ts needs for its own admin
// work (creating the test role, terminating backends) and its tests: a
// startup with trust, cleartext or md5 authentication, and simple queries with
// text results. It is deliberately independent of io/postgres.ts, so the
// cluster helper keeps working while the driver under test is broken.
import { createHash } from "node:crypto";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A backend message: its type byte and its body (without the length). */
interface Message {
  type: string;
  body: Uint8Array;
}

/** A server error from the admin connection, with its SQLSTATE. */
export class WireError extends Error {
  /** The SQLSTATE, e.g. `"42601"`. */
  code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = "WireError";
    this.code = code;
  }
}

/** Reads whole backend messages from a connection. */
class Reader {
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(n: number): Promise<void> {
    while (this.#buffer.length < n) {
      const chunk = new Uint8Array(64 * 1024);
      const read = await this.#conn.read(chunk);
      if (read === null) {
        throw new Error(
          "Cannot read from PostgreSQL: the server closed the connection",
        );
      }
      const next = new Uint8Array(this.#buffer.length + read);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, read), this.#buffer.length);
      this.#buffer = next;
    }
  }

  /** The single byte the server answers an SSLRequest with. */
  async byte(): Promise<string> {
    await this.#fill(1);
    const value = String.fromCharCode(this.#buffer[0]);
    this.#buffer = this.#buffer.subarray(1);
    return value;
  }

  async message(): Promise<Message> {
    await this.#fill(5);
    const length = new DataView(
      this.#buffer.buffer,
      this.#buffer.byteOffset,
      5,
    ).getInt32(1);
    await this.#fill(1 + length);
    const type = String.fromCharCode(this.#buffer[0]);
    const body = this.#buffer.slice(5, 1 + length);
    this.#buffer = this.#buffer.subarray(1 + length);
    return { type, body };
  }
}

function frame(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

function cstring(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function errorFrom(body: Uint8Array): WireError {
  const fields: Record<string, string> = {};
  let offset = 0;
  while (offset < body.length && body[offset] !== 0) {
    const key = String.fromCharCode(body[offset]);
    const end = body.indexOf(0, offset + 1);
    fields[key] = decoder.decode(body.subarray(offset + 1, end));
    offset = end + 1;
  }
  return new WireError(
    `PostgreSQL ${fields.S ?? "ERROR"}: ${fields.M ?? "unknown error"}`,
    fields.C ?? "",
  );
}

/** Where and as whom {@linkcode WireClient.connect} logs in. */
export interface WireOptions {
  /** A TCP host name or address; ignored when `socketDir` is given. */
  hostname?: string;
  /** A Unix socket directory, as libpq's `host=/dir`. */
  socketDir?: string;
  port: number;
  user: string;
  database: string;
  password?: string;
}

/** The authentication request the server made during the last startup. */
export type AuthKind = "trust" | "password" | "md5" | "sasl";

/** A connection that runs simple queries (text results). */
export class WireClient {
  #conn: Deno.Conn;
  #reader: Reader;
  /** Which authentication the server asked for. */
  auth: AuthKind = "trust";
  /** The SASL mechanisms the server offered, when `auth` is `"sasl"`. */
  mechanisms: string[] = [];
  /** ParameterStatus values (`server_version`, …). */
  parameters: Record<string, string> = {};

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#reader = new Reader(conn);
  }

  /**
   * Connects and authenticates (trust, cleartext or md5). A server that asks
   * for SASL leaves the connection open with `auth === "sasl"` and without a
   * session: close it.
   */
  static async connect(options: WireOptions): Promise<WireClient> {
    const conn = options.socketDir !== undefined
      ? await Deno.connect({
        transport: "unix",
        path: `${options.socketDir}/.s.PGSQL.${options.port}`,
      })
      : await Deno.connect({
        hostname: options.hostname ?? "127.0.0.1",
        port: options.port,
      });
    const client = new WireClient(conn);
    try {
      await client.#startup(options);
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  async #startup(options: WireOptions): Promise<void> {
    const params = concat([
      cstring("user"),
      cstring(options.user),
      cstring("database"),
      cstring(options.database),
      new Uint8Array(1),
    ]);
    const startup = new Uint8Array(8 + params.length);
    const view = new DataView(startup.buffer);
    view.setInt32(0, startup.length);
    view.setInt32(4, 196608); // protocol 3.0
    startup.set(params, 8);
    await this.#write(startup);
    while (true) {
      const { type, body } = await this.#reader.message();
      const view = new DataView(body.buffer, body.byteOffset, body.length);
      if (type === "E") throw errorFrom(body);
      if (type === "R") {
        const code = view.getInt32(0);
        if (code === 0) continue;
        if (code === 3 || code === 5) {
          this.auth = code === 3 ? "password" : "md5";
          const password = options.password ?? "";
          let secret = password;
          if (code === 5) {
            // md5(md5(password + user) + salt), hex, prefixed "md5".
            const inner = createHash("md5").update(password + options.user)
              .digest("hex");
            secret = "md5" + createHash("md5")
              .update(concat([encoder.encode(inner), body.subarray(4, 8)]))
              .digest("hex");
          }
          await this.#write(frame("p", cstring(secret)));
          continue;
        }
        if (code === 10) {
          this.auth = "sasl";
          this.mechanisms = decoder.decode(body.subarray(4)).split("\0")
            .filter((name) => name !== "");
          return;
        }
        throw new Error(
          `Cannot log in to PostgreSQL: unsupported authentication request, got code ${code}`,
        );
      }
      if (type === "S") {
        const [name, value] = decoder.decode(body).split("\0");
        this.parameters[name] = value;
      }
      if (type === "Z") return;
    }
  }

  /**
   * Runs `sql` with the simple query protocol and returns the rows of every
   * statement as text (`null` for SQL NULL). Rejects with {@linkcode WireError}
   * after the server is ready again.
   */
  async query(sql: string): Promise<(string | null)[][]> {
    await this.#write(frame("Q", cstring(sql)));
    const rows: (string | null)[][] = [];
    let error: WireError | undefined;
    while (true) {
      const { type, body } = await this.#reader.message();
      if (type === "E") error = errorFrom(body);
      else if (type === "D") {
        const view = new DataView(body.buffer, body.byteOffset, body.length);
        const count = view.getInt16(0);
        const row: (string | null)[] = [];
        let offset = 2;
        for (let i = 0; i < count; i++) {
          const length = view.getInt32(offset);
          offset += 4;
          if (length < 0) row.push(null);
          else {
            row.push(decoder.decode(body.subarray(offset, offset + length)));
            offset += length;
          }
        }
        rows.push(row);
      } else if (type === "Z") {
        if (error !== undefined) throw error;
        return rows;
      }
    }
  }

  /** Sends Terminate (best effort) and closes the socket. */
  async close(): Promise<void> {
    try {
      await this.#write(frame("X", new Uint8Array(0)));
    } catch {
      // The server is gone already; closing is all that is left.
    }
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }
}

/**
 * Sends an SSLRequest on a fresh TCP connection and returns the server's
 * answer (`"S"`: TLS is on, `"N"`: it is not) with the connection, so a test
 * can go on with `Deno.startTls`.
 */
export async function sslRequest(
  hostname: string,
  port: number,
): Promise<{ answer: string; conn: Deno.TcpConn }> {
  const conn = await Deno.connect({ hostname, port });
  const request = new Uint8Array(8);
  const view = new DataView(request.buffer);
  view.setInt32(0, 8);
  view.setInt32(4, 80877103);
  await conn.write(request);
  const answer = await new Reader(conn).byte();
  return { answer, conn };
}

/** A string literal for SQL: single quotes doubled. */
export function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** A quoted SQL identifier. */
export function identifier(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}
