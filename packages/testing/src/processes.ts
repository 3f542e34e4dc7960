import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: processes start from there, as `npm run start:api` would. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export interface RunningProcess {
  name: string;
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Only stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or `128 + n` for a signal) once the process has exited. */
  exited: Promise<number>;
  /** Sends `signal` to the process and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** `kill -9` on the whole process group. */
  kill9(): Promise<number>;
  alive(): boolean;
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
const MAX_OUTPUT = 200_000;

/** Every process started by this module that may still run; killed when the test process exits. */
const running = new Set<RunningProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

process.on("exit", () => {
  for (const proc of running) killGroup(proc.child, "SIGKILL");
});

/**
 * Spawns a command in its own process group (so `kill9` also reaches anything it started), with `{...process.env, ...env}`, capturing its output for failure messages.
 */
export function spawnCommand(name: string, command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: repoRoot,
    // Tests poll hard from one address; the rate limit has tests of its own that turn it on. Workers
    // serve no HTTP unless asked (WORKER_HTTP_PORT): several of them run at once.
    env: { ...process.env, LOG_LEVEL: "warn", RATE_LIMIT_PER_MINUTE: "0", WORKER_HTTP_PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let all = "";
  let errors = "";
  const append = (text: string) => {
    all = (all + text).slice(-MAX_OUTPUT);
  };
  child.stdout?.on("data", (chunk: Buffer) => append(chunk.toString("utf8")));
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    append(text);
    errors = (errors + text).slice(-MAX_OUTPUT);
  });

  const exited = new Promise<number>((resolveExit) => {
    child.once("exit", (code, signal) => {
      resolveExit(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 0) : 0));
    });
    child.once("error", (error) => {
      append(`\n[spawn error] ${error.message}\n`);
      resolveExit(-1);
    });
  });

  const proc: RunningProcess = {
    name,
    child,
    output: () => all,
    stderr: () => errors,
    exited,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop(signal = "SIGTERM") {
      if (proc.alive()) child.kill(signal);
      return exited;
    },
    async kill9() {
      killGroup(child, "SIGKILL");
      return exited;
    },
  };
  running.add(proc);
  // Once the direct child is gone, make sure nothing it started lingers in its group.
  void exited.then(() => {
    killGroup(child, "SIGKILL");
    running.delete(proc);
  });
  return proc;
}

/** The Node flags each role runs with (`scripts/node-flags.json`, which `npm start` reads too). */
export function nodeFlagsOf(role: "api" | "worker"): string[] {
  const flags = JSON.parse(readFileSync(join(repoRoot, "scripts", "node-flags.json"), "utf8")) as Record<
    string,
    string[]
  >;
  return flags[role] ?? [];
}

/**
 * Starts `node <its flags> dist/<role>/main.mjs`, exactly as `npm run start:<role>` does after its
 * build (the tests' global setup builds dist/ once per run).
 */
export function startProcess(role: "api" | "worker", env: Record<string, string>): RunningProcess {
  return spawnCommand(role, process.execPath, [...nodeFlagsOf(role), `dist/${role}/main.mjs`], env);
}

/** Kills (SIGKILL, whole group) every process started here that still runs. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((proc) => proc.kill9()));
}

/** A port that was free a moment ago: listen on 0, read the number, close. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  server.close();
  await once(server, "close");
  return address.port;
}

/**
 * Polls `predicate` every `intervalMs` until it returns a truthy value, or fails after `timeoutMs`.
 * An error thrown by `predicate` ends the wait at once (a process that died will not recover).
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs: number,
  { intervalMs = 100, message = "condition" }: { intervalMs?: number; message?: string | (() => string) } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as NonNullable<T>;
    if (Date.now() >= deadline) {
      const text = typeof message === "function" ? message() : message;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${text}`);
    }
    await new Promise((done) => setTimeout(done, intervalMs));
  }
}

/** Resolves with the exit code, or fails if the process is still running after `timeoutMs`. */
export async function exitWithin(proc: RunningProcess, timeoutMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${proc.name} did not exit within ${timeoutMs} ms; output:\n${proc.output()}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([proc.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface StartedApi {
  proc: RunningProcess;
  baseUrl: string;
}

/**
 * Starts the API on a free port of 127.0.0.1 and waits until GET /health answers 200 (or, with
 * `healthy: false`, answers at all: a dependency may be down on purpose).
 */
export async function startApi(
  env: Record<string, string>,
  { healthy = true, timeoutMs = 30_000 }: { healthy?: boolean; timeoutMs?: number } = {},
): Promise<StartedApi> {
  const port = await freePort();
  const proc = startProcess("api", { ...env, PORT: String(port), HOST: "127.0.0.1" });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(proc, baseUrl, { healthy, timeoutMs });
  return { proc, baseUrl };
}

/** Waits until `baseUrl`/health answers (200 unless `healthy: false`); fails early if `proc` exits. */
export async function waitForHealth(
  proc: RunningProcess,
  baseUrl: string,
  { healthy = true, timeoutMs = 30_000 }: { healthy?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  let lastStatus = "no answer";
  await waitFor(
    async () => {
      if (!proc.alive()) {
        throw new Error(`${proc.name} exited (code ${proc.child.exitCode}) before it was ready:\n${proc.output()}`);
      }
      const response = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(3000) }).catch(() => null);
      if (!response) return false;
      lastStatus = `${response.status} ${await response.text()}`;
      return healthy ? response.status === 200 : true;
    },
    timeoutMs,
    { intervalMs: 200, message: () => `GET ${baseUrl}/health (last: ${lastStatus}); output:\n${proc.output()}` },
  );
}

/**
 * The worker as an operator runs it (`node dist/worker/main.mjs`), on a test file's own database
 * and queue prefix, its providers pointed at `fake`: for tests of the API that need tasks to run.
 */
export function startWorkerProcess(
  env: { databaseUrl: string; redisUrl: string; queuePrefix: string },
  fake: { openaiBaseURL: string; mistralServerURL: string },
  extra: Record<string, string> = {},
): RunningProcess {
  return startProcess("worker", {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mistral-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
    ...extra,
  });
}
