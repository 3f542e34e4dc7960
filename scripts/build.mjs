// `npm run build`: bundles the API and the worker into dist/, one ES module each, our workspace
// packages inlined and every dependency left as an import from node_modules. The processes then
// run on plain Node: the tsx loader costs each process about 40-50 MB of resident memory (its ESM
// hooks run on a thread of their own), measured at rest: worker 154 → 102 MB, API 166 → 127 MB.
// Files whose content did not change are not rewritten, so a build while processes start from
// dist/ (the end-to-end tests, `npm start` twice) never lets one read a half-written file.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "dist");
const { dependencies } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));

function writeIfChanged(path, contents) {
  try {
    if (Buffer.compare(readFileSync(path), contents) === 0) return;
  } catch {
    // Not there yet.
  }
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, contents);
  renameSync(temporary, path);
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { "api/main": "apps/api/src/main.ts", "worker/main": "apps/worker/src/main.ts" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outdir: out,
  outExtension: { ".js": ".mjs" },
  external: Object.keys(dependencies),
  // Stack traces name dist/ lines; NODE_OPTIONS=--enable-source-maps maps them to the sources.
  sourcemap: "linked",
  write: false,
  logLevel: "warning",
});
for (const file of result.outputFiles) writeIfChanged(file.path, file.contents);

// The migrations, where packages/db/src/migrate.ts looks for them from dist/<app>/main.mjs.
const migrations = join(root, "packages/db/migrations");
const copy = (from, to) => {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    if (statSync(source).isDirectory()) copy(source, join(to, name));
    else writeIfChanged(join(to, name), readFileSync(source));
  }
};
copy(migrations, join(out, "migrations"));

// The dashboard's browser assets (apps/api/src/dashboard/routes/assets.ts serves them): its stylesheet,
// and its charts script with Chart.js bundled in, so no page loads anything from another origin.
const dashboard = await build({
  absWorkingDir: root,
  entryPoints: { charts: "apps/api/src/dashboard/client/charts.ts" },
  bundle: true,
  platform: "browser",
  format: "iife",
  target: "es2022",
  minify: true,
  outdir: join(out, "dashboard/assets"),
  write: false,
  logLevel: "warning",
});
for (const file of dashboard.outputFiles) writeIfChanged(file.path, file.contents);
copy(join(root, "apps/api/src/dashboard/assets"), join(out, "dashboard/assets"));
