// `npm run bench` runs every scenario; `-- --quick` a short version with the same output;
// `-- --scenario NAME` (repeatable, or comma-separated) only those. See docs/performance.md.

import { execFileSync } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL } from "@aitasks/config";
import { killAll, repoRoot } from "@aitasks/testing";
import type { BenchContext, Scenario } from "./lib/context.js";
import { startFakeProvider } from "./lib/fake-provider.js";
import { stopLoadGenerator } from "./lib/load.js";
import { describeMachine } from "./lib/machine.js";
import { renderTable, type ScenarioResult, writeResults } from "./lib/report.js";
import { createScratch } from "./lib/scratch.js";
import { buildReference, profileInto } from "./lib/stack.js";
import { batch } from "./scenarios/batch.js";
import { enqueue } from "./scenarios/enqueue.js";
import { events } from "./scenarios/events.js";
import { keyBudgets } from "./scenarios/key-budgets.js";
import { memory } from "./scenarios/memory.js";
import { pipeline } from "./scenarios/pipeline.js";
import { poll } from "./scenarios/poll.js";
import { prepaid } from "./scenarios/prepaid.js";
import { readsAtScale } from "./scenarios/reads-at-scale.js";
import { scaling } from "./scenarios/scaling.js";

const scenarios: Scenario[] = [
  enqueue,
  poll,
  pipeline,
  prepaid,
  keyBudgets,
  scaling,
  readsAtScale,
  memory,
  batch,
  events,
];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    scenario: { type: "string", multiple: true },
    // Our API and worker processes run under `node --cpu-prof`; their profiles land in bench/results/profiles/.
    profile: { type: "boolean", default: false },
  },
});
const wanted = (values.scenario ?? []).flatMap((name) => name.split(",")).filter(Boolean);
const unknown = wanted.filter((name) => !scenarios.some((scenario) => scenario.name === name));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.join(", ")}; one of: ${scenarios.map((s) => s.name).join(", ")}`);
  process.exit(2);
}
const selected = wanted.length > 0 ? scenarios.filter((scenario) => wanted.includes(scenario.name)) : scenarios;
const mode = values.quick ? "quick" : "full";

// DATABASE_URL names the server (and an existing database to connect to first); the benchmark
// works in scratch databases of its own that it creates and drops.
const databaseUrl = process.env.DATABASE_URL || DEFAULT_DATABASE_URL;
const redisUrl = process.env.REDIS_URL || DEFAULT_REDIS_URL;
const startedAt = new Date();
const log = (message: string) =>
  console.error(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s] ${message}`);

// Our processes run from dist/, as `npm run start:api` / `start:worker` build and run them.
execFileSync(process.execPath, [join(repoRoot, "scripts", "build.mjs")], { stdio: "inherit" });
await buildReference();
const machine = await describeMachine(databaseUrl, redisUrl);
if (values.profile) {
  const directory = join(repoRoot, "bench", "results", "profiles", startedAt.toISOString().replace(/[:.]/g, "-"));
  profileInto(directory);
  log(`profiling our processes into ${directory}`);
}
log(
  `${mode} run on ${machine.cpu} (${machine.cores} cores), Node ${machine.node}, Postgres ${machine.postgres}, Redis ${machine.redis}`,
);
const scratch = await createScratch(databaseUrl, redisUrl);
const fake = await startFakeProvider(0);

let interrupted = false;
// Once, whether the run ends or is interrupted (then it races the running scenario's own cleanup).
let cleaning: Promise<void> | undefined;
const cleanup = () =>
  (cleaning ??= (async () => {
    await stopLoadGenerator();
    await killAll();
    await fake.close().catch(() => {});
    await scratch.cleanup();
  })());
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

const context: BenchContext = { quick: values.quick ?? false, scratch, fake, log };
const results: ScenarioResult[] = [];
try {
  for (const scenario of selected) {
    if (interrupted) break;
    log(`scenario ${scenario.name}`);
    const began = Date.now();
    try {
      const outcome = await scenario.run(context);
      results.push({ name: scenario.name, seconds: (Date.now() - began) / 1000, ...outcome });
    } catch (error) {
      if (interrupted) break;
      log(`scenario ${scenario.name} failed: ${(error as Error).stack ?? error}`);
      results.push({
        name: scenario.name,
        seconds: (Date.now() - began) / 1000,
        figures: [],
        correct: false,
        checks: [],
        error: (error as Error).message,
        raw: null,
      });
    }
    await fake.setDelay(0);
  }
} finally {
  await cleanup();
}

const finishedAt = new Date();
const file = writeResults({
  mode,
  machine: { ...machine, loadAverageAtEnd: loadavg().map((value) => Math.round(value * 100) / 100) },
  startedAt,
  finishedAt,
  results,
});
console.log(renderTable(results));
console.log(
  `\n${mode} run, ${((finishedAt.getTime() - startedAt.getTime()) / 1000).toFixed(0)} s, on ${machine.cpu} ×${machine.cores}, ` +
    `Node ${machine.node}, Postgres ${machine.postgres}, Redis ${machine.redis}, commit ${machine.commit.slice(0, 12)}` +
    `${machine.uncommittedChanges ? " (with uncommitted changes)" : ""}. Raw runs: ${file}`,
);
for (const result of results) for (const check of result.checks) console.log(`  ${result.name}: ${check}`);
const failed = results.some((result) => !result.correct || result.error);
process.exit(failed ? 1 : 0);
