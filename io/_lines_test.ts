import assert from "node:assert/strict";
import {
  codePointOffset,
  countCodePoints,
  LineScanner,
  splitLines,
} from "./_lines.ts";

// Python's str.splitlines for \n, \r\n and \r only (what universal newlines
// split on), with the ends kept or not.
function expected(text: string, keepEnds: boolean): string[] {
  const lines: string[] = [];
  const re = /\r\n|\r|\n/g;
  let start = 0;
  for (let m; (m = re.exec(text)) !== null;) {
    lines.push(text.slice(start, keepEnds ? re.lastIndex : m.index));
    start = re.lastIndex;
  }
  if (start < text.length) lines.push(text.slice(start));
  return lines;
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) {
    chunks.push(bytes.subarray(i, i + size));
  }
  return chunks;
}

const cases: Record<string, string> = {
  "empty": "",
  "one line, no newline": "hello",
  "LF": "a\nb\nc\n",
  "CRLF": "a\r\nb\r\nc\r\n",
  "lone CR": "a\rb\rc\r",
  "mixed": "a\nb\r\nc\rd",
  "blank lines": "\n\n\r\n\r\r\n\n",
  "CR then LF lines": "\r\n\n\r\r\n",
  "CR at the very end": "abc\r",
  "last line without newline": "x\ny",
  "multi-byte UTF-8": "é\nü\r\n€\r😀😀\nßdone",
  "CJK with CRLF": "日本語\r\n中文\r\n한국어",
  "long line": "x".repeat(100) + "\r\n" + "y".repeat(37),
};

Deno.test("splitLines: every newline case, chunk sizes 1..17, keepEnds both ways", async (t) => {
  const encoder = new TextEncoder();
  for (const [name, text] of Object.entries(cases)) {
    await t.step(name, () => {
      const bytes = encoder.encode(text);
      for (const keepEnds of [false, true]) {
        const want = expected(text, keepEnds);
        for (let size = 1; size <= 17; size++) {
          const got = [...splitLines(chunked(bytes, size), { keepEnds })];
          assert.deepEqual(
            got,
            want,
            `chunk size ${size}, keepEnds ${keepEnds}`,
          );
        }
      }
    });
  }
});

Deno.test("splitLines: keepEnds lines join back to the input", () => {
  const text = Object.values(cases).join("|");
  const bytes = new TextEncoder().encode(text);
  for (let size = 1; size <= 17; size++) {
    const lines = [...splitLines(chunked(bytes, size), { keepEnds: true })];
    assert.equal(lines.join(""), text);
  }
});

Deno.test("splitLines: any TextDecoder encoding (UTF-16LE, Shift_JIS, latin1) split anywhere", () => {
  // UTF-16LE bytes by hand: each code unit, little end first.
  const text = "ab\r\nçé😀\rz\n";
  const utf16 = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    utf16[2 * i] = text.charCodeAt(i) & 0xff;
    utf16[2 * i + 1] = text.charCodeAt(i) >> 8;
  }
  // "日本\r\nA" in Shift_JIS.
  const sjis = new Uint8Array([0x93, 0xfa, 0x96, 0x7b, 0x0d, 0x0a, 0x41]);
  // "café\rx" in windows-1252.
  const latin1 = new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x78]);
  for (let size = 1; size <= 17; size++) {
    assert.deepEqual(
      [...splitLines(chunked(utf16, size), { encoding: "utf-16le" })],
      ["ab", "çé😀", "z"],
    );
    assert.deepEqual(
      [...splitLines(chunked(sjis, size), { encoding: "shift_jis" })],
      ["日本", "A"],
    );
    assert.deepEqual(
      [...splitLines(chunked(latin1, size), { encoding: "latin1" })],
      ["café", "x"],
    );
  }
});

Deno.test("LineScanner: a 100 MB line in 1 MiB chunks comes out whole", () => {
  const scanner = new LineScanner();
  const chunk = "x".repeat(1 << 20);
  const total = 100 * (1 << 20);
  for (let n = 0; n < total; n += chunk.length) {
    scanner.push(chunk);
    assert.equal(scanner.nextLine(false), undefined);
  }
  scanner.push("\r");
  assert.equal(scanner.nextLine(false), undefined); // a \n may follow
  scanner.push("\nnext");
  const line = scanner.nextLine(false)!;
  assert.equal(line.length, total);
  assert.equal(line.charCodeAt(total - 1), 0x78);
  scanner.end();
  assert.equal(scanner.nextLine(false), "next");
  assert.equal(scanner.nextLine(false), undefined);
});

Deno.test("LineScanner: take counts code points, unshift puts text back", () => {
  const scanner = new LineScanner();
  scanner.push("a😀b");
  scanner.push("\ncd");
  assert.equal(scanner.take(2), "a😀");
  scanner.unshift("a😀");
  assert.equal(scanner.nextLine(true), "a😀b\n");
  assert.equal(scanner.peekAll(), "cd");
  assert.equal(scanner.take(5), "cd");
  assert.equal(scanner.pending, false);
});

Deno.test("LineScanner: take reads across a held head and the current chunk", () => {
  const scanner = new LineScanner();
  scanner.push("abc");
  assert.equal(scanner.nextLine(false), undefined);
  scanner.push("def\r"); // "abc" moves to the head
  assert.equal(scanner.nextLine(false), undefined);
  scanner.push("gh");
  assert.equal(scanner.pendingLength, 9); // "abcdef\r" and "gh"
  assert.equal(scanner.take(4), "abcd");
  assert.equal(scanner.nextLine(true), "ef\r");
  assert.equal(scanner.takeAll(), "gh");
});

Deno.test("LineScanner: push after end is refused", () => {
  const scanner = new LineScanner();
  scanner.end();
  assert.throws(() => scanner.push("x"), TypeError);
  scanner.reset();
  scanner.push("x");
  assert.equal(scanner.peekAll(), "x");
});

Deno.test("code point helpers never split a surrogate pair", () => {
  assert.equal(codePointOffset("😀a", 0, 1), 2);
  assert.equal(codePointOffset("a😀", 0, 5), 3);
  assert.equal(countCodePoints("a😀b"), 3);
  assert.equal(countCodePoints("\ud800"), 1); // a lone surrogate counts once
});
