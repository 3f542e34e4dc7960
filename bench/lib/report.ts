import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "@aitasks/testing";
import type { Machine } from "./machine.js";

/** One line of the table: our figure, the reference's, their ratio, and the goal it is held to. */
export interface Figure {
  metric: string;
  unit: string;
  ours: number | null;
  reference: number | null;
  /** ours / reference, as measured in this run (null where there is no reference figure). */
  ratio: number | null;
  goal: string;
  /** null: reported, no goal. */
  met: boolean | null;
  note?: string;
}

export interface ScenarioResult {
  name: string;
  seconds: number;
  figures: Figure[];
  /** Every correctness check passed (all tasks completed once, ledger exact, no errors). */
  correct: boolean;
  checks: string[];
  error?: string;
  raw: unknown;
}

export const ratio = (ours: number | null, reference: number | null) =>
  ours === null || reference === null || reference === 0 ? null : ours / reference;

/**
 * Informational lines: CPU time per request (or task) of each process, ours and the reference's,
 * medians of the runs. Noise-resistant where throughput is not, they show where our overhead is.
 */
export function cpuFigures(
  runs: { ours: { cpuUs: Record<string, number> }[]; reference: { cpuUs: Record<string, number> }[] },
  per = "request",
): Figure[] {
  const names = Object.keys(runs.ours[0]?.cpuUs ?? {});
  const mid = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  return names.map((name) => {
    const ours = mid(runs.ours.map((run) => run.cpuUs[name]!));
    const reference = mid(runs.reference.map((run) => run.cpuUs[name]!));
    const label = name === "postgres" ? "Postgres" : name === "api" ? "API" : name;
    return {
      metric: `${label} CPU per ${per}`,
      unit: "µs",
      ours,
      reference,
      ratio: ratio(ours, reference),
      goal: "–",
      met: null,
    };
  });
}

function format(value: number | null, unit = ""): string {
  if (value === null || Number.isNaN(value)) return "–";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)}${unit ? ` ${unit}` : ""}`;
}

function verdict(result: ScenarioResult, figure: Figure): string {
  if (!result.correct) return "FAIL (wrong results)";
  if (figure.met === null) return "–";
  return figure.met ? "met" : "MISSED";
}

/** The results as a Markdown table: readable on a terminal, pasted as is into docs/performance.md. */
export function renderTable(results: ScenarioResult[]): string {
  const header = ["scenario", "metric", "ours", "reference", "ratio", "goal", "verdict"];
  const rows: string[][] = [];
  for (const result of results) {
    if (result.error) {
      rows.push([result.name, "(did not finish)", "–", "–", "–", "–", `FAIL: ${result.error.split("\n")[0]}`]);
      continue;
    }
    for (const figure of result.figures) {
      rows.push([
        result.name,
        figure.metric,
        format(figure.ours, figure.unit),
        format(figure.reference, figure.unit),
        figure.ratio === null ? "–" : figure.ratio.toFixed(2),
        figure.goal,
        verdict(result, figure),
      ]);
    }
  }
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`, ...rows.map(line)].join("\n");
}

export function writeResults(payload: {
  mode: "full" | "quick";
  machine: Machine & { loadAverageAtEnd?: number[] };
  startedAt: Date;
  finishedAt: Date;
  results: ScenarioResult[];
}): string {
  const directory = join(repoRoot, "bench", "results");
  mkdirSync(directory, { recursive: true });
  const file = join(directory, `${payload.startedAt.toISOString().replace(/[:.]/g, "-")}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ ...payload, seconds: (payload.finishedAt.getTime() - payload.startedAt.getTime()) / 1000 }, null, 2)}\n`,
  );
  return file;
}
