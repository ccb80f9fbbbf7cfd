import assert from "node:assert/strict";
import { LineSplitter, type ServerSentEvent, SSEParser } from "./_sse.ts";

function splitAll(text: string, size: number): string[] {
  const splitter = new LineSplitter();
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += size) {
    lines.push(...splitter.push(text.slice(i, i + size)));
  }
  const last = splitter.end();
  if (last !== undefined) lines.push(last);
  return lines;
}

Deno.test("LineSplitter: \\n, \\r\\n and lone \\r, at every chunk size", () => {
  const text = "a\nbb\r\nccc\rdddd\r\n\r\n\n\re";
  const expected = ["a", "bb", "ccc", "dddd", "", "", "", "e"];
  for (let size = 1; size <= text.length + 1; size++) {
    assert.deepEqual(splitAll(text, size), expected, `chunk size ${size}`);
  }
});

Deno.test("LineSplitter: no last line end, empty input, a trailing \\r", () => {
  assert.deepEqual(splitAll("x", 1), ["x"]);
  assert.deepEqual(splitAll("", 1), []);
  assert.deepEqual(splitAll("x\r", 1), ["x"]);
  assert.deepEqual(splitAll("x\r", 2), ["x"]);
});

function parseAll(text: string, size: number): ServerSentEvent[] {
  const parser = new SSEParser();
  const events: ServerSentEvent[] = [];
  for (const line of splitAll(text, size)) {
    const event = parser.line(line);
    if (event !== undefined) events.push(event);
  }
  return events;
}

Deno.test("SSEParser: the HTML standard's examples, at every chunk size", () => {
  const stream = "\ufeffdata: YHOO\ndata: +2\ndata: 10\n\n" +
    ": a comment\n\n" +
    "event: add\nid: 1\ndata:73857293\n\n" +
    "data\n\ndata:\ndata\n\n" +
    "retry: 5000\nid\ndata:  two spaces\r\n\r\n" +
    "data: dropped, no blank line";
  const expected: ServerSentEvent[] = [
    { event: "message", data: "YHOO\n+2\n10", id: "" },
    { event: "add", data: "73857293", id: "1" },
    { event: "message", data: "", id: "1" },
    { event: "message", data: "\n", id: "1" },
    { event: "message", data: " two spaces", id: "", retry: 5000 },
  ];
  for (let size = 1; size <= 17; size++) {
    assert.deepEqual(parseAll(stream, size), expected, `chunk size ${size}`);
  }
});

Deno.test("SSEParser: unknown fields and bad retry values are ignored", () => {
  assert.deepEqual(parseAll("foo: bar\nretry: 1x\ndata: d\n\n", 3), [
    { event: "message", data: "d", id: "" },
  ]);
});
