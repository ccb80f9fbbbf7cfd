// The lint plugin over the project itself: the examples and the README's code
// blocks are what users copy, so they must be clean; a planted bad example
// must be flagged by every rule.
import plugin from "./plugin.ts";
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

function describe(source: string, diagnostics: Deno.lint.Diagnostic[]) {
  return diagnostics.map((d) => {
    const line = source.slice(0, d.range[0]).split("\n").length;
    return `line ${line}: ${d.id}: ${d.message}`;
  });
}

Deno.test("the lint plugin finds nothing in examples/", async () => {
  const dir = new URL("examples/", root);
  const files = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(entry.name);
  }
  assert.ok(files.length > 0);
  for (const name of files.sort()) {
    const source = await Deno.readTextFile(new URL(name, dir));
    const found = Deno.lint.runPlugin(plugin, name, source);
    assert.deepEqual(describe(source, found), [], `examples/${name}`);
  }
});

Deno.test("the lint plugin finds nothing in the README's code blocks", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", root));
  const blocks = [...readme.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```/gm)]
    .map((match) => match[1]);
  assert.ok(blocks.length > 0);
  for (const [i, source] of blocks.entries()) {
    const found = Deno.lint.runPlugin(plugin, `readme_${i}.ts`, source);
    assert.deepEqual(describe(source, found), [], `README block ${i + 1}`);
  }
});

Deno.test("the lint plugin flags every pitfall of the planted bad example", async () => {
  const source = await Deno.readTextFile(
    new URL("lint/testdata/bad_example.ts", root),
  );
  const found = Deno.lint.runPlugin(plugin, "bad_example.ts", source);
  assert.deepEqual([...new Set(found.map((d) => d.id))].sort(), [
    "aio/no-blocking-in-async",
    "aio/no-floating-promise",
    "aio/no-orphan-task",
    "aio/no-swallowed-cancel",
    "aio/require-dispose",
  ]);
  assert.equal(found.length, 5, describe(source, found).join("\n"));
});
