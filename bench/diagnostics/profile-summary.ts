// Where each process's CPU went, by package, ours beside the reference's:
// `node --import tsx bench/diagnostics/profile-summary.ts [bench/results/profiles/<run>]` after
// `npm run bench -- --profile` (the latest run's profiles by default).
//
// Each sample goes to the innermost frame on its stack that belongs to a package, so the socket
// writes Fastify asks for count as Fastify's and those postgres.js asks for as postgres.js's. Our
// bundles count as "ours", the reference's scripts as "reference code"; samples with no package on
// the stack keep their own name (the garbage collector, microtask runs).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "@aitasks/testing";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function componentOf(url: string): string | undefined {
  const dependency = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (dependency) return dependency[1];
  if (url.includes("/dist/")) return "ours";
  if (url.includes("/bench/results/reference/")) return "reference code";
  if (url.includes("internal/deps/undici")) return "undici (Node's fetch)";
  return undefined;
}

/** CPU microseconds by component, summed over the profiles in `directory`. */
function cpuByComponent(directory: string): Map<string, number> {
  const totals = new Map<string, number>();
  for (const file of readdirSync(directory).filter((name) => name.endsWith(".cpuprofile"))) {
    const profile = JSON.parse(readFileSync(join(directory, file), "utf8")) as Profile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const parentOf = new Map<number, ProfileNode>();
    for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
    const componentOfNode = new Map<number, string>();
    const resolve = (node: ProfileNode): string => {
      const known = componentOfNode.get(node.id);
      if (known) return known;
      const parent = parentOf.get(node.id);
      const component =
        componentOf(node.callFrame.url) ??
        (parent && parent.callFrame.functionName !== "(root)" ? resolve(parent) : undefined) ??
        (node.callFrame.functionName || "(anonymous)");
      componentOfNode.set(node.id, component);
      return component;
    };
    profile.samples.forEach((id, index) => {
      const node = byId.get(id)!;
      if (node.callFrame.functionName === "(idle)") return;
      const component = resolve(node);
      totals.set(component, (totals.get(component) ?? 0) + (profile.timeDeltas[index] ?? 0));
    });
  }
  return totals;
}

const profilesRoot = join(repoRoot, "bench", "results", "profiles");
const run = process.argv[2] ?? join(profilesRoot, readdirSync(profilesRoot).sort().at(-1) ?? "");
const processes = readdirSync(run, { withFileTypes: true }).filter((entry) => entry.isDirectory());

for (const role of ["api", "worker"]) {
  // ours, reference, and the scaling scenario's reference-openai-sdk.
  const sides = processes
    .filter((entry) => entry.name.endsWith(`-${role}`))
    .map((entry) => entry.name.slice(0, -role.length - 1))
    .sort((a, b) => (a === "ours" ? -1 : b === "ours" ? 1 : a.localeCompare(b)));
  if (sides.length === 0) continue;
  const totals = Object.fromEntries(sides.map((side) => [side, cpuByComponent(join(run, `${side}-${role}`))]));
  const busy = Object.fromEntries(
    sides.map((side) => [side, [...totals[side]!.values()].reduce((sum, value) => sum + value, 0)]),
  );
  const components = [...new Set(sides.flatMap((side) => [...totals[side]!.keys()]))]
    .map((component) => ({ component, ours: totals.ours?.get(component) ?? 0 }))
    .sort((a, b) => b.ours - a.ours || a.component.localeCompare(b.component))
    .map(({ component }) => component);

  console.log(`\n${role}: share of busy CPU (${sides.map((s) => `${s} ${(busy[s]! / 1e6).toFixed(1)} s`).join(", ")})`);
  const width = Math.max(11, ...sides.map((side) => side.length + 2));
  console.log(`  ${"component".padEnd(28)}${sides.map((side) => side.padStart(width)).join("")}`);
  for (const component of components) {
    const shares = sides.map((side) => (totals[side]!.get(component) ?? 0) / busy[side]!);
    if (Math.max(...shares) < 0.005) continue;
    console.log(
      `  ${component.padEnd(28)}${shares.map((share) => `${(share * 100).toFixed(1)}%`.padStart(width)).join("")}`,
    );
  }
}
