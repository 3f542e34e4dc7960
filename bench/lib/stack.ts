import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  freePort,
  nodeFlagsOf,
  type RunningProcess,
  repoRoot,
  spawnCommand,
  startProcess,
  waitFor,
  waitForHealth,
} from "@aitasks/testing";
import { Queue } from "bullmq";
import { build } from "esbuild";
import { Redis } from "ioredis";

let profileDirectory: string | undefined;
/**
 * With a directory, the API and worker processes of both sides run under `node --cpu-prof` and
 * write their profiles on exit into `<directory>/<side>-<role>/` (summed up by
 * bench/diagnostics/profile-summary.ts).
 */
export function profileInto(directory: string | undefined) {
  profileDirectory = directory;
}

/** The arguments to `node` that run `script`, under the profiler when profiling. */
function nodeArgs(side: string, role: "api" | "worker", script: string): string[] {
  const flags = side === "ours" ? nodeFlagsOf(role) : [];
  if (!profileDirectory) return [...flags, script];
  return [...flags, "--cpu-prof", `--cpu-prof-dir=${join(profileDirectory, `${side}-${role}`)}`, script];
}

/** `node <its flags> dist/<role>/main.mjs`, as `npm run start:<role>` runs it after its build. */
function startOurs(role: "api" | "worker", env: Record<string, string>): RunningProcess {
  if (!profileDirectory) return startProcess(role, env);
  return spawnCommand(role, process.execPath, nodeArgs("ours", role, `dist/${role}/main.mjs`), env);
}

const referenceDirectory = join(repoRoot, "bench", "results", "reference");

/**
 * The reference's two programs as plain JavaScript, so that plain Node runs them as it runs our
 * bundles: neither side pays for a TypeScript loader in its memory or start-up.
 */
export async function buildReference() {
  await build({
    absWorkingDir: repoRoot,
    entryPoints: ["bench/reference/api-server.ts", "bench/reference/worker.ts"],
    outdir: referenceDirectory,
    outExtension: { ".js": ".mjs" },
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
  });
}

/** What every process of one side gets: its database, Redis, queue prefix and the fake provider. */
export interface StackEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  QUEUE_PREFIX: string;
  OPENAI_API_KEY: string;
  OPENAI_BASE_URL: string;
  LOG_LEVEL: string;
  RATE_LIMIT_PER_MINUTE: string;
  /** The reference worker only: "openai-sdk" makes it call the provider through the official SDK. */
  REF_PROVIDER_CLIENT?: string;
}

export type Side = "ours" | "reference";

export interface Api {
  proc: RunningProcess;
  baseUrl: string;
  pid: number;
}

/**
 * Starts an API: ours exactly as `npm run start:api` does (node dist/api/main.mjs, built by run.ts),
 * or the bare reference (bench/reference/api-server.ts), on a free port; resolves once /health answers.
 */
export async function startApi(side: Side, env: StackEnv, extra: Record<string, string> = {}): Promise<Api> {
  const port = await freePort();
  const all = { ...env, ...extra, PORT: String(port), HOST: "127.0.0.1" };
  const proc =
    side === "ours"
      ? startOurs("api", all)
      : spawnCommand(
          "reference-api",
          process.execPath,
          nodeArgs("reference", "api", join(referenceDirectory, "api-server.mjs")),
          all,
        );
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(proc, baseUrl, { timeoutMs: 60_000 });
  return { proc, baseUrl, pid: proc.child.pid! };
}

/** The queue each side's workers consume. */
export const taskQueueName = (side: Side) => (side === "ours" ? "tasks" : "ref-tasks");

/** Starts `count` worker processes of one side with WORKER_CONCURRENCY = `concurrency`; resolves once all listen. */
export async function startWorkers(
  side: Side,
  env: StackEnv,
  count: number,
  concurrency: number,
): Promise<RunningProcess[]> {
  const all = { ...env, WORKER_CONCURRENCY: String(concurrency) };
  const workers = Array.from({ length: count }, (_, i) =>
    side === "ours"
      ? startOurs("worker", all)
      : spawnCommand(
          `reference-worker-${i}`,
          process.execPath,
          nodeArgs(
            env.REF_PROVIDER_CLIENT ? `reference-${env.REF_PROVIDER_CLIENT}` : "reference",
            "worker",
            join(referenceDirectory, "worker.mjs"),
          ),
          all,
        ),
  );
  // BullMQ names each worker's connection after its queue: count them until all are there.
  const redis = redisConnection(env.REDIS_URL);
  const queue = new Queue(taskQueueName(side), { connection: redis, prefix: env.QUEUE_PREFIX });
  queue.on("error", () => {});
  try {
    await waitFor(
      async () => {
        const dead = workers.find((worker) => !worker.alive());
        if (dead) throw new Error(`${dead.name} exited before it was ready:\n${dead.output()}`);
        return (await queue.getWorkersCount()) >= count;
      },
      90_000,
      { intervalMs: 200, message: `${count} ${side} workers` },
    );
  } finally {
    await queue.close();
    redis.disconnect();
  }
  return workers;
}

export async function stopAll(processes: RunningProcess[]): Promise<void> {
  await Promise.all(
    processes.map(async (proc) => {
      const timer = setTimeout(() => void proc.kill9(), 15_000);
      await proc.stop("SIGTERM");
      clearTimeout(timer);
    }),
  );
}

/** Resident set size of a process, in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

export function redisConnection(url: string) {
  return new Redis(url, { maxRetriesPerRequest: null });
}
