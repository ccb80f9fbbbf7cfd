// `deno task test`: every check the project promises, in one run, ending
// with the line CI reads: `N passed, N failed`.
//
// Each static check (fmt, lint, type check, doc lint, publish dry run) counts
// as one case; the unit and doc tests count case by case, as Deno reports
// them.

const deno = Deno.execPath();
const config = JSON.parse(await Deno.readTextFile("deno.json"));
const entryPoints = Object.values(config.exports as Record<string, string>);

// Every source file of the package (doc examples live in private files too).
const sources: string[] = ["mod.ts"];
for (const dir of ["async", "sync", "io", "testing", "lint"]) {
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
        sources.push(`${dir}/${entry.name}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
sources.sort();

let passed = 0;
let failed = 0;
const failures: string[] = [];

async function step(
  name: string,
  args: string[],
  counts = false,
): Promise<void> {
  console.log(`\n=== ${name}: deno ${args.join(" ")}`);
  const child = new Deno.Command(deno, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  // Echo output as it comes, and keep it to read the summary.
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (
    stream: ReadableStream<Uint8Array>,
    out: typeof Deno.stdout,
  ) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      await out.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  if (counts) {
    // Deno prints `ok | 12 passed (3 steps) | 0 failed` or `FAILED | …`.
    const match = [...text.matchAll(/\| (\d+) passed[^|]*\| (\d+) failed/g)]
      .at(-1);
    if (match !== undefined) {
      passed += Number(match[1]);
      failed += Number(match[2]);
      if (Number(match[2]) > 0 || !status.success) failures.push(name);
      if (!status.success && Number(match[2]) === 0) failed++;
      return;
    }
  }
  if (status.success) passed++;
  else {
    failed++;
    failures.push(name);
  }
}

await step("format", ["fmt", "--check"]);
await step("lint", ["lint"]);
await step("type check", ["check", "."]);
await step("doc lint", ["doc", "--lint", ...entryPoints]);
await step("unit tests", [
  "test",
  "-A",
  "--v8-flags=--expose-gc",
  "--parallel",
], true);
await step("doc tests", ["test", "-A", "--doc", "README.md", ...sources], true);
await step("publish dry run", ["publish", "--dry-run", "--allow-dirty"]);

if (failures.length > 0) console.log(`\nFailed: ${failures.join(", ")}`);
console.log(`${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
