// The PostgreSQL wire protocol (version 3.0) as a pure codec: frontend
// messages are encoded into one growing buffer (a query's Parse, Bind,
// Describe, Execute and Sync become a single write), backend messages are
// decoded incrementally from the chunks a socket gives, in place, without
// copying. No sockets, no timers: the decoder can be fuzzed with bytes alone.
// Private to io/.

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });

/**
 * The server sent bytes that break the protocol (a bad length, an unknown
 * message where one was expected, a truncated field). The connection cannot
 * be trusted afterwards and is closed.
 */
export class ProtocolError extends Error {
  /**
   * Makes the error.
   *
   * @param message What was wrong.
   * @param options The cause, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ProtocolError";
  }
}

/** Backend message type codes (the first byte of each message). */
export const enum Backend {
  Authentication = 0x52, // R
  BackendKeyData = 0x4b, // K
  BindComplete = 0x32, // 2
  CloseComplete = 0x33, // 3
  CommandComplete = 0x43, // C
  CopyData = 0x64, // d
  CopyDone = 0x63, // c
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  CopyBothResponse = 0x57, // W
  DataRow = 0x44, // D
  EmptyQueryResponse = 0x49, // I
  ErrorResponse = 0x45, // E
  NegotiateProtocolVersion = 0x76, // v
  NoData = 0x6e, // n
  NoticeResponse = 0x4e, // N
  NotificationResponse = 0x41, // A
  ParameterDescription = 0x74, // t
  ParameterStatus = 0x53, // S
  ParseComplete = 0x31, // 1
  PortalSuspended = 0x73, // s
  ReadyForQuery = 0x5a, // Z
  RowDescription = 0x54, // T
}

const KNOWN_BACKEND = new Uint8Array(256);
for (
  const code of [
    0x52,
    0x4b,
    0x32,
    0x33,
    0x43,
    0x64,
    0x63,
    0x47,
    0x48,
    0x57,
    0x44,
    0x49,
    0x45,
    0x76,
    0x6e,
    0x4e,
    0x41,
    0x74,
    0x53,
    0x31,
    0x73,
    0x5a,
    0x54,
  ]
) KNOWN_BACKEND[code] = 1;

/** The largest backend message accepted (PostgreSQL's own limit is 1 GB). */
export const MAX_MESSAGE = 0x40000000;

/**
 * Encodes frontend messages into one buffer; `finish()` hands out the bytes
 * written since the last `finish()`, ready for one socket write.
 */
export class Writer {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;
  #start = 0; // where the current message's length field is

  /**
   * Makes a writer.
   *
   * @param size The initial capacity in bytes.
   */
  constructor(size = 1024) {
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** How many bytes are pending (written but not finished). */
  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Starts a message with type byte `type` (0 for the untyped startup). */
  begin(type: number): this {
    this.#ensure(5);
    if (type !== 0) this.#buf[this.#pos++] = type;
    this.#start = this.#pos;
    this.#pos += 4;
    return this;
  }

  /** Ends the current message: fills in its length. */
  end(): this {
    this.#view.setInt32(this.#start, this.#pos - this.#start);
    return this;
  }

  /** Appends a byte. */
  u8(value: number): this {
    this.#ensure(1);
    this.#buf[this.#pos++] = value;
    return this;
  }

  /** Appends a big-endian int16. */
  i16(value: number): this {
    this.#ensure(2);
    this.#view.setInt16(this.#pos, value);
    this.#pos += 2;
    return this;
  }

  /** Appends a big-endian int32. */
  i32(value: number): this {
    this.#ensure(4);
    this.#view.setInt32(this.#pos, value);
    this.#pos += 4;
    return this;
  }

  /** Appends raw bytes. */
  bytes(value: Uint8Array): this {
    this.#ensure(value.length);
    this.#buf.set(value, this.#pos);
    this.#pos += value.length;
    return this;
  }

  /** Appends a string as UTF-8, without terminator. */
  str(value: string): this {
    // Worst case 3 bytes per UTF-16 unit.
    this.#ensure(value.length * 3);
    const { written } = encoder.encodeInto(
      value,
      this.#buf.subarray(this.#pos),
    );
    this.#pos += written;
    return this;
  }

  /** Appends a NUL-terminated string (a protocol "String"). */
  cstr(value: string): this {
    return this.str(value).u8(0);
  }

  /**
   * Reserves a 4-byte length slot and returns its position, for a value
   * whose size is known only once written (see `fillLength`).
   */
  lengthSlot(): number {
    this.#ensure(4);
    const at = this.#pos;
    this.#pos += 4;
    return at;
  }

  /** Writes into the slot at `at` the number of bytes written after it. */
  fillLength(at: number): void {
    this.#view.setInt32(at, this.#pos - at - 4);
  }

  /** A view of the buffer and its DataView, for codecs that write in place. */
  reserve(n: number): number {
    this.#ensure(n);
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  /** The underlying buffer (valid until the next write that grows it). */
  get buffer(): Uint8Array {
    return this.#buf;
  }

  /** The underlying DataView (valid until the next write that grows it). */
  get view(): DataView {
    return this.#view;
  }

  /** Drops what was written since the last `finish()`. */
  discard(): void {
    this.#pos = 0;
  }

  /** A copy of the pending bytes; the writer starts empty again. */
  finish(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    // A huge message should not pin a huge buffer.
    if (this.#buf.length > 65536) {
      this.#buf = new Uint8Array(1024);
      this.#view = new DataView(this.#buf.buffer);
    }
    return out;
  }
}

// ---------------------------------------------------------------------------
// Frontend messages

/** The protocol version 3.0 startup message. */
export function startup(w: Writer, params: Record<string, string>): void {
  w.begin(0).i32(196608);
  for (const key in params) w.cstr(key).cstr(params[key]);
  w.u8(0).end();
}

/** SSLRequest: asks the server whether it speaks TLS. */
export function sslRequest(w: Writer): void {
  w.begin(0).i32(80877103).end();
}

/** CancelRequest for backend `pid` with its secret `key`. */
export function cancelRequest(w: Writer, pid: number, key: number): void {
  w.begin(0).i32(80877102).i32(pid).i32(key).end();
}

/** PasswordMessage (cleartext or md5). */
export function password(w: Writer, value: string): void {
  w.begin(0x70).cstr(value).end();
}

/** SASLInitialResponse. */
export function saslInitialResponse(
  w: Writer,
  mechanism: string,
  data: Uint8Array,
): void {
  w.begin(0x70).cstr(mechanism).i32(data.length).bytes(data).end();
}

/** SASLResponse. */
export function saslResponse(w: Writer, data: Uint8Array): void {
  w.begin(0x70).bytes(data).end();
}

/** Query (the simple query protocol). */
export function query(w: Writer, sql: string): void {
  w.begin(0x51).cstr(sql).end();
}

/** Parse: a named (or, with "", unnamed) prepared statement. */
export function parse(
  w: Writer,
  name: string,
  sql: string,
  types: readonly number[] = [],
): void {
  w.begin(0x50).cstr(name).cstr(sql).i16(types.length);
  for (let i = 0; i < types.length; i++) w.i32(types[i]);
  w.end();
}

/** Describe a statement ("S") or a portal ("P"). */
export function describe(w: Writer, kind: "S" | "P", name: string): void {
  w.begin(0x44).u8(kind === "S" ? 0x53 : 0x50).cstr(name).end();
}

/** Execute a portal; `maxRows` 0 for all rows. */
export function execute(w: Writer, portal = "", maxRows = 0): void {
  w.begin(0x45).cstr(portal).i32(maxRows).end();
}

/** Close a statement ("S") or a portal ("P"). */
export function close(w: Writer, kind: "S" | "P", name: string): void {
  w.begin(0x43).u8(kind === "S" ? 0x53 : 0x50).cstr(name).end();
}

/** Sync: ends an extended-protocol batch; the server answers ReadyForQuery. */
export function sync(w: Writer): void {
  w.begin(0x53).end();
}

/** Flush: asks the server to send what it has buffered. */
export function flush(w: Writer): void {
  w.begin(0x48).end();
}

/** Terminate: a polite goodbye. */
export function terminate(w: Writer): void {
  w.begin(0x58).end();
}

/** CopyData. */
export function copyData(w: Writer, data: Uint8Array): void {
  w.begin(0x64).bytes(data).end();
}

/** CopyDone. */
export function copyDone(w: Writer): void {
  w.begin(0x63).end();
}

/** CopyFail with a reason the server logs. */
export function copyFail(w: Writer, reason: string): void {
  w.begin(0x66).cstr(reason).end();
}

// ---------------------------------------------------------------------------
// Backend messages

/**
 * An incremental decoder of backend messages. The I/O layer reads straight
 * into `reserve()`'s free space and calls `advance(n)` (or hands whole chunks
 * to `push`); `next()` then yields one message at a time, in place: its type
 * is returned, its body is `buf[start, end)`, valid until the next
 * `reserve()`/`push()`.
 */
export class Decoder {
  /** The buffer holding received bytes. */
  buf: Uint8Array;
  /** A DataView over `buf`. */
  view: DataView;
  /** Start of the current message's body. */
  start = 0;
  /** End of the current message's body. */
  end = 0;
  #read = 0; // where the next unread message starts
  #filled = 0; // end of received bytes
  #minSize: number;

  /**
   * Makes a decoder.
   *
   * @param size The initial (and idle) buffer size.
   */
  constructor(size = 16384) {
    this.#minSize = size;
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  /** How many received bytes are not yet consumed by `next()`. */
  get buffered(): number {
    return this.#filled - this.#read;
  }

  /**
   * Free space to read into (at least 4 KB, or what the pending message
   * needs); call `advance(n)` with how many bytes were put there.
   */
  reserve(): Uint8Array {
    let pending = this.#filled - this.#read;
    if (this.#read === this.#filled) {
      this.#read = this.#filled = 0;
      pending = 0;
      if (this.buf.length > this.#minSize) this.#resize(this.#minSize);
    }
    // How big must the buffer be for the message being received?
    // Room for the rest of a long message, but grown only as its bytes
    // arrive (at most doubling), so a bogus length allocates nothing big.
    let need = 4096;
    if (pending >= 5) {
      const len = this.view.getInt32(this.#read + 1);
      if (len >= 4 && len <= MAX_MESSAGE) {
        need = Math.max(
          need,
          Math.min(len + 1 - pending, Math.max(65536, pending)),
        );
      }
    }
    if (this.buf.length - this.#filled < need && this.#read > 0) {
      this.buf.copyWithin(0, this.#read, this.#filled);
      this.#filled = pending;
      this.#read = 0;
    }
    if (this.buf.length - this.#filled < need) {
      let size = this.buf.length * 2;
      while (size - this.#filled < need) size *= 2;
      this.#resize(size);
    }
    return this.buf.subarray(this.#filled);
  }

  #resize(size: number): void {
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(this.#read, this.#filled));
    this.#filled -= this.#read;
    this.#read = 0;
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Records that `n` bytes were written into `reserve()`'s space. */
  advance(n: number): void {
    this.#filled += n;
  }

  /** Copies a chunk in (for tests and fuzzing; the socket uses `reserve`). */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length) {
      const space = this.reserve();
      const n = Math.min(space.length, chunk.length - offset);
      space.set(chunk.subarray(offset, offset + n));
      this.advance(n);
      offset += n;
    }
  }

  /**
   * The next complete message's type, or -1 when more bytes are needed.
   * Throws {@linkcode ProtocolError} on an impossible length or an unknown
   * type.
   */
  next(): number {
    const at = this.#read;
    if (this.#filled - at < 5) return -1;
    const type = this.buf[at];
    const len = this.view.getInt32(at + 1);
    if (KNOWN_BACKEND[type] === 0) {
      throw new ProtocolError(
        `Cannot decode a PostgreSQL message: unknown message type, got byte 0x${
          type.toString(16).padStart(2, "0")
        }`,
      );
    }
    if (len < 4 || len > MAX_MESSAGE) {
      throw new ProtocolError(
        `Cannot decode a PostgreSQL message: bad length for message '${
          String.fromCharCode(type)
        }', got ${len}`,
      );
    }
    if (this.#filled - at < len + 1) return -1;
    this.start = at + 5;
    this.end = at + 1 + len;
    this.#read = this.end;
    return type;
  }
}

// Readers of message bodies. Each checks its bounds and throws a
// ProtocolError instead of reading past the message.

function truncated(what: string): ProtocolError {
  return new ProtocolError(
    `Cannot decode a PostgreSQL ${what} message: it is truncated`,
  );
}

/** A cursor over one message body. */
export class Reader {
  buf: Uint8Array;
  view: DataView;
  pos: number;
  end: number;
  what: string;

  /** Makes a reader over `buf[start, end)`; `what` names it in errors. */
  constructor(
    buf: Uint8Array,
    view: DataView,
    start: number,
    end: number,
    what: string,
  ) {
    this.buf = buf;
    this.view = view;
    this.pos = start;
    this.end = end;
    this.what = what;
  }

  /** Reads an int16. */
  i16(): number {
    if (this.pos + 2 > this.end) throw truncated(this.what);
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }

  /** Reads an int32. */
  i32(): number {
    if (this.pos + 4 > this.end) throw truncated(this.what);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }

  /** Reads a byte. */
  u8(): number {
    if (this.pos + 1 > this.end) throw truncated(this.what);
    return this.buf[this.pos++];
  }

  /** Reads a NUL-terminated string. */
  cstr(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw truncated(this.what);
    const s = decodeText(this.buf, this.pos, nul);
    this.pos = nul + 1;
    return s;
  }

  /** Reads `n` bytes (a copy). */
  bytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw truncated(this.what);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The rest of the body (a copy). */
  rest(): Uint8Array {
    return this.bytes(this.end - this.pos);
  }
}

/**
 * Decodes UTF-8 `buf[start, end)`; short ASCII strings are built directly
 * (cheaper than a TextDecoder call with its subarray).
 */
export function decodeText(
  buf: Uint8Array,
  start: number,
  end: number,
): string {
  const n = end - start;
  if (n < 24) {
    let s = "";
    for (let i = start; i < end; i++) {
      const c = buf[i];
      if (c > 127) return decoder.decode(buf.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return decoder.decode(buf.subarray(start, end));
}

/** One column of a RowDescription. */
export interface Field {
  /** Column name (alias). */
  name: string;
  /** OID of the table it comes from, or 0. */
  tableOid: number;
  /** Attribute number in that table, or 0. */
  column: number;
  /** OID of its type. */
  typeOid: number;
  /** Type size (negative for variable width). */
  typeSize: number;
  /** Type modifier. */
  typeMod: number;
  /** 0 for text, 1 for binary. */
  format: number;
}

/** Parses a RowDescription body. */
export function parseRowDescription(r: Reader): Field[] {
  const n = r.i16();
  if (n < 0) throw truncated(r.what);
  const fields: Field[] = new Array(n);
  for (let i = 0; i < n; i++) {
    fields[i] = {
      name: r.cstr(),
      tableOid: r.i32(),
      column: r.i16(),
      typeOid: r.i32() >>> 0,
      typeSize: r.i16(),
      typeMod: r.i32(),
      format: r.i16(),
    };
  }
  return fields;
}

/** Parses a ParameterDescription body: the parameters' type OIDs. */
export function parseParameterDescription(r: Reader): number[] {
  const n = r.i16();
  if (n < 0) throw truncated(r.what);
  const oids: number[] = new Array(n);
  for (let i = 0; i < n; i++) oids[i] = r.i32() >>> 0;
  return oids;
}

/** The fields of an ErrorResponse or NoticeResponse, keyed by code letter. */
export type ErrorFields = Record<string, string>;

/** Parses an ErrorResponse or NoticeResponse body. */
export function parseErrorFields(r: Reader): ErrorFields {
  const fields: ErrorFields = {};
  while (r.pos < r.end) {
    const code = r.u8();
    if (code === 0) break;
    fields[String.fromCharCode(code)] = r.cstr();
  }
  return fields;
}

/** A NotificationResponse (LISTEN/NOTIFY). */
export interface Notification {
  /** Backend pid of the notifier. */
  pid: number;
  /** The channel. */
  channel: string;
  /** The payload. */
  payload: string;
}

/** Parses a NotificationResponse body. */
export function parseNotification(r: Reader): Notification {
  return { pid: r.i32(), channel: r.cstr(), payload: r.cstr() };
}
