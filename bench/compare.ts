// `deno task bench:compare`: runs our code and its anchors (npm peers,
// Python's asyncio) in one run and prints a table of ratios. Absolute times
// are not claims; the ratios against anchors measured in the same run are.
//
// Each area adds a `bench/compare_<area>.ts` module that exports
// `export async function rows(): Promise<Row[]>`; this script runs them all,
// or only those named on the command line (`deno task bench:compare core`).
import { progress, type Row } from "./_compare.ts";
import { conditions, writeResults } from "./_results.ts";

const only = new Set(Deno.args);
const modules = [...Deno.readDirSync(new URL(".", import.meta.url))]
  .map((entry) => entry.name)
  .filter((name) => /^compare_[a-z0-9_]+\.ts$/.test(name))
  .filter((name) =>
    only.size === 0 || only.has(name.slice("compare_".length, -3))
  )
  .sort();

const all: Row[] = [];
const byArea: Record<string, Row[]> = {};
for (const [i, name] of modules.entries()) {
  // Progress on stderr: a full run takes minutes on a loaded machine.
  const area = name.slice("compare_".length, -3);
  progress(`[${i + 1}/${modules.length}] ${area} `);
  const started = performance.now();
  const module = await import(new URL(name, import.meta.url).href);
  const rows: Row[] = await module.rows();
  all.push(...rows);
  byArea[area] = rows;
  progress(
    ` ${rows.length} rows in ${
      ((performance.now() - started) / 1000).toFixed(1)
    } s\n`,
  );
}

const table = all.map((row) => ({
  benchmark: row.name,
  ours: row.ours,
  anchor: row.anchor,
  ratio: row.ratio.toFixed(2) + "x",
  goal: row.goal,
  met: row.met === undefined ? "-" : row.met ? "yes" : "NO",
}));
console.table(table);
const goals = all.filter((row) => row.met !== undefined);
const missed = goals.filter((row) => !row.met);
console.log(
  `${goals.length - missed.length} of ${goals.length} goals met` +
    (missed.length > 0
      ? `; missed: ${missed.map((r) => r.name).join(", ")}`
      : ""),
);
const written = writeResults(byArea, conditions());
console.log(`Wrote ${written.join(" and ")}`);
