import { type ChildProcess, fork } from "node:child_process";
import { repoRoot } from "@aitasks/testing";

/** One autocannon run: `durationSeconds` or a fixed `amount` of requests. */
export interface LoadSpec {
  baseUrl: string;
  method: "GET" | "POST";
  /** May contain `{id}`, replaced by a random integer of `idRange` (inclusive) for each request. */
  path: string;
  body?: string;
  connections: number;
  durationSeconds?: number;
  amount?: number;
  idRange?: [number, number];
  /** Each request carries the next of these keys (in turn, across all connections) as `Authorization: Bearer`. */
  bearerKeys?: string[];
}

export interface LoadSummary {
  /** Responses received (2xx and others). */
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  seconds: number;
  /** 2xx responses per second. */
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

let generator: ChildProcess | undefined;
let nextId = 1;
const pending = new Map<number, { resolve: (summary: LoadSummary) => void; reject: (error: Error) => void }>();

function loadGenerator(): ChildProcess {
  if (generator) return generator;
  const child = fork("bench/lib/load-process.ts", [], {
    cwd: repoRoot,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  child.on("message", (message: { id: number; summary?: LoadSummary; error?: string }) => {
    const waiting = pending.get(message.id);
    pending.delete(message.id);
    if (message.summary) waiting?.resolve(message.summary);
    else waiting?.reject(new Error(`load generator: ${message.error}`));
  });
  child.once("exit", (code) => {
    generator = undefined;
    for (const waiting of pending.values()) waiting.reject(new Error(`load generator exited with ${code}`));
    pending.clear();
  });
  generator = child;
  return child;
}

/**
 * Runs autocannon in the load generator's process (bench/lib/load-process.ts, started on first use).
 * A server that dies during a run of a fixed `amount` would leave autocannon retrying forever, so
 * every run has a deadline; past it the generator is killed (and restarted by the next run).
 */
export function runLoad(spec: LoadSpec): Promise<LoadSummary> {
  const child = loadGenerator();
  const deadlineMs = spec.durationSeconds ? spec.durationSeconds * 1000 + 60_000 : 120_000 + (spec.amount ?? 0) * 5;
  return new Promise((resolve, reject) => {
    const id = nextId++;
    const timer = setTimeout(() => {
      pending.delete(id);
      child.kill("SIGKILL");
      reject(new Error(`load generator: no result within ${deadlineMs / 1000} s (is the server still up?)`));
    }, deadlineMs);
    pending.set(id, {
      resolve: (summary) => {
        clearTimeout(timer);
        resolve(summary);
      },
      reject: (error) => {
        clearTimeout(timer);
        reject(error);
      },
    });
    child.send({ id, spec });
  });
}

export async function stopLoadGenerator(): Promise<void> {
  const child = generator;
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.disconnect();
  await exited;
}
