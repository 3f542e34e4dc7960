// `npm run lint` (and CI) runs this: the repository's import boundaries, checked from the sources.
// It fails on
// - an import cycle between files (type-only imports included: they are cycles for a reader too);
// - an app importing another app, or a package importing an app;
// - tests/, bench/ or scripts/ reaching into an app's sources instead of its declared exports
//   (`@aitasks/api/testing`) or its processes, and bench/ importing tests/;
// - a workspace importing a workspace package it does not declare in its package.json
//   (`dependencies`; `devDependencies` will do for test files, and for type-only imports, which
//   compiling erases: packages/client is published with those types written out).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SCANNED = ["apps", "packages", "tests", "bench", "scripts"];
const SKIPPED = new Set(["node_modules", "dist", "results", "migrations"]);

/** Every workspace: its name, folder, declared workspace dependencies and exports. */
const workspaces = new Map();
for (const group of ["apps", "packages"]) {
  for (const name of readdirSync(join(root, group))) {
    const folder = join(root, group, name);
    const manifestPath = join(folder, "package.json");
    if (!existsSync(manifestPath)) continue;
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
    const exportsField = manifest.exports ?? { ".": "./src/index.ts" };
    workspaces.set(manifest.name, {
      folder,
      kind: group === "apps" ? "app" : "package",
      dependencies: new Set(Object.keys(manifest.dependencies ?? {})),
      devDependencies: new Set(Object.keys(manifest.devDependencies ?? {})),
      exports: typeof exportsField === "string" ? { ".": exportsField } : exportsField,
    });
  }
}

function* sourceFiles(folder) {
  for (const entry of readdirSync(folder)) {
    if (SKIPPED.has(entry)) continue;
    const path = join(folder, entry);
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (/\.(ts|mjs)$/.test(entry) && !entry.endsWith(".d.ts")) yield path;
  }
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[\w*{}\s,$]+\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function resolveFile(path) {
  for (const candidate of [
    path,
    path.replace(/\.js$/, ".ts"),
    path.replace(/\.mjs$/, ".mts"),
    `${path}.ts`,
    join(path, "index.ts"),
  ]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** The file an import names, and the workspace package it goes through, if any. */
function resolveImport(from, specifier) {
  if (specifier.startsWith(".")) return { file: resolveFile(resolve(dirname(from), specifier)) };
  const match = /^(@aitasks\/[^/]+)(\/.*)?$/.exec(specifier);
  if (!match) return {};
  const workspace = workspaces.get(match[1]);
  if (!workspace) return { problem: `imports ${specifier}, which is no workspace` };
  const exported = workspace.exports[match[2] ? `.${match[2]}` : "."];
  // A package built for npm exports its sources to the workspace under a condition of its own.
  const target = typeof exported === "object" ? exported?.["@aitasks/source"] : exported;
  if (!target) return { problem: `imports ${specifier}, which ${match[1]} does not export` };
  return { file: resolveFile(join(workspace.folder, target)), workspaceName: match[1] };
}

/** Where a file lives: the workspace (app or package) it belongs to, or tests/bench/scripts. */
function areaOf(file) {
  for (const [name, workspace] of workspaces) {
    if (file.startsWith(workspace.folder + sep)) return { name, ...workspace };
  }
  return { name: relative(root, file).split(sep)[0], kind: "outside" };
}

const isTestFile = (file) => /\.test\.ts$/.test(file) || file.includes(`${sep}src${sep}testing${sep}`);
const problems = [];
const graph = new Map();

for (const top of SCANNED) {
  for (const file of sourceFiles(join(root, top))) {
    const text = readFileSync(file, "utf8");
    const from = areaOf(file);
    const edges = [];
    for (const [, typeOnly, staticSpecifier, dynamicSpecifier] of text.matchAll(IMPORT)) {
      const specifier = staticSpecifier ?? dynamicSpecifier;
      const { file: target, workspaceName, problem } = resolveImport(file, specifier);
      const where = relative(root, file);
      if (problem) problems.push(`${where} ${problem}`);
      if (!target) continue;
      edges.push(target);
      const to = areaOf(target);
      if (to.kind === "app" && to.name !== from.name) {
        if (from.kind === "app")
          problems.push(`${where}: the app ${from.name} imports the app ${to.name} (${specifier})`);
        else if (from.kind === "package")
          problems.push(`${where}: a package imports the app ${to.name} (${specifier})`);
        else if (!workspaceName)
          problems.push(`${where}: reaches into ${to.name}'s sources (${specifier}); import what it exports`);
      }
      if (from.name === "bench" && to.name === "tests") problems.push(`${where}: bench imports tests/ (${specifier})`);
      if (workspaceName && from.kind !== "outside" && workspaceName !== from.name) {
        const declared =
          from.dependencies.has(workspaceName) ||
          ((isTestFile(file) || typeOnly) && from.devDependencies.has(workspaceName));
        if (!declared)
          problems.push(`${where}: imports ${workspaceName}, which ${from.name}'s package.json does not declare`);
      }
    }
    graph.set(file, edges);
  }
}

// Cycles: a depth-first walk; a file met again while still on the path closes a cycle.
const state = new Map();
const path = [];
const cycles = new Set();
function walk(file) {
  state.set(file, "open");
  path.push(file);
  for (const next of graph.get(file) ?? []) {
    if (state.get(next) === "open") {
      const cycle = path.slice(path.indexOf(next)).map((f) => relative(root, f));
      cycles.add(`import cycle: ${[...cycle, cycle[0]].join(" → ")}`);
    } else if (!state.has(next)) walk(next);
  }
  path.pop();
  state.set(file, "done");
}
for (const file of graph.keys()) if (!state.has(file)) walk(file);
problems.push(...cycles);

if (problems.length > 0) {
  console.error(`Import boundaries: ${problems.length} problem(s)\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`Import boundaries: ${graph.size} files, no cycle, no import across apps, every workspace import declared`);
