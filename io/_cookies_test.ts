import assert from "node:assert/strict";
import { CookieJar } from "./_cookies.ts";

const NOW = Date.UTC(2026, 0, 1);

function jarWith(url: string, ...headers: string[]): CookieJar {
  const jar = new CookieJar();
  jar.store(new URL(url), headers, NOW);
  return jar;
}

Deno.test("host-only cookies go back to the same host only", () => {
  const jar = jarWith("http://example.com/", "a=1");
  assert.equal(jar.header(new URL("http://example.com/x"), NOW), "a=1");
  assert.equal(jar.header(new URL("http://www.example.com/"), NOW), undefined);
  assert.equal(jar.header(new URL("http://other.com/"), NOW), undefined);
});

Deno.test("domain cookies go to the domain and its subdomains, not to other sites", () => {
  const jar = jarWith("http://www.example.com/", "a=1; Domain=.example.com");
  assert.equal(jar.header(new URL("http://example.com/"), NOW), "a=1");
  assert.equal(jar.header(new URL("http://api.example.com/"), NOW), "a=1");
  assert.equal(jar.header(new URL("http://badexample.com/"), NOW), undefined);
});

Deno.test("a Domain the host is not inside, or a bare label, is refused", () => {
  assert.equal(jarWith("http://example.com/", "a=1; Domain=other.com").size, 0);
  assert.equal(jarWith("http://example.com/", "a=1; Domain=com").size, 0);
  assert.equal(
    jarWith("http://a.example.com/", "a=1; Domain=b.example.com").size,
    0,
  );
  assert.equal(jarWith("http://127.0.0.1/", "a=1; Domain=0.0.1").size, 0);
});

Deno.test("paths: the default path is the request's directory; /a does not match /ab", () => {
  const jar = jarWith(
    "http://h.test/docs/page",
    "dir=1",
    "root=1; Path=/",
    "a=1; Path=/a",
  );
  const at = (path: string) => jar.header(new URL(`http://h.test${path}`), NOW);
  assert.equal(at("/docs/other"), "dir=1; root=1");
  assert.equal(at("/docs"), "dir=1; root=1");
  assert.equal(at("/documents"), "root=1");
  assert.equal(at("/a/b"), "a=1; root=1");
  assert.equal(at("/ab"), "root=1");
});

Deno.test("Secure cookies: set and sent over https only", () => {
  assert.equal(jarWith("http://h.test/", "s=1; Secure").size, 0);
  const jar = jarWith("https://h.test/", "s=1; Secure");
  assert.equal(jar.header(new URL("https://h.test/"), NOW), "s=1");
  assert.equal(jar.header(new URL("http://h.test/"), NOW), undefined);
});

Deno.test("expiry: Max-Age wins over Expires; Max-Age=0 and past dates delete", () => {
  const jar = jarWith(
    "http://h.test/",
    "short=1; Max-Age=60; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    "session=1",
    "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
  );
  const url = new URL("http://h.test/");
  assert.equal(jar.header(url, NOW), "short=1; session=1");
  assert.equal(jar.header(url, NOW + 61_000), "session=1");
  jar.store(url, ["session=1; Max-Age=0"], NOW);
  assert.equal(jar.header(url, NOW), undefined);
});

Deno.test("a cookie set again replaces the old value and keeps its place", () => {
  const jar = jarWith("http://h.test/", "a=1", "b=2");
  jar.store(new URL("http://h.test/"), ["a=3"], NOW);
  assert.equal(jar.header(new URL("http://h.test/"), NOW), "a=3; b=2");
});

Deno.test("malformed Set-Cookie values are ignored", () => {
  assert.equal(jarWith("http://h.test/", "novalue", "=x", "").size, 0);
});
