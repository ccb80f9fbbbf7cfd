// Every built-in codec round-trips through a real server, in binary (the
// parameter is sent in binary, the result read in binary) and in text (the
// server's text output read by our text decoder, our text output read by the
// server). Plus pure tests of the array literal parser and the registry.
import { connect } from "./postgres.ts";
import { OID, parseArrayText, TypeRegistry } from "./_postgres_types.ts";
import { pgAvailable, startPostgres } from "../testing/postgres.ts";
import assert from "node:assert/strict";

const ready = await pgAvailable();
const ignore = !ready;
const pg = ready ? await startPostgres() : undefined;

const MB = 1 << 20;
const bigText = "é".repeat(MB / 2); // 1 MB of UTF-8
const bigBytes = new Uint8Array(MB).map((_, i) => (i * 7) & 255);

// [type, value, what comes back (when not the value itself)]
const cases: [string, unknown, unknown?][] = [
  ["bool", true],
  ["bool", false],
  ["int2", -32768],
  ["int2", 32767],
  ["int4", -2147483648],
  ["int4", 2147483647],
  ["int8", -9223372036854775808n],
  ["int8", 9223372036854775807n],
  ["int8", 42, 42n],
  ["oid", 4294967295],
  ["float4", 1.5],
  ["float8", Math.PI],
  ["float8", -0],
  ["float8", Infinity],
  ["float8", NaN],
  ["numeric", "12345678901234567890.123456789012345678901234567890"],
  ["numeric", "-0.000000000000000000000000000001"],
  ["numeric", "NaN"],
  ["text", ""],
  ["text", "héllo wörld ✓ 🐘 \u0000".slice(0, -1)],
  ["text", bigText],
  ["varchar", "v"],
  ["bpchar", "c"],
  ["name", "a_name"],
  ["char", "x"],
  ["bytea", new Uint8Array([0, 1, 2, 255])],
  ["bytea", new Uint8Array(0)],
  ["bytea", bigBytes],
  ["json", { a: [1, "two", null, true], b: { c: 1.5 } }],
  ["jsonb", { z: 1, a: "ünï" }],
  ["json", [1, 2, 3]],
  ["uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"],
  ["date", new Date("2024-02-29T00:00:00Z")],
  ["date", new Date("1900-01-01T00:00:00Z")],
  ["date", Infinity],
  ["date", -Infinity],
  ["timestamp", new Date("2024-05-06T07:08:09.123Z")],
  ["timestamp", new Date("1970-01-01T00:00:00.000Z")],
  ["timestamptz", new Date("2024-05-06T07:08:09.123Z")],
  ["timestamptz", new Date("1601-01-01T00:00:00.000Z")],
  ["timestamptz", Infinity],
  ["timestamptz", -Infinity],
  ["time", "12:34:56.789"],
  ["interval", "1 year 2 mons 3 days 04:05:06"],
  ["int4[]", [1, null, 3]],
  ["int4[]", []],
  ["int4[]", [[1, 2], [3, 4]]],
  ["int4[]", [[[1], [2]], [[3], [null]]]],
  ["int8[]", [1n, -9223372036854775808n]],
  ["text[]", [
    "a",
    "",
    "with space",
    'quo"te',
    "back\\slash",
    "NULL",
    null,
    "{br}",
    "ü,",
  ]],
  ["text[]", [["a", "b"], ["c", "d"]]],
  ["bool[]", [true, false, null]],
  ["float8[]", [1.5, -2.25]],
  ["bytea[]", [new Uint8Array([1, 2]), null]],
  ["numeric[]", ["1.10", "2", null]],
  ["uuid[]", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]],
  ["jsonb[]", [{ a: 1 }, { b: [2, "x"] }, null]],
  ["date[]", [new Date("2020-01-01T00:00:00Z"), null]],
  ["timestamptz[]", [new Date("2020-01-01T12:00:00.5Z")]],
  ["varchar[]", ["x", "y"]],
];

function label(type: string, value: unknown): string {
  const text = value instanceof Uint8Array
    ? `bytes(${value.length})`
    : typeof value === "string" && value.length > 40
    ? `text(${value.length})`
    : typeof value === "bigint"
    ? `${value}n`
    : value instanceof Date
    ? value.toISOString()
    : JSON.stringify(value, (_k, v) => typeof v === "bigint" ? `${v}n` : v) ??
      String(value);
  return `${type} ${text}`;
}

Deno.test({
  name: "every type round-trips in binary: parameter → server → result",
  ignore,
}, async (t) => {
  await using conn = await connect(pg!.url);
  for (const [type, value, expected] of cases) {
    await t.step(label(type, value), async () => {
      const got = await conn.fetchval(`SELECT $1::${type}`, [value]);
      assert.deepEqual(got, expected ?? value);
      assert.equal(
        await conn.fetchval(`SELECT $1::${type} IS NULL`, [null]),
        true,
      );
    });
  }
});

Deno.test({
  name: "every type round-trips in text: our text ↔ the server's text",
  ignore,
}, async (t) => {
  await using conn = await connect(pg!.url);
  const registry = new TypeRegistry();
  const oids = new Map<string, number>();
  for (const [type, value, expected] of cases) {
    await t.step(label(type, value), async () => {
      let oid = oids.get(type);
      if (oid === undefined) {
        oid = await conn.fetchval<number>("SELECT $1::text::regtype::oid", [
          type,
        ]);
        oids.set(type, oid);
      }
      const codec = registry.get(oid)!;
      // The server's text output, read by our text decoder.
      const serverText = await conn.fetchval<string>(
        `SELECT $1::${type}::text`,
        [value],
      );
      assert.deepEqual(codec.decodeText(serverText), expected ?? value);
      // Our text output, read by the server (a string goes in text format).
      const ours = codec.encodeText(value);
      assert.equal(
        await conn.fetchval(`SELECT $1::${type}::text = $2::${type}::text`, [
          ours,
          value,
        ]),
        true,
      );
    });
  }
});

Deno.test({
  name: "timestamptz is the same instant in every session time zone",
  ignore,
}, async () => {
  await using conn = await connect(pg!.url);
  const instant = new Date("2024-03-10T10:30:00.250Z");
  const registry = new TypeRegistry();
  for (
    const zone of ["UTC", "Asia/Kolkata", "America/St_Johns", "Pacific/Chatham"]
  ) {
    await conn.execute(`SET TimeZone = '${zone}'`);
    assert.deepEqual(
      await conn.fetchval("SELECT $1::timestamptz", [instant]),
      instant,
    );
    const text = await conn.fetchval<string>("SELECT $1::timestamptz::text", [
      instant,
    ]);
    assert.deepEqual(
      registry.get(OID.timestamptz)!.decodeText(text),
      instant,
      `${zone}: ${text}`,
    );
  }
});

Deno.test({
  name: "a value the type cannot take is refused before it is sent",
  ignore,
}, async () => {
  await using conn = await connect(pg!.url);
  for (
    const [type, value, message] of [
      ["int4", "abc", /expected an integer/],
      ["int4", 1.5, /non-integer/],
      ["int8", 2n ** 63n, /int8's range/],
      ["float8", {}, /expected a number/],
      ["bytea", "not bytes" as unknown, /./],
      ["uuid", "1234", /32 hexadecimal digits/],
      ["date", new Date(NaN), /Invalid Date/],
      ["int4[]", [[1], [2, 3]], /rectangular/],
      ["int4[]", 5, /expected an array/],
    ] as [string, unknown, RegExp][]
  ) {
    if (type === "bytea") continue; // a string is bytea's text form
    await assert.rejects(
      conn.fetchval(`SELECT $1::${type}`, [value]),
      (error: Error) =>
        error instanceof TypeError && message.test(error.message),
      `${type}`,
    );
  }
  assert.equal(await conn.fetchval("SELECT 1"), 1);
});

Deno.test("parseArrayText reads quoting, NULLs, nesting and explicit bounds", () => {
  const id = (s: string) => s;
  assert.deepEqual(parseArrayText("{}", id), []);
  assert.deepEqual(parseArrayText('{a,"b c",NULL,"NULL","q\\"x"}', id), [
    "a",
    "b c",
    null,
    "NULL",
    'q"x',
  ]);
  assert.deepEqual(parseArrayText("{{1,2},{3,4}}", Number), [[1, 2], [3, 4]]);
  assert.deepEqual(parseArrayText("[0:1]={7,8}", Number), [7, 8]);
  assert.throws(() => parseArrayText("{1,2", id), SyntaxError);
  assert.throws(() => parseArrayText("nope", id), SyntaxError);
});

Deno.test("TypeRegistry: unknown types read as text; user codecs override built-ins", () => {
  const registry = new TypeRegistry();
  const col = registry.column(999999);
  assert.equal(col.format, 0);
  const bytes = new TextEncoder().encode("raw");
  assert.equal(col.decode(bytes, new DataView(bytes.buffer), 0, 3), "raw");
  registry.set("numeric", OID.numeric, { decode: (s) => Number(s) }, 1231);
  const num = registry.column(OID.numeric);
  const two = new TextEncoder().encode("2.5");
  assert.equal(num.decode(two, new DataView(two.buffer), 0, 3), 2.5);
  assert.deepEqual(registry.get(1231)!.decodeText("{1.5,NULL}"), [1.5, null]);
});
