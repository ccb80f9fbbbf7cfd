// PostgreSQL type codecs: the OID table, text and binary formats, arrays of
// any element type, and a per-connection registry that user codecs extend.
// Pure: values in, bytes out, and back. Private to io/.
import { decodeText, type Writer } from "./_postgres_protocol.ts";

/** Decodes a binary-format value held in `buf[start, end)`. */
export type BinaryDecode = (
  buf: Uint8Array,
  view: DataView,
  start: number,
  end: number,
) => unknown;

/** Decodes a text-format value. */
export type TextDecode = (text: string) => unknown;

/** Writes a value's binary form (its bytes only, no length). */
export type BinaryEncode = (w: Writer, value: unknown) => void;

/** A value's text form. */
export type TextEncode = (value: unknown) => string;

/** How one type is read and written. */
export interface Codec {
  /** The type's name in pg_type. */
  name: string;
  /** The type's OID. */
  oid: number;
  /** Binary reader, when the binary format is understood. */
  decodeBinary?: BinaryDecode;
  /** Text reader. */
  decodeText: TextDecode;
  /** Binary writer, when the binary format is understood. */
  encodeBinary?: BinaryEncode;
  /** Text writer. */
  encodeText: TextEncode;
  /** For an array type: its element type's OID. */
  elem?: number;
  /**
   * Whether `encodeText` checks a string value (numbers, uuid); other
   * types pass a string through as the value's text form, for the server
   * to read.
   */
  checksText?: boolean;
}

/** A parameter value the type cannot take; the caller adds which `$n`. */
export class EncodeError extends TypeError {
  /**
   * Makes the error.
   *
   * @param message What was wrong (never the value itself).
   */
  constructor(message: string) {
    super(message);
    this.name = "EncodeError";
  }
}

/** Common type OIDs. */
export const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int4: 23,
  regproc: 24,
  text: 25,
  oid: 26,
  json: 114,
  xml: 142,
  float4: 700,
  float8: 701,
  unknown: 705,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  timestamptz: 1184,
  interval: 1186,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
  void: 2278,
} as const;

const describe = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value;

// ---------------------------------------------------------------------------
// Scalars

const intText = /^\s*[+-]?\d+\s*$/;
const floatText =
  /^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?Infinity|NaN)\s*$/;

function toInt(value: unknown, bits: 16 | 32, type: string): number {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "bigint") n = Number(value);
  else if (typeof value === "string" && intText.test(value)) n = Number(value);
  else if (typeof value === "boolean") n = value ? 1 : 0;
  else {
    throw new EncodeError(
      `expected an integer for ${type}, got ${describe(value)}`,
    );
  }
  const max = bits === 16 ? 32767 : 2147483647;
  if (!Number.isInteger(n) || n > max || n < -max - 1) {
    throw new EncodeError(
      `expected an integer in ${type}'s range (${-max - 1}..${max}), got ${
        Number.isInteger(n) ? "a value out of range" : "a non-integer number"
      }`,
    );
  }
  return n;
}

function toBigInt(value: unknown): bigint {
  let n: bigint;
  if (typeof value === "bigint") n = value;
  else if (typeof value === "number" && Number.isInteger(value)) {
    n = BigInt(value);
  } else if (typeof value === "string" && intText.test(value)) {
    n = BigInt(value.trim());
  } else {
    throw new EncodeError(
      `expected a bigint or an integer for int8, got ${
        typeof value === "number" ? "a non-integer number" : describe(value)
      }`,
    );
  }
  if (n > 9223372036854775807n || n < -9223372036854775808n) {
    throw new EncodeError(
      "expected an integer in int8's range, got a value out of range",
    );
  }
  return n;
}

function toFloat(value: unknown, type: string): number {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "string" && floatText.test(value)) return Number(value);
  throw new EncodeError(
    `expected a number for ${type}, got ${describe(value)}`,
  );
}

const floatText8 = (n: number): string => Object.is(n, -0) ? "-0" : String(n);

function toBool(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  throw new EncodeError(`expected a boolean for bool, got ${describe(value)}`);
}

const utf8 = new TextEncoder();
const textOf = (value: unknown): string =>
  typeof value === "string" ? value : String(value);

function toText(value: unknown, type: string): string {
  if (typeof value === "string") return value;
  if (
    typeof value === "number" || typeof value === "bigint" ||
    typeof value === "boolean"
  ) return String(value);
  throw new EncodeError(
    `expected a string for ${type}, got ${describe(value)}`,
  );
}

const writeText = (type: string): BinaryEncode => (w, value) => {
  w.str(toText(value, type));
};
const readText: BinaryDecode = (buf, _view, start, end) =>
  decodeText(buf, start, end);

const hex = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

function bytesToHex(buf: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i++) s += hex[buf[i]];
  return s;
}

function hexToBytes(text: string, type: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new EncodeError(`expected hexadecimal digits for ${type}`);
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  throw new EncodeError(
    `expected a Uint8Array for bytea, got ${describe(value)}`,
  );
}

function byteaFromText(text: string): Uint8Array {
  if (text.startsWith("\\x")) return hexToBytes(text.slice(2), "bytea");
  // The old escape format: \ooo octal escapes and \\.
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 && text[i + 1] === "\\") {
      out.push(92);
      i++;
    } else if (c === 92) {
      out.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else out.push(c);
  }
  return new Uint8Array(out);
}

function uuidText(value: unknown): string {
  if (typeof value !== "string") {
    throw new EncodeError(`expected a string for uuid, got ${describe(value)}`);
  }
  if (
    !/^\{?[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}\}?$/.test(value)
  ) {
    throw new EncodeError("expected a UUID of 32 hexadecimal digits for uuid");
  }
  return value;
}

function uuidBytes(w: Writer, value: unknown): void {
  const digits = uuidText(value).replace(/[{}-]/g, "");
  if (digits.length !== 32) {
    throw new EncodeError("expected a UUID of 32 hexadecimal digits for uuid");
  }
  w.bytes(hexToBytes(digits, "uuid"));
}

function uuidFromBytes(
  buf: Uint8Array,
  _view: DataView,
  start: number,
  end: number,
): string {
  if (end - start !== 16) return bytesToHex(buf, start, end);
  const h = bytesToHex(buf, start, end);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${
    h.slice(16, 20)
  }-${h.slice(20)}`;
}

// json: objects given as parameters are stringified; a string is taken as
// JSON text already (asyncpg's rule).
function jsonText(value: unknown): string {
  if (typeof value === "string") return value;
  const text = JSON.stringify(
    value,
    (_k, v) => typeof v === "bigint" ? v.toString() : v,
  );
  if (text === undefined) {
    throw new EncodeError(
      `expected a JSON value for json, got ${describe(value)}`,
    );
  }
  return text;
}

// Dates. PostgreSQL counts from 2000-01-01; ±infinity are kept as the
// numbers ±Infinity (a Date cannot hold them).
const EPOCH_2000 = 946684800000;
const DAY = 86400000;

function dateMs(value: unknown, type: string): number {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) {
      throw new EncodeError(
        `expected a valid Date for ${type}, got an Invalid Date`,
      );
    }
    return ms;
  }
  if (value === Infinity || value === -Infinity) return value as number;
  throw new EncodeError(`expected a Date for ${type}, got ${describe(value)}`);
}

function writeTimestamp(type: string): BinaryEncode {
  return (w, value) => {
    const ms = dateMs(value, type);
    const at = w.reserve(8);
    if (ms === Infinity) w.view.setBigInt64(at, 9223372036854775807n);
    else if (ms === -Infinity) w.view.setBigInt64(at, -9223372036854775808n);
    else w.view.setBigInt64(at, BigInt(ms - EPOCH_2000) * 1000n);
  };
}

function readTimestamp(
  _buf: Uint8Array,
  view: DataView,
  start: number,
): Date | number {
  const hi = view.getInt32(start);
  const lo = view.getUint32(start + 4);
  if (hi === 0x7fffffff && lo === 0xffffffff) return Infinity;
  if (hi === -0x80000000 && lo === 0) return -Infinity;
  const micros = hi * 4294967296 + lo;
  return new Date(Math.floor(micros / 1000) + EPOCH_2000);
}

function writeDate(w: Writer, value: unknown): void {
  const ms = dateMs(value, "date");
  const at = w.reserve(4);
  if (ms === Infinity) w.view.setInt32(at, 0x7fffffff);
  else if (ms === -Infinity) w.view.setInt32(at, -0x80000000);
  else w.view.setInt32(at, Math.floor((ms - EPOCH_2000) / DAY));
}

function readDate(
  _buf: Uint8Array,
  view: DataView,
  start: number,
): Date | number {
  const days = view.getInt32(start);
  if (days === 0x7fffffff) return Infinity;
  if (days === -0x80000000) return -Infinity;
  return new Date(days * DAY + EPOCH_2000);
}

function dateToText(value: unknown, type: string): string {
  if (typeof value === "string") return value;
  const ms = dateMs(value, type);
  if (ms === Infinity) return "infinity";
  if (ms === -Infinity) return "-infinity";
  const iso = new Date(ms).toISOString();
  return type === "date" ? iso.slice(0, 10) : iso;
}

// "2024-01-02 03:04:05.123456+01:30" / "2024-01-02" / "... BC"
const stampText =
  /^(\d{4,})-(\d\d)-(\d\d)(?:[ T](\d\d):(\d\d):(\d\d)(\.\d+)?)?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;

function parseStamp(text: string, utc: boolean): Date | number | string {
  if (text === "infinity") return Infinity;
  if (text === "-infinity") return -Infinity;
  const m = stampText.exec(text);
  if (m === null) return text;
  let year = Number(m[1]);
  if (m[12]) year = 1 - year;
  const frac = m[7] ? Math.floor(Number(m[7]) * 1000) : 0;
  const d = new Date(0);
  d.setUTCFullYear(year, Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0), frac);
  let ms = d.getTime();
  if (m[8] && !utc) {
    const offset = (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 +
      Number(m[11] ?? 0)) * 1000;
    ms += m[8] === "+" ? -offset : offset;
  }
  return new Date(ms);
}

function scalar(
  name: string,
  oid: number,
  parts: Omit<Codec, "name" | "oid">,
): Codec {
  return { name, oid, ...parts };
}

const text = (name: string, oid: number): Codec =>
  scalar(name, oid, {
    decodeBinary: readText,
    decodeText: (s) => s,
    encodeBinary: writeText(name),
    encodeText: (v) => toText(v, name),
  });

/** Text-only types whose values stay strings (time, interval, numeric…). */
const plain = (name: string, oid: number): Codec =>
  scalar(name, oid, { decodeText: (s) => s, encodeText: textOf });

const BUILTIN: Codec[] = [
  scalar("bool", OID.bool, {
    decodeBinary: (buf, _v, start) => buf[start] !== 0,
    decodeText: (s) => s === "t" || s === "true",
    encodeBinary: (w, v) => {
      w.u8(toBool(v) ? 1 : 0);
    },
    encodeText: (v) => (toBool(v) ? "t" : "f"),
  }),
  scalar("bytea", OID.bytea, {
    decodeBinary: (buf, _v, start, end) => buf.slice(start, end),
    decodeText: byteaFromText,
    encodeBinary: (w, v) => {
      w.bytes(toBytes(v));
    },
    encodeText: (v) => "\\x" + bytesToHex(toBytes(v), 0, toBytes(v).length),
  }),
  scalar("char", OID.char, {
    decodeBinary: readText,
    decodeText: (s) => s,
    encodeBinary: writeText("char"),
    encodeText: (v) => toText(v, "char"),
  }),
  text("name", OID.name),
  text("text", OID.text),
  text("varchar", OID.varchar),
  text("bpchar", OID.bpchar),
  text("xml", OID.xml),
  text("unknown", OID.unknown),
  scalar("int2", OID.int2, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getInt16(start),
    decodeText: Number,
    encodeBinary: (w, v) => {
      const n = toInt(v, 16, "int2");
      w.view.setInt16(w.reserve(2), n);
    },
    encodeText: (v) => String(toInt(v, 16, "int2")),
  }),
  scalar("int4", OID.int4, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getInt32(start),
    decodeText: Number,
    encodeBinary: (w, v) => {
      const n = toInt(v, 32, "int4");
      w.view.setInt32(w.reserve(4), n);
    },
    encodeText: (v) => String(toInt(v, 32, "int4")),
  }),
  scalar("oid", OID.oid, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getUint32(start),
    decodeText: Number,
    encodeBinary: (w, v) => {
      const n = toFloat(v, "oid");
      if (!Number.isInteger(n) || n < 0 || n > 4294967295) {
        throw new EncodeError(
          "expected an integer in oid's range (0..4294967295)",
        );
      }
      w.view.setUint32(w.reserve(4), n);
    },
    encodeText: (v) => String(toFloat(v, "oid")),
  }),
  scalar("regproc", OID.regproc, {
    decodeBinary: (_b, view, start) => view.getUint32(start),
    decodeText: (s) => s,
    encodeText: textOf,
  }),
  scalar("int8", OID.int8, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getBigInt64(start),
    decodeText: BigInt,
    encodeBinary: (w, v) => {
      const n = toBigInt(v);
      w.view.setBigInt64(w.reserve(8), n);
    },
    encodeText: (v) => String(toBigInt(v)),
  }),
  scalar("float4", OID.float4, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getFloat32(start),
    decodeText: Number,
    encodeBinary: (w, v) => {
      const n = toFloat(v, "float4");
      w.view.setFloat32(w.reserve(4), n);
    },
    encodeText: (v) => floatText8(toFloat(v, "float4")),
  }),
  scalar("float8", OID.float8, {
    checksText: true,
    decodeBinary: (_b, view, start) => view.getFloat64(start),
    decodeText: Number,
    encodeBinary: (w, v) => {
      const n = toFloat(v, "float8");
      w.view.setFloat64(w.reserve(8), n);
    },
    encodeText: (v) => floatText8(toFloat(v, "float8")),
  }),
  scalar("json", OID.json, {
    decodeText: JSON.parse,
    encodeText: jsonText,
  }),
  scalar("jsonb", OID.jsonb, {
    decodeText: JSON.parse,
    encodeText: jsonText,
  }),
  scalar("uuid", OID.uuid, {
    checksText: true,
    decodeBinary: uuidFromBytes,
    decodeText: (s) => s,
    encodeBinary: uuidBytes,
    encodeText: uuidText,
  }),
  scalar("date", OID.date, {
    decodeBinary: readDate,
    decodeText: (s) => parseStamp(s, true),
    encodeBinary: writeDate,
    encodeText: (v) => dateToText(v, "date"),
  }),
  scalar("timestamp", OID.timestamp, {
    decodeBinary: readTimestamp,
    decodeText: (s) => parseStamp(s, true),
    encodeBinary: writeTimestamp("timestamp"),
    encodeText: (v) => dateToText(v, "timestamp"),
  }),
  scalar("timestamptz", OID.timestamptz, {
    decodeBinary: readTimestamp,
    decodeText: (s) => parseStamp(s, false),
    encodeBinary: writeTimestamp("timestamptz"),
    encodeText: (v) => dateToText(v, "timestamptz"),
  }),
  plain("numeric", OID.numeric),
  plain("time", OID.time),
  plain("timetz", OID.timetz),
  plain("interval", OID.interval),
  plain("void", OID.void),
];

/** Array type OID → element type OID, for the built-in types. */
export const ARRAY_OF: Record<number, number> = {
  1000: OID.bool,
  1001: OID.bytea,
  1002: OID.char,
  1003: OID.name,
  1016: OID.int8,
  1005: OID.int2,
  1007: OID.int4,
  1009: OID.text,
  1028: OID.oid,
  199: OID.json,
  143: OID.xml,
  1021: OID.float4,
  1022: OID.float8,
  1014: OID.bpchar,
  1015: OID.varchar,
  1182: OID.date,
  1183: OID.time,
  1115: OID.timestamp,
  1185: OID.timestamptz,
  1187: OID.interval,
  1270: OID.timetz,
  1231: OID.numeric,
  2951: OID.uuid,
  3807: OID.jsonb,
};

// ---------------------------------------------------------------------------
// Arrays: binary (ndim, hasnull, elem oid, dims, elements) and text
// ("{1,2,{NULL,\"a b\"}}").

function arrayDims(value: unknown[], type: string): number[] {
  const dims: number[] = [];
  let level: unknown = value;
  while (Array.isArray(level)) {
    dims.push(level.length);
    if (level.length === 0) break;
    level = level[0];
  }
  if (dims.length > 6) {
    throw new EncodeError(
      `expected at most 6 dimensions for ${type}, got ${dims.length}`,
    );
  }
  return dims;
}

function checkShape(
  value: unknown,
  dims: number[],
  depth: number,
  type: string,
): void {
  if (depth === dims.length) {
    if (Array.isArray(value)) {
      throw new EncodeError(
        `expected a rectangular array for ${type}, got ragged nesting`,
      );
    }
    return;
  }
  if (!Array.isArray(value) || value.length !== dims[depth]) {
    throw new EncodeError(
      `expected a rectangular array for ${type}, got ragged nesting`,
    );
  }
  for (const item of value) checkShape(item, dims, depth + 1, type);
}

function arrayBinaryEncoder(elem: Codec, name: string): BinaryEncode {
  const encode = elem.encodeBinary!;
  return (w, value) => {
    if (!Array.isArray(value)) {
      throw new EncodeError(
        `expected an array for ${name}, got ${describe(value)}`,
      );
    }
    const dims = value.length === 0 ? [] : arrayDims(value, name);
    if (dims.length > 0) checkShape(value, dims, 0, name);
    const flat = dims.length === 0 ? [] : value.flat(dims.length - 1);
    let hasNull = 0;
    for (const item of flat) {
      if (item === null || item === undefined) hasNull = 1;
    }
    w.i32(dims.length).i32(hasNull).i32(elem.oid);
    for (const d of dims) w.i32(d).i32(1);
    for (const item of flat) {
      if (item === null || item === undefined) {
        w.i32(-1);
        continue;
      }
      const slot = w.lengthSlot();
      encode(w, item);
      w.fillLength(slot);
    }
  };
}

function arrayBinaryDecoder(elem: Codec): BinaryDecode {
  const decode = elem.decodeBinary!;
  return (buf, view, start, end) => {
    const ndim = view.getInt32(start);
    if (ndim === 0) return [];
    let pos = start + 12;
    const dims: number[] = [];
    for (let i = 0; i < ndim; i++) {
      dims.push(view.getInt32(pos));
      pos += 8;
    }
    const build = (depth: number): unknown[] => {
      const n = dims[depth];
      const out = new Array(n);
      for (let i = 0; i < n; i++) {
        if (depth + 1 < ndim) out[i] = build(depth + 1);
        else {
          const len = view.getInt32(pos);
          pos += 4;
          if (len < 0) out[i] = null;
          else {
            if (pos + len > end) {
              throw new RangeError("array element overruns its value");
            }
            out[i] = decode(buf, view, pos, pos + len);
            pos += len;
          }
        }
      }
      return out;
    };
    return build(0);
  };
}

function quoteArrayItem(text: string): string {
  if (
    text === "" || /^null$/i.test(text) || /[{},"\\\s]/.test(text)
  ) return '"' + text.replace(/[\\"]/g, "\\$&") + '"';
  return text;
}

function arrayTextEncoder(elem: Codec, name: string): TextEncode {
  const item = (v: unknown): string => {
    if (v === null || v === undefined) return "NULL";
    if (Array.isArray(v)) return "{" + v.map(item).join(",") + "}";
    return quoteArrayItem(elem.encodeText(v));
  };
  return (value) => {
    if (!Array.isArray(value)) {
      throw new EncodeError(
        `expected an array for ${name}, got ${describe(value)}`,
      );
    }
    const dims = value.length === 0 ? [] : arrayDims(value, name);
    if (dims.length > 0) checkShape(value, dims, 0, name);
    return item(value);
  };
}

/** Parses a text-format array literal, decoding each element with `decode`. */
export function parseArrayText(text: string, decode: TextDecode): unknown {
  let i = 0;
  // An explicit bounds prefix: "[1:3]={...}".
  if (text[0] === "[") {
    const eq = text.indexOf("=");
    if (eq > 0) i = eq + 1;
  }
  const parse = (): unknown[] => {
    if (text[i] !== "{") throw new SyntaxError("malformed array literal");
    i++;
    const out: unknown[] = [];
    if (text[i] === "}") {
      i++;
      return out;
    }
    while (i < text.length) {
      const c = text[i];
      if (c === "{") out.push(parse());
      else if (c === '"') {
        let s = "";
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === "\\") i++;
          s += text[i++];
        }
        i++;
        out.push(decode(s));
      } else {
        let j = i;
        while (j < text.length && text[j] !== "," && text[j] !== "}") j++;
        const raw = text.slice(i, j).trim();
        out.push(raw === "NULL" ? null : decode(raw));
        i = j;
      }
      if (text[i] === ",") i++;
      else if (text[i] === "}") {
        i++;
        return out;
      }
    }
    throw new SyntaxError("malformed array literal");
  };
  return parse();
}

function arrayCodec(oid: number, elem: Codec): Codec {
  const name = elem.name + "[]";
  return {
    name,
    oid,
    elem: elem.oid,
    decodeBinary: elem.decodeBinary ? arrayBinaryDecoder(elem) : undefined,
    decodeText: (s) => parseArrayText(s, elem.decodeText),
    encodeBinary: elem.encodeBinary
      ? arrayBinaryEncoder(elem, name)
      : undefined,
    encodeText: arrayTextEncoder(elem, name),
  };
}

// ---------------------------------------------------------------------------
// The registry

/** How one result column is decoded: the format to ask for and the reader. */
export interface ColumnDecoder {
  /** 0 text, 1 binary. */
  format: 0 | 1;
  /** The reader (text columns get a reader that decodes UTF-8 first). */
  decode: BinaryDecode;
}

/** A user codec, as given to `setTypeCodec`. */
export interface UserCodec {
  /** Turns a JS value into the type's text form (or bytes for binary). */
  encode?: (value: unknown) => string | Uint8Array;
  /** Turns the type's text form (or bytes for binary) into a JS value. */
  decode?: (data: string | Uint8Array) => unknown;
  /** Which wire format the functions speak; default "text". */
  format?: "text" | "binary";
}

const builtinByOid = new Map<number, Codec>();
for (const codec of BUILTIN) builtinByOid.set(codec.oid, codec);
for (const [array, elem] of Object.entries(ARRAY_OF)) {
  builtinByOid.set(
    Number(array),
    arrayCodec(Number(array), builtinByOid.get(elem)!),
  );
}

const textColumn: ColumnDecoder = { format: 0, decode: readText };
const columnCache = new Map<number, ColumnDecoder>();

function columnOf(codec: Codec): ColumnDecoder {
  if (codec.decodeBinary) return { format: 1, decode: codec.decodeBinary };
  const fromText = codec.decodeText;
  if (fromText === undefined) return textColumn;
  return {
    format: 0,
    decode: (buf, _view, start, end) => fromText(decodeText(buf, start, end)),
  };
}

/**
 * The types a connection knows: the built-ins plus user codecs by OID.
 * Unknown types are read as text strings and written in text format.
 */
export class TypeRegistry {
  #user = new Map<number, Codec>();
  #userColumns = new Map<number, ColumnDecoder>();

  /** The codec for `oid`, or undefined for an unknown type. */
  get(oid: number): Codec | undefined {
    return this.#user.get(oid) ?? builtinByOid.get(oid);
  }

  /** Whether a user codec was set (caches must then be rebuilt). */
  get customized(): boolean {
    return this.#user.size > 0;
  }

  /** How to read a column of type `oid`. */
  column(oid: number): ColumnDecoder {
    if (this.#user.size > 0) {
      const user = this.#userColumns.get(oid);
      if (user) return user;
    }
    let col = columnCache.get(oid);
    if (col === undefined) {
      const codec = builtinByOid.get(oid);
      col = codec ? columnOf(codec) : textColumn;
      columnCache.set(oid, col);
    }
    return col;
  }

  /**
   * Installs a user codec for the type `oid` called `name` (and for arrays
   * of it, when `arrayOid` is given).
   */
  set(name: string, oid: number, user: UserCodec, arrayOid = 0): void {
    const binary = user.format === "binary";
    const enc = user.encode;
    const dec = user.decode;
    const base = this.get(oid);
    const codec: Codec = {
      name,
      oid,
      decodeText: dec && !binary
        ? (s) => dec(s)
        : base?.decodeText ?? ((s) => s),
      encodeText: enc && !binary
        ? (v) => String(enc(v))
        : base?.encodeText ?? textOf,
    };
    if (binary) {
      if (dec) codec.decodeBinary = (buf, _v, s, e) => dec(buf.slice(s, e));
      if (enc) {
        codec.encodeBinary = (w, v) => {
          const out = enc(v);
          w.bytes(typeof out === "string" ? utf8.encode(out) : out);
        };
      }
    }
    this.#user.set(oid, codec);
    this.#userColumns.set(oid, columnOf(codec));
    if (arrayOid !== 0) {
      const array = arrayCodec(arrayOid, codec);
      this.#user.set(arrayOid, array);
      this.#userColumns.set(arrayOid, columnOf(array));
    }
  }
}

/** Names of the built-in types, for error messages. */
export function typeName(oid: number, registry?: TypeRegistry): string {
  return (registry?.get(oid) ?? builtinByOid.get(oid))?.name ?? `oid ${oid}`;
}
