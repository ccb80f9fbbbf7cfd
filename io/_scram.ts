// SCRAM-SHA-256 (RFC 5802 / RFC 7677) client over Web Crypto, as PostgreSQL
// speaks it: no channel binding ("n,,"), the user name left empty (the
// server takes it from the startup message). Pure apart from the random
// nonce. Private to io/.

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** The most PBKDF2 iterations accepted from a server, before any hashing. */
export const MAX_ITERATIONS = 10_000_000;

/** A SCRAM exchange that failed: a bad server message or signature. */
export class ScramError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "ScramError";
  }
}

function b64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return btoa(s);
}

function unb64(text: string, what: string): Uint8Array {
  let raw: string;
  try {
    raw = atob(text);
  } catch {
    throw new ScramError(
      `Cannot authenticate with SCRAM-SHA-256: the server's ${what} is not base64`,
    );
  }
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", k, data as Uint8Array<ArrayBuffer>),
  );
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
}

async function pbkdf2(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    utf8.encode(password.normalize("NFKC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  return new Uint8Array(
    await crypto.subtle.deriveBits(
      {
        name: "PBKDF2",
        hash: "SHA-256",
        salt: salt as Uint8Array<ArrayBuffer>,
        iterations,
      },
      key,
      256,
    ),
  );
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i];
  return out;
}

function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(",")) {
    const eq = part.indexOf("=");
    if (eq === 1) out.set(part[0], part.slice(2));
  }
  return out;
}

/**
 * One SCRAM-SHA-256 conversation: `first()` → client-first message,
 * `final(serverFirst)` → client-final message, `verify(serverFinal)` checks
 * the server's signature (a forged server fails here).
 */
export class ScramClient {
  #password: string;
  #nonce: string;
  #clientFirstBare: string;
  #serverSignature: Uint8Array | undefined = undefined;
  #verified = false;

  /** Whether the server's signature was checked and right. */
  get verified(): boolean {
    return this.#verified;
  }

  /**
   * Starts a conversation.
   *
   * @param password The user's password.
   * @param nonce The client nonce (random by default; tests fix it).
   * @param user The user name in the messages (PostgreSQL ignores it:
   *   empty by default).
   */
  constructor(password: string, nonce?: string, user = "") {
    this.#password = password;
    this.#nonce = nonce ??
      b64(crypto.getRandomValues(new Uint8Array(18)));
    const name = user.replaceAll("=", "=3D").replaceAll(",", "=2C");
    this.#clientFirstBare = `n=${name},r=${this.#nonce}`;
  }

  /** The client-first message. */
  first(): Uint8Array {
    return utf8.encode(`n,,${this.#clientFirstBare}`);
  }

  /**
   * The client-final message, from the server-first message.
   *
   * @param serverFirst The server-first message's bytes.
   */
  async final(serverFirst: Uint8Array): Promise<Uint8Array> {
    const message = text.decode(serverFirst);
    const attrs = attributes(message);
    const nonce = attrs.get("r");
    const salt = attrs.get("s");
    const iterText = attrs.get("i");
    if (nonce === undefined || salt === undefined || iterText === undefined) {
      throw new ScramError(
        "Cannot authenticate with SCRAM-SHA-256: the server-first message lacks a nonce, salt or iteration count",
      );
    }
    if (!nonce.startsWith(this.#nonce) || nonce.length <= this.#nonce.length) {
      throw new ScramError(
        "Cannot authenticate with SCRAM-SHA-256: the server nonce does not extend the client nonce",
      );
    }
    const iterations = Number(iterText);
    if (
      !/^\d+$/.test(iterText) || iterations < 1 || iterations > MAX_ITERATIONS
    ) {
      throw new ScramError(
        `Cannot authenticate with SCRAM-SHA-256: the iteration count must be 1..${MAX_ITERATIONS}, got ${
          iterText.slice(0, 20)
        }`,
      );
    }
    const salted = await pbkdf2(
      this.#password,
      unb64(salt, "salt"),
      iterations,
    );
    const clientKey = await hmac(salted, utf8.encode("Client Key"));
    const storedKey = await sha256(clientKey);
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = utf8.encode(
      `${this.#clientFirstBare},${message},${withoutProof}`,
    );
    const clientSignature = await hmac(storedKey, authMessage);
    const serverKey = await hmac(salted, utf8.encode("Server Key"));
    this.#serverSignature = await hmac(serverKey, authMessage);
    const proof = b64(xor(clientKey, clientSignature));
    return utf8.encode(`${withoutProof},p=${proof}`);
  }

  /**
   * Checks the server-final message's signature; throws
   * {@linkcode ScramError} when it is wrong or missing.
   *
   * @param serverFinal The server-final message's bytes.
   */
  verify(serverFinal: Uint8Array): void {
    const attrs = attributes(text.decode(serverFinal));
    const error = attrs.get("e");
    if (error !== undefined) {
      throw new ScramError(
        `Cannot authenticate with SCRAM-SHA-256: the server reported ${error}`,
      );
    }
    const v = attrs.get("v");
    const expected = this.#serverSignature;
    if (v === undefined || expected === undefined) {
      throw new ScramError(
        "Cannot authenticate with SCRAM-SHA-256: the server sent no signature",
      );
    }
    const got = unb64(v, "signature");
    let diff = got.length ^ expected.length;
    for (let i = 0; i < expected.length; i++) diff |= got[i] ^ expected[i];
    if (diff !== 0) {
      throw new ScramError(
        "Cannot authenticate with SCRAM-SHA-256: the server's signature is wrong (the server does not know the password: refusing it)",
      );
    }
    this.#verified = true;
  }
}

// MD5 for PostgreSQL's md5 password method (Web Crypto has no MD5).
const S = [
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  7,
  12,
  17,
  22,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  5,
  9,
  14,
  20,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  4,
  11,
  16,
  23,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
  6,
  10,
  15,
  21,
];
const K = Array.from(
  { length: 64 },
  (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0,
);

/** The MD5 digest of `data`, as 32 lowercase hex digits. */
export function md5Hex(data: Uint8Array): string {
  const len = data.length;
  const padded = new Uint8Array(((len + 8) >> 6) * 64 + 64);
  padded.set(data);
  padded[len] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, (len * 8) >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(len / 0x20000000), true);
  let a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  const m = new Uint32Array(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(off + 4 * i, true);
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f: number, g: number;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) % 16;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) % 16;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) % 16;
      }
      const t = d;
      d = c;
      c = b;
      const x = (a + f + K[i] + m[g]) >>> 0;
      b = (b + ((x << S[i]) | (x >>> (32 - S[i])))) >>> 0;
      a = t;
    }
    a0 = (a0 + a) >>> 0;
    b0 = (b0 + b) >>> 0;
    c0 = (c0 + c) >>> 0;
    d0 = (d0 + d) >>> 0;
  }
  const out = new DataView(new ArrayBuffer(16));
  out.setUint32(0, a0, true);
  out.setUint32(4, b0, true);
  out.setUint32(8, c0, true);
  out.setUint32(12, d0, true);
  let hex = "";
  for (let i = 0; i < 16; i++) {
    hex += out.getUint8(i).toString(16).padStart(2, "0");
  }
  return hex;
}

/** PostgreSQL's md5 password response: "md5" + md5(md5(password + user) + salt). */
export function md5Password(
  user: string,
  password: string,
  salt: Uint8Array,
): string {
  const inner = md5Hex(utf8.encode(password + user));
  const outer = new Uint8Array(32 + salt.length);
  outer.set(utf8.encode(inner));
  outer.set(salt, 32);
  return "md5" + md5Hex(outer);
}
