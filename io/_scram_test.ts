import {
  MAX_ITERATIONS,
  md5Hex,
  md5Password,
  ScramClient,
  ScramError,
} from "./_scram.ts";
import assert from "node:assert/strict";

const utf8 = new TextEncoder();
const text = new TextDecoder();

// RFC 7677, section 3.
const NONCE = "rOprNGfwEbeRWgbNEkqO";
const SERVER_FIRST =
  "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL =
  "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

Deno.test("ScramClient reproduces RFC 7677's SCRAM-SHA-256 exchange", async () => {
  const client = new ScramClient("pencil", NONCE, "user");
  assert.equal(text.decode(client.first()), `n,,n=user,r=${NONCE}`);
  assert.equal(
    text.decode(await client.final(utf8.encode(SERVER_FIRST))),
    CLIENT_FINAL,
  );
  assert.equal(client.verified, false);
  client.verify(utf8.encode(SERVER_FINAL));
  assert.equal(client.verified, true);
});

Deno.test("ScramClient refuses a forged server signature", async () => {
  const client = new ScramClient("pencil", NONCE, "user");
  await client.final(utf8.encode(SERVER_FIRST));
  assert.throws(
    () =>
      client.verify(
        utf8.encode("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
      ),
    (e: Error) =>
      e instanceof ScramError && /signature is wrong/.test(e.message),
  );
  assert.throws(
    () => client.verify(utf8.encode("e=invalid-proof")),
    /server reported invalid-proof/,
  );
  assert.throws(() => client.verify(utf8.encode("x=1")), /no signature/);
  assert.equal(client.verified, false);
});

Deno.test("ScramClient refuses a nonce that does not extend its own, and absurd iteration counts", async () => {
  const bad = [
    ["r=someoneElse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /does not extend/],
    [`r=${NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, /does not extend/],
    [
      `r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=${MAX_ITERATIONS + 1}`,
      /iteration count/,
    ],
    [`r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`, /iteration count/],
    [`r=${NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1e3`, /iteration count/],
    [`r=${NONCE}x,s=!!!,i=1`, /not base64/],
    [`r=${NONCE}x,i=1`, /lacks/],
  ] as const;
  for (const [message, error] of bad) {
    const client = new ScramClient("pencil", NONCE);
    const start = performance.now();
    await assert.rejects(client.final(utf8.encode(message)), error, message);
    assert.ok(performance.now() - start < 1000, "refused before hashing");
  }
});

Deno.test("ScramClient makes a fresh random nonce each time", () => {
  const a = text.decode(new ScramClient("pw").first());
  const b = text.decode(new ScramClient("pw").first());
  assert.match(a, /^n,,n=,r=[A-Za-z0-9+/=]{24}$/);
  assert.notEqual(a, b);
});

Deno.test("md5Hex and md5Password match known digests", () => {
  assert.equal(md5Hex(new Uint8Array()), "d41d8cd98f00b204e9800998ecf8427e");
  assert.equal(
    md5Hex(utf8.encode("The quick brown fox jumps over the lazy dog")),
    "9e107d9d372bb6826bd81d3542a419d6",
  );
  assert.equal(
    md5Hex(new Uint8Array(100).fill(97)),
    "36a92cc94a9e0fa21f625f8bfb007adf",
  );
  // PostgreSQL stores md5(password || user): "md5" + md5("pwuser").
  const inner = md5Hex(utf8.encode("pwuser"));
  const salt = new Uint8Array([1, 2, 3, 4]);
  const outer = new Uint8Array([...utf8.encode(inner), ...salt]);
  assert.equal(md5Password("user", "pw", salt), "md5" + md5Hex(outer));
});
