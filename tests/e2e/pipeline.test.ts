import { createClient } from "@aitasks/client";
import type { TaskView } from "@aitasks/contract";
import { formatAmount } from "@aitasks/db";
// End to end: the real API and worker processes, started as an operator starts them
// (`node dist/<role>/main.mjs`), driven over HTTP only, through the typed client (@aitasks/client);
// Postgres is read to check the books.
import {
  exitWithin,
  expectedCostPico,
  type FakeChatServer,
  fakeAnswer,
  fakeUsage,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;
let sql: postgres.Sql;

/** The environment both processes read, pointing at this file's database, queue prefix and fake. */
function baseEnv(): Record<string, string> {
  return {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mk-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
    // Every worker of the queue gets the same short lock, as an operator's fleet shares one config:
    // BullMQ's stalled-job check runs at most once per `stalledInterval` (= the lock duration here)
    // across all workers of a queue, so one worker with the default 30 s would delay the take-over
    // of a killed worker's jobs by up to 30 s.
    WORKER_LOCK_DURATION_MS: "2000",
  };
}

// Processes started by one test; killed after it, whatever its outcome.
const started: RunningProcess[] = [];
function track<T extends RunningProcess | StartedApi>(value: T): T {
  started.push("proc" in value ? value.proc : value);
  return value;
}
const startWorker = (extra: Record<string, string> = {}) => track(startProcess("worker", { ...baseEnv(), ...extra }));
const outputs = () => started.map((proc) => `--- ${proc.name} ---\n${proc.output()}`).join("\n");

beforeAll(async () => {
  fake = await startFakeChatServer();
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
});

afterEach(async () => {
  await Promise.all(started.map((proc) => proc.kill9()));
  started.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
});

afterAll(async () => {
  await killAll();
  await sql?.end({ timeout: 5 });
  await fake?.close();
});

/** The `api_cost` ledger rows of these tasks: how many, for how many tasks, and their exact sum. */
async function ledgerOf(ids: number[]) {
  const [row] = await sql<{ rows: number; tasks: number; total: string | null }[]>`
    select count(*)::int as rows, count(distinct task_id)::int as tasks, sum(amount_usd)::text as total
    from ledger_entries where category = 'api_cost' and task_id in ${sql(ids)}`;
  return row!;
}

const clientOf = (api: StartedApi) => createClient({ baseUrl: api.baseUrl });

/** Posts a task and returns its id. */
async function submit(api: StartedApi, prompt: string, provider: "openai" | "mistral" = "openai") {
  return (await clientOf(api).submitTask({ prompt, provider })).task_id;
}

/** Each task's final view, followed on its event stream; on a timeout, where the tasks and processes stood. */
async function finished(api: StartedApi, ids: number[], timeoutMs: number): Promise<TaskView[]> {
  const client = clientOf(api);
  try {
    return await Promise.all(ids.map((id) => client.waitForTask(id, { timeoutMs })));
  } catch (error) {
    const tasks = await Promise.all(ids.map((id) => client.getTask(id))).catch(() => []);
    const statuses = tasks.map((task) => `${task.id}=${task.status}`).join(" ");
    throw new Error(`tasks ${ids.join(",")} to finish; statuses: ${statuses}\n${outputs()}`, { cause: error });
  }
}

const requestsFor = (prompts: string[]) => fake.requests.filter((request) => prompts.includes(request.prompt));

describe("with one API and workers started from the command line", () => {
  let api: StartedApi;
  beforeAll(async () => {
    api = await startApi(baseEnv());
  }, 60_000);
  afterAll(async () => {
    await api?.proc.kill9();
  });

  it("runs 20 tasks on both providers and books each one's exact cost once", async () => {
    startWorker();
    const jobs = Array.from({ length: 20 }, (_, i) => ({
      prompt: `happy path ${i}: what is ${i} squared?`,
      provider: i % 2 === 0 ? ("openai" as const) : ("mistral" as const),
    }));
    const ids = await Promise.all(jobs.map((job) => submit(api, job.prompt, job.provider)));

    const tasks = await finished(api, ids, 45_000);

    let totalPico = 0n;
    for (const [i, job] of jobs.entries()) {
      const task = tasks[i]!;
      const usage = fakeUsage(job.prompt);
      const pico = expectedCostPico(job.provider, job.prompt);
      totalPico += pico;
      expect(task).toMatchObject({
        status: "completed",
        provider: job.provider,
        model: job.provider === "openai" ? "gpt-4o-mini" : "mistral-small-latest",
        output: fakeAnswer(job.prompt),
        tokens_used: usage.promptTokens + usage.completionTokens,
        cost: Number(formatAmount(pico)),
        error: null,
      });
    }
    expect(await ledgerOf(ids)).toEqual({ rows: 20, tasks: 20, total: formatAmount(totalPico) });
  }, 90_000);

  it("completes and charges once the tasks of a worker killed with kill -9 mid-task", async () => {
    const prompts = Array.from({ length: 5 }, (_, i) => `killed worker ${i}: name a prime above ${i * 100}`);
    const seen = new Set<string>();
    // The first call for each prompt is slow, so the worker dies holding it; any later call answers at once.
    fake.setReply((request) => {
      if (!prompts.includes(request.prompt) || seen.has(request.prompt)) return { kind: "ok" };
      seen.add(request.prompt);
      return { kind: "ok", delayMs: 4000 };
    });
    const workerEnv = { WORKER_LOCK_DURATION_MS: "2000", WORKER_CONCURRENCY: "5" }; // both workers alike
    const first = startWorker(workerEnv);
    const ids = await Promise.all(prompts.map((prompt) => submit(api, prompt)));

    await waitFor(() => requestsFor(prompts).length >= 5, 30_000, {
      message: () => `the worker to send all 5 prompts (got ${requestsFor(prompts).length})\n${outputs()}`,
    });
    await first.kill9();
    const midway = await Promise.all(ids.map((id) => clientOf(api).getTask(id)));
    expect(midway.map((task) => task.status)).toEqual(Array(5).fill("processing"));

    startWorker(workerEnv);
    const tasks = await finished(api, ids, 45_000);

    for (const [i, task] of tasks.entries()) {
      expect(task).toMatchObject({ status: "completed", output: fakeAnswer(prompts[i]!), error: null });
    }
    const totalPico = prompts.reduce((sum, prompt) => sum + expectedCostPico("openai", prompt), 0n);
    expect(await ledgerOf(ids)).toEqual({ rows: 5, tasks: 5, total: formatAmount(totalPico) });
    // Each task was sent again by the second worker: the first answers never arrived.
    expect(requestsFor(prompts).length).toBeGreaterThanOrEqual(10);
  }, 90_000);

  it("fails a task whose provider has no API key, without charging it, and keeps working", async () => {
    const worker = startWorker({ MISTRAL_API_KEY: "" });
    const mistralId = await submit(api, "no key: bonjour?", "mistral");

    const [failed] = await finished(api, [mistralId], 30_000);
    expect(failed).toMatchObject({
      status: "failed",
      error: "MISTRAL_API_KEY is not configured",
      output: null,
      cost: null,
    });
    expect(await ledgerOf([mistralId])).toEqual({ rows: 0, tasks: 0, total: null });
    expect(requestsFor(["no key: bonjour?"])).toHaveLength(0);

    expect(worker.alive()).toBe(true);
    const openaiId = await submit(api, "no key: but openai works?", "openai");
    const [completed] = await finished(api, [openaiId], 30_000);
    expect(completed).toMatchObject({ status: "completed", output: fakeAnswer("no key: but openai works?") });
    expect(worker.alive()).toBe(true);
  }, 90_000);
});

it("shuts down on SIGTERM: in-flight tasks finish, the others wait for the next worker", async () => {
  const prompts = Array.from({ length: 10 }, (_, i) => `graceful ${i}: count to ${i}`);
  let slow = true;
  fake.setReply((request) =>
    slow && prompts.includes(request.prompt) ? { kind: "ok", delayMs: 1500 } : { kind: "ok" },
  );
  const api = track(await startApi(baseEnv()));
  const worker = startWorker({ WORKER_CONCURRENCY: "3" });
  const ids = await Promise.all(prompts.map((prompt) => submit(api, prompt)));

  await waitFor(
    async () => (await Promise.all(ids.map((id) => clientOf(api).getTask(id)))).some((t) => t.status === "processing"),
    30_000,
    { intervalMs: 50, message: () => `a task to be processing\n${outputs()}` },
  );
  const stopping = Date.now();
  const [workerExit, apiExit] = await Promise.all([
    worker.stop("SIGTERM").then(() => exitWithin(worker, 40_000)),
    api.proc.stop("SIGTERM").then(() => exitWithin(api.proc, 40_000)),
  ]);
  expect({ workerExit, apiExit }, outputs()).toEqual({ workerExit: 0, apiExit: 0 });
  console.info(`worker and API exited ${Date.now() - stopping} ms after SIGTERM`);

  // Both are down: read the tasks where they are kept.
  const rows = await sql<{ id: string; status: string; started: boolean }[]>`
    select id, status, started_at is not null as started from tasks where id in ${sql(ids)} order by id`;
  const byStatus = (status: string) => rows.filter((row) => row.status === status);
  expect(byStatus("processing")).toEqual([]);
  expect(byStatus("failed")).toEqual([]);
  // What the worker had started it finished; what it had not started is still waiting, untouched.
  expect(byStatus("completed").length).toBeGreaterThanOrEqual(1);
  expect(rows.filter((row) => row.started && row.status !== "completed")).toEqual([]);
  expect(byStatus("pending").every((row) => !row.started)).toBe(true);

  slow = false;
  const [nextApi] = await Promise.all([startApi(baseEnv()).then(track), startWorker()]);
  const tasks = await finished(nextApi, ids, 45_000);
  expect(tasks.map((task) => task.status)).toEqual(Array(10).fill("completed"));
  const totalPico = prompts.reduce((sum, prompt) => sum + expectedCostPico("openai", prompt), 0n);
  expect(await ledgerOf(ids)).toEqual({ rows: 10, tasks: 10, total: formatAmount(totalPico) });
}, 90_000);

it("stores tasks while Redis is unreachable, and the worker's reconciler runs them later", async () => {
  const api = track(await startApi({ ...baseEnv(), REDIS_URL: "redis://127.0.0.1:1" }, { healthy: false }));
  const health = await fetch(`${api.baseUrl}/health`);
  expect(health.status).toBe(503);
  expect(await health.json()).toMatchObject({ status: "unhealthy", checks: { database: "ok", redis: "down" } });

  const client = clientOf(api);
  const before = Date.now();
  // One attempt: a retry would hide an answer that was not the 202.
  const answer = await client.submitTask({ prompt: "redis down: still stored?" }, { retry: false });
  expect(Date.now() - before).toBeLessThan(5000);
  expect(answer).toEqual({ task_id: expect.any(Number), status: "pending", provider: "openai" });
  const id = answer.task_id;
  expect(await client.getTask(id)).toMatchObject({ status: "pending" });

  startWorker({ RECONCILE_AFTER_MS: "1000" });
  // Polled: this API hears no task changes without Redis, so its event streams would lag.
  const task = await waitFor(
    async () => {
      const current = await client.getTask(id);
      return current.status === "completed" || current.status === "failed" ? current : undefined;
    },
    45_000,
    { intervalMs: 250, message: () => `task ${id} to finish\n${outputs()}` },
  );
  expect(task).toMatchObject({ status: "completed", output: fakeAnswer("redis down: still stored?") });
  expect(await ledgerOf([id])).toEqual({
    rows: 1,
    tasks: 1,
    total: formatAmount(expectedCostPico("openai", "redis down: still stored?")),
  });
  // And an API that never reached Redis still stops cleanly.
  await api.proc.stop("SIGTERM");
  expect(await exitWithin(api.proc, 25_000), api.proc.output()).toBe(0);
}, 90_000);

describe("refuses a bad configuration, naming the variable", () => {
  it.each([
    ["api", "PORT", "abc"],
    ["worker", "WORKER_CONCURRENCY", "0"],
  ] as const)(
    "%s with %s=%s exits non-zero",
    async (role, variable, value) => {
      const proc = track(startProcess(role, { ...baseEnv(), [variable]: value }));
      const code = await exitWithin(proc, 15_000);
      expect(code, proc.output()).not.toBe(0);
      expect(proc.stderr()).toContain(variable);
    },
    30_000,
  );
});
