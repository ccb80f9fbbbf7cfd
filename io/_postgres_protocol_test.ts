import {
  Backend,
  Decoder,
  type Field,
  parse,
  parseErrorFields,
  parseNotification,
  parseParameterDescription,
  parseRowDescription,
  ProtocolError,
  query,
  Reader,
  startup,
  sync,
  Writer,
} from "./_postgres_protocol.ts";
import assert from "node:assert/strict";

// A seeded PRNG (mulberry32), so every fuzz case can be replayed.
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Backend messages made with the frontend writer (same framing).
function backendStream(): { bytes: Uint8Array; types: number[] } {
  const w = new Writer(64);
  const types: number[] = [];
  const msg = (type: number, body: (w: Writer) => void) => {
    types.push(type);
    w.begin(type);
    body(w);
    w.end();
  };
  msg(Backend.Authentication, (w) => w.i32(0));
  msg(Backend.ParameterStatus, (w) => w.cstr("server_version").cstr("15.0"));
  msg(Backend.BackendKeyData, (w) => w.i32(1234).i32(5678));
  msg(Backend.ReadyForQuery, (w) => w.u8(0x49));
  msg(Backend.RowDescription, (w) => {
    w.i16(2);
    w.cstr("id").i32(0).i16(0).i32(23).i16(4).i32(-1).i16(1);
    w.cstr("naïve").i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0);
  });
  for (let i = 0; i < 50; i++) {
    msg(Backend.DataRow, (w) => w.i16(2).i32(4).i32(i).i32(3).str("abc"));
  }
  msg(
    Backend.DataRow,
    (w) => w.i16(1).i32(70000).bytes(new Uint8Array(70000).fill(7)),
  );
  msg(Backend.CommandComplete, (w) => w.cstr("SELECT 51"));
  msg(
    Backend.NoticeResponse,
    (w) => w.u8(0x53).cstr("NOTICE").u8(0x4d).cstr("hi").u8(0),
  );
  msg(
    Backend.NotificationResponse,
    (w) => w.i32(9).cstr("chan").cstr("payload"),
  );
  msg(Backend.ReadyForQuery, (w) => w.u8(0x54));
  return { bytes: w.finish(), types };
}

function drain(dec: Decoder, out: { type: number; body: Uint8Array }[]): void {
  let type: number;
  while ((type = dec.next()) !== -1) {
    out.push({ type, body: dec.buf.slice(dec.start, dec.end) });
  }
}

Deno.test("Writer frames frontend messages with their lengths", () => {
  const w = new Writer(4); // grows
  query(w, "SELECT 1");
  sync(w);
  const bytes = w.finish();
  assert.deepEqual([...bytes.subarray(0, 5)], [0x51, 0, 0, 0, 13]);
  assert.equal(new TextDecoder().decode(bytes.subarray(5, 13)), "SELECT 1");
  assert.deepEqual([...bytes.subarray(14)], [0x53, 0, 0, 0, 4]);
  assert.equal(w.length, 0);
  startup(w, { user: "u" });
  const s = w.finish();
  assert.equal(new DataView(s.buffer).getInt32(0), s.length);
  assert.equal(new DataView(s.buffer).getInt32(4), 196608);
  parse(w, "s1", "SELECT $1", [23]);
  const p = w.finish();
  assert.equal(p[0], 0x50);
  assert.equal(new DataView(p.buffer).getInt32(p.length - 4), 23);
});

Deno.test("Decoder yields every message whole however the bytes are chunked", () => {
  const { bytes, types } = backendStream();
  const whole: { type: number; body: Uint8Array }[] = [];
  const one = new Decoder(64);
  one.push(bytes);
  drain(one, whole);
  assert.deepEqual(whole.map((m) => m.type), types);
  const random = rng(1);
  for (let round = 0; round < 300; round++) {
    const dec = new Decoder(round % 2 === 0 ? 64 : 16384);
    const got: { type: number; body: Uint8Array }[] = [];
    let at = 0;
    while (at < bytes.length) {
      const n = 1 + Math.floor(random() * (random() < 0.5 ? 8 : 9000));
      dec.push(bytes.subarray(at, at + n));
      at += n;
      drain(dec, got);
    }
    assert.deepEqual(got, whole, `round ${round}`);
    assert.equal(dec.buffered, 0);
  }
});

Deno.test("Decoder reads in place through reserve()/advance()", () => {
  const { bytes, types } = backendStream();
  const dec = new Decoder(64);
  const got: number[] = [];
  let at = 0;
  while (at < bytes.length) {
    const space = dec.reserve();
    const n = Math.min(space.length, bytes.length - at, 1000);
    space.set(bytes.subarray(at, at + n));
    dec.advance(n);
    at += n;
    let type: number;
    while ((type = dec.next()) !== -1) got.push(type);
  }
  assert.deepEqual(got, types);
});

Deno.test("every truncation of a valid stream waits for more bytes, never throws", () => {
  const { bytes } = backendStream();
  const random = rng(2);
  for (let i = 0; i < 1000; i++) {
    const cut = Math.floor(random() * bytes.length);
    const dec = new Decoder(64);
    dec.push(bytes.subarray(0, cut));
    const got: { type: number; body: Uint8Array }[] = [];
    drain(dec, got);
    assert.equal(dec.next(), -1);
  }
});

Deno.test("message parsers read what they were given", () => {
  const w = new Writer();
  w.i16(1).cstr("col").i32(16384).i16(2).i32(23).i16(4).i32(-1).i16(1);
  const body = w.finish();
  const fields: Field[] = parseRowDescription(
    new Reader(
      body,
      new DataView(body.buffer),
      0,
      body.length,
      "RowDescription",
    ),
  );
  assert.deepEqual(fields, [{
    name: "col",
    tableOid: 16384,
    column: 2,
    typeOid: 23,
    typeSize: 4,
    typeMod: -1,
    format: 1,
  }]);
  w.i16(2).i32(23).i32(4294967295 | 0);
  const pd = w.finish();
  assert.deepEqual(
    parseParameterDescription(
      new Reader(pd, new DataView(pd.buffer), 0, pd.length, "t"),
    ),
    [23, 4294967295],
  );
  w.u8(0x43).cstr("23505").u8(0x4d).cstr("dup").u8(0);
  const e = w.finish();
  assert.deepEqual(
    parseErrorFields(new Reader(e, new DataView(e.buffer), 0, e.length, "E")),
    {
      C: "23505",
      M: "dup",
    },
  );
  w.i32(7).cstr("ch").cstr("");
  const a = w.finish();
  assert.deepEqual(
    parseNotification(new Reader(a, new DataView(a.buffer), 0, a.length, "A")),
    {
      pid: 7,
      channel: "ch",
      payload: "",
    },
  );
});

function parseAny(type: number, body: Uint8Array): void {
  const r = new Reader(body, new DataView(body.buffer), 0, body.length, "fuzz");
  switch (type) {
    case Backend.RowDescription:
      parseRowDescription(r);
      break;
    case Backend.ParameterDescription:
      parseParameterDescription(r);
      break;
    case Backend.ErrorResponse:
    case Backend.NoticeResponse:
      parseErrorFields(r);
      break;
    case Backend.NotificationResponse:
      parseNotification(r);
      break;
    default:
      while (r.pos < r.end) r.i32();
  }
}

Deno.test("random and corrupted bytes: a ProtocolError or a wait, never a crash or a hang", () => {
  const { bytes } = backendStream();
  const random = rng(3);
  let protocolErrors = 0;
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array;
    if (i % 2 === 0) {
      input = new Uint8Array(1 + Math.floor(random() * 300)).map(() =>
        random() * 256
      );
      if (random() < 0.5) input[0] = [0x44, 0x54, 0x45, 0x5a, 0x74][i % 5];
    } else {
      input = bytes.slice(0, Math.floor(random() * bytes.length));
      for (let k = 0; k < 1 + random() * 4; k++) {
        input[Math.floor(random() * input.length)] = random() * 256;
      }
    }
    const dec = new Decoder(64);
    try {
      dec.push(input);
      let type: number;
      let guard = 0;
      while ((type = dec.next()) !== -1) {
        assert.ok(++guard < 10000, "the decoder must make progress");
        try {
          parseAny(type, dec.buf.slice(dec.start, dec.end));
        } catch (error) {
          if (!(error instanceof ProtocolError)) throw error;
        }
      }
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      assert.match(error.message, /^Cannot decode a PostgreSQL/);
      protocolErrors++;
    }
    // A huge announced length allocates nothing like it.
    assert.ok(dec.buf.length <= 1 << 20, `buffer grew to ${dec.buf.length}`);
  }
  assert.ok(protocolErrors > 100, `only ${protocolErrors} protocol errors`);
});

Deno.test("a bad length or an unknown type is a ProtocolError", () => {
  const dec = new Decoder(64);
  dec.push(new Uint8Array([0x5a, 0, 0, 0, 2, 0x49]));
  assert.throws(
    () => dec.next(),
    (e: Error) => e instanceof ProtocolError && /bad length/.test(e.message),
  );
  const dec2 = new Decoder(64);
  dec2.push(new Uint8Array([0x01, 0, 0, 0, 4]));
  assert.throws(() => dec2.next(), /unknown message type, got byte 0x01/);
  const dec3 = new Decoder(64);
  dec3.push(new Uint8Array([0x44, 0x7f, 0xff, 0xff, 0xff]));
  assert.throws(() => dec3.next(), /bad length/);
});
