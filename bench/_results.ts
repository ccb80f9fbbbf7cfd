// Writes the comparison table to bench/results/latest.md and a bar chart of
// its ratios to bench/results/latest.svg: each row's ratio as a bar, its goal
// as a tick, green when met, red when missed, grey for context rows. A run
// of some areas (`deno task bench:compare core`) replaces those areas' rows
// in bench/results/latest.json and keeps the others', so the page always
// shows the latest figures of every area, each with its own conditions.
import type { Row } from "./_compare.ts";

/** The goal of a row as a number, and which side of it is good. */
export function targetOf(
  row: Row,
): { value: number; better: "lower" | "higher" } | undefined {
  if (row.target !== undefined) return row.target;
  const match = /([<>])=?\s*([\d.]+)\s*x/.exec(row.goal) ??
    /([<>])=?\s*([\d.]+)/.exec(row.goal);
  if (match === null) return undefined;
  return {
    value: Number(match[2]),
    better: match[1] === "<" ? "lower" : "higher",
  };
}

function cell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/** The figures of one area, as its last run left them. */
export interface AreaResult {
  /** When and where they were taken. */
  conditions: string;
  /** The rows. */
  rows: Row[];
}

/** The tables, one per area, as Markdown. */
export function markdown(areas: Record<string, AreaResult>): string {
  const lines = [
    "# bench:compare — latest figures",
    "",
    "Written by `deno task bench:compare` (a run of some areas updates",
    "those). Absolute times are not claims; ratios against anchors measured",
    "in the same run are. Each area says how loaded the machine was.",
    "Times given as `median (min–max)` come from `measure()` in",
    "bench/_compare.ts: contenders interleaved round-robin, garbage",
    "collected before each timed run.",
    "",
    "![ratios](latest.svg)",
  ];
  const all: Row[] = [];
  for (const [area, result] of Object.entries(areas)) {
    lines.push(
      "",
      `## ${area}`,
      "",
      result.conditions,
      "",
      "| benchmark | ours | anchor | ratio | goal | met |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const row of result.rows) {
      lines.push(
        `| ${cell(row.name)} | ${cell(row.ours)} | ${cell(row.anchor)} | ${
          row.ratio.toFixed(2)
        }x | ${cell(row.goal)} | ${
          row.met === undefined ? "-" : row.met ? "yes" : "**NO**"
        } |`,
      );
      all.push(row);
    }
  }
  const goals = all.filter((row) => row.met !== undefined);
  const met = goals.filter((row) => row.met).length;
  lines.push("", `${met} of ${goals.length} goals met.`, "");
  return lines.join("\n");
}

function xml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(
    />/g,
    "&gt;",
  ).replace(/"/g, "&quot;");
}

/**
 * A horizontal bar chart of the rows' ratios on a log scale (ratios span
 * 0.01x to 100x), with each goal as a black tick.
 */
export function svg(rows: Row[], header: string): string {
  const shown = rows.filter((row) =>
    Number.isFinite(row.ratio) && row.ratio > 0
  );
  const labelWidth = 560;
  const plotWidth = 420;
  const rowHeight = 22;
  const top = 48;
  const height = top + shown.length * rowHeight + 40;
  const width = labelWidth + plotWidth + 90;
  const values = shown.flatMap((row) => {
    const target = targetOf(row);
    return target === undefined ? [row.ratio] : [row.ratio, target.value];
  });
  const lo = Math.min(0.1, ...values.map((v) => v / 1.5));
  const hi = Math.max(10, ...values.map((v) => v * 1.5));
  const x = (v: number) =>
    labelWidth +
    (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) *
      plotWidth;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="8" y="18" font-size="14" font-weight="bold">bench:compare — ratios (log scale); tick = goal; green met, red missed, grey context</text>`,
    `<text x="8" y="36" fill="#555">${xml(header)}</text>`,
  ];
  for (const tick of [0.01, 0.1, 1, 10, 100, 1000]) {
    if (tick < lo || tick > hi) continue;
    const tx = x(tick).toFixed(1);
    out.push(
      `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${
        height - 30
      }" stroke="#ddd"/>`,
      `<text x="${tx}" y="${
        height - 16
      }" text-anchor="middle" fill="#555">${tick}x</text>`,
    );
  }
  shown.forEach((row, i) => {
    const y = top + i * rowHeight;
    const color = row.met === undefined
      ? "#9e9e9e"
      : row.met
      ? "#2e7d32"
      : "#c62828";
    const x0 = x(lo);
    const x1 = x(row.ratio);
    const label = row.name.length > 88 ? row.name.slice(0, 87) + "…" : row.name;
    out.push(
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${
        xml(label)
      }</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${
        Math.max(1, x1 - x0).toFixed(1)
      }" height="${rowHeight - 8}" fill="${color}"/>`,
      `<text x="${(x1 + 4).toFixed(1)}" y="${y + 15}">${
        row.ratio.toFixed(2)
      }x</text>`,
    );
    const target = targetOf(row);
    if (target !== undefined && target.value > 0) {
      const tx = x(target.value).toFixed(1);
      out.push(
        `<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${
          y + rowHeight - 1
        }" stroke="black" stroke-width="2"/>`,
      );
    }
  });
  out.push("</svg>", "");
  return out.join("\n");
}

/**
 * Records the areas just run in bench/results/latest.json (keeping the
 * other areas' last figures) and writes latest.md and latest.svg from it.
 *
 * @param ran The rows of each area just run.
 * @param header One line on the conditions (date, machine, load).
 * @returns The paths written.
 */
export function writeResults(
  ran: Record<string, Row[]>,
  header: string,
): string[] {
  const dir = new URL("./results/", import.meta.url);
  Deno.mkdirSync(dir, { recursive: true });
  const json = new URL("latest.json", dir);
  let areas: Record<string, AreaResult> = {};
  try {
    areas = JSON.parse(Deno.readTextFileSync(json)).areas ?? {};
  } catch {
    // First run, or an unreadable file: start afresh.
  }
  for (const [area, rows] of Object.entries(ran)) {
    areas[area] = { conditions: header, rows };
  }
  const sorted = Object.fromEntries(
    Object.entries(areas).sort(([a], [b]) => a.localeCompare(b)),
  );
  const md = new URL("latest.md", dir);
  const chart = new URL("latest.svg", dir);
  Deno.writeTextFileSync(
    json,
    JSON.stringify({ areas: sorted }, null, 1) + "\n",
  );
  Deno.writeTextFileSync(md, markdown(sorted));
  Deno.writeTextFileSync(
    chart,
    svg(
      Object.values(sorted).flatMap((result) => result.rows),
      `areas: ${
        Object.keys(sorted).join(", ")
      } — see latest.md for each one's conditions`,
    ),
  );
  return [md.pathname, chart.pathname];
}

/** One line on when and where the figures were taken. */
export function conditions(): string {
  let load = "";
  try {
    load = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
  } catch {
    load = "unknown";
  }
  return `${
    new Date().toISOString().slice(0, 16)
  }Z · Deno ${Deno.version.deno} · ${navigator.hardwareConcurrency} cores · load average ${load}`;
}
