import { formatAmount } from "@aitasks/db";
// Outages, through the real processes: the API and the worker started as an operator starts them,
// Postgres and Redis reached through TCP proxies that a test takes down and brings back (the shared
// servers themselves are never touched), and an LLM fake scripted per prompt. Each test checks what
// a user would notice: answers, their status and latency, and what each task cost.
import {
  expectedCostPico,
  type FakeChatServer,
  type FakeReply,
  fakeAnswer,
  getTask,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startProcess,
  startTcpProxy,
  type TaskJson,
  type TcpProxy,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;
let sql: postgres.Sql;

/** Replies the fake gives to one prompt, call after call; once the script is used up it answers normally. */
const scripts = new Map<string, { replies: FakeReply[] | ((call: number) => FakeReply); calls: number[] }>();
function script(prompt: string, replies: FakeReply[] | ((call: number) => FakeReply)) {
  scripts.set(prompt, { replies, calls: [] });
}
const callsOf = (prompt: string) => scripts.get(prompt)?.calls ?? [];

function baseEnv(): Record<string, string> {
  return {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mk-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
    WORKER_LOCK_DURATION_MS: "2000",
    RECONCILE_AFTER_MS: "2000",
    TASK_MAX_ATTEMPTS: "3",
  };
}

const started: RunningProcess[] = [];
const proxies: TcpProxy[] = [];
function track<T extends RunningProcess | StartedApi>(value: T): T {
  started.push("proc" in value ? value.proc : value);
  return value;
}
async function proxyTo(url: string) {
  const parsed = new URL(url);
  const proxy = await startTcpProxy({ host: parsed.hostname, port: Number(parsed.port) });
  proxies.push(proxy);
  return proxy;
}
const outputs = () => started.map((proc) => `--- ${proc.name} ---\n${proc.output().slice(-6000)}`).join("\n");

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    const entry = scripts.get(request.prompt);
    if (!entry) return { kind: "ok" };
    const call = entry.calls.push(Date.now()) - 1;
    if (typeof entry.replies === "function") return entry.replies(call);
    return entry.replies[call] ?? { kind: "ok" };
  });
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
});

afterEach(async () => {
  await Promise.all(started.map((proc) => proc.kill9()));
  started.length = 0;
  await Promise.all(proxies.map((proxy) => proxy.close()));
  proxies.length = 0;
  scripts.clear();
});

afterAll(async () => {
  await killAll();
  await sql?.end({ timeout: 5 });
  await fake?.close();
});

interface Timed {
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
  ms: number;
}

/** One request, timed; a request still unanswered after `limitMs` comes back as status 0, not as a hung test. */
async function timed(url: string, init: RequestInit = {}, limitMs = 10_000): Promise<Timed> {
  const start = Date.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(limitMs), ...init });
    const text = await response.text();
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, body, text, ms: Date.now() - start };
  } catch (error) {
    return { status: 0, body: undefined, text: `no answer: ${(error as Error).message}`, ms: Date.now() - start };
  }
}

const postJson = (baseUrl: string, prompt: string, limitMs?: number) =>
  timed(
    `${baseUrl}/api/task`,
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt }) },
    limitMs,
  );

/** The `api_cost` ledger rows of these tasks: how many, for how many tasks, and their exact sum. */
async function ledgerOf(ids: number[]) {
  if (ids.length === 0) return { rows: 0, tasks: 0, total: null };
  const [row] = await sql<{ rows: number; tasks: number; total: string | null }[]>`
    select count(*)::int as rows, count(distinct task_id)::int as tasks, sum(amount_usd)::text as total
    from ledger_entries where category = 'api_cost' and task_id in ${sql(ids)}`;
  return row!;
}

/** Tasks whose prompt starts with `prefix`, as stored: whatever the API answered, this is what will run. */
const storedTasks = (prefix: string) =>
  sql<{ id: string; status: string; input: string }[]>`
    select id, status, input from tasks where input like ${`${prefix}%`} order by id`;

function countBy(keys: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

/**
 * Waits until every task is `completed` or `failed`, polling Postgres (so the wait spends none of the
 * API's rate limit), then reads each one through the API as a user would.
 */
async function waitForFinal(baseUrl: string, ids: number[], timeoutMs: number): Promise<TaskJson[]> {
  let last: { id: string; status: string }[] = [];
  await waitFor(
    async () => {
      last = await sql<{ id: string; status: string }[]>`select id, status from tasks where id in ${sql(ids)}`;
      return last.length === ids.length && last.every((row) => row.status === "completed" || row.status === "failed");
    },
    timeoutMs,
    {
      intervalMs: 250,
      message: () =>
        `tasks to finish; not yet: ${last
          .filter((row) => row.status !== "completed" && row.status !== "failed")
          .map((row) => `${row.id}=${row.status}`)
          .join(" ")}\n${outputs()}`,
    },
  );
  const tasks: TaskJson[] = [];
  for (const id of ids) tasks.push(await getTask(baseUrl, id));
  return tasks;
}

const sumPico = (prompts: string[]) => prompts.reduce((sum, prompt) => sum + expectedCostPico("openai", prompt), 0n);

it("Redis goes away during submissions and comes back: every accepted task completes and is charged once", async () => {
  const redisProxy = await proxyTo(env.redisUrl);
  // The rate limit counts in Redis too: on, as in production.
  const viaProxy = { ...baseEnv(), REDIS_URL: redisProxy.proxied(env.redisUrl), RATE_LIMIT_PER_MINUTE: "1200" };
  const [api] = await Promise.all([
    startApi(viaProxy).then(track),
    Promise.resolve(track(startProcess("worker", viaProxy))),
  ]);

  // A finished task shows both processes are up before the outage starts.
  const warmUp = await postJson(api.baseUrl, "redis outage warm-up");
  expect(warmUp.status, warmUp.text).toBe(202);
  await waitForFinal(api.baseUrl, [warmUp.body!.task_id as number], 30_000);

  type Answer = Timed & { prompt: string; phase: "before" | "outage" | "after" };
  const answers: Answer[] = [];
  let phase: Answer["phase"] = "before";
  let restored: Promise<void> | undefined;
  let healthDuringOutage: Promise<Timed> | undefined;
  const TOTAL = 60;
  const BATCH = 3;
  const PACE_MS = 300;
  for (let batch = 0; batch < TOTAL / BATCH; batch++) {
    if (batch === Math.round(TOTAL / BATCH / 3)) {
      redisProxy.down();
      phase = "outage";
      healthDuringOutage = timed(`${api.baseUrl}/health`);
      restored = new Promise<void>((resolve) =>
        setTimeout(() => {
          redisProxy.up();
          phase = "after";
          resolve();
        }, 3000),
      );
    }
    const begun = Date.now();
    const sent = phase;
    const prompts = Array.from(
      { length: BATCH },
      (_, i) => `redis outage ${batch * BATCH + i}: what is ${batch}+${i}?`,
    );
    const results = await Promise.all(prompts.map((prompt) => postJson(api.baseUrl, prompt)));
    for (const [i, result] of results.entries()) answers.push({ ...result, prompt: prompts[i]!, phase: sent });
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, PACE_MS - (Date.now() - begun))));
  }
  await restored;

  const summary = () =>
    answers.map((a) => `${a.phase} ${a.status} ${a.ms}ms${a.status === 202 ? "" : ` ${a.text}`}`).join("\n");
  console.info(
    `redis outage: ${answers.filter((a) => a.phase === "outage").length} POSTs during the outage, answers:`,
    countBy(answers.map((a) => `${a.phase} ${a.status}`)),
    `slowest ${Math.max(...answers.map((a) => a.ms))} ms`,
  );
  expect(answers.filter((a) => a.phase === "outage").length, summary()).toBeGreaterThanOrEqual(6);
  // While Redis is away a POST still stores the task (202) or says the queue is unavailable (503): never 500, never a hang.
  expect(
    answers.filter((a) => a.status !== 202 && a.status !== 503).map((a) => a.status),
    summary(),
  ).toEqual([]);
  expect(answers.filter((a) => a.ms > 5000).length, summary()).toBe(0);
  for (const answer of answers.filter((a) => a.status === 503)) {
    expect(answer.body, summary()).toMatchObject({ error: expect.any(String) });
  }
  expect(answers.filter((a) => a.phase !== "outage" && a.status !== 202).length, summary()).toBe(0);
  const health = await healthDuringOutage!;
  expect(health.status, health.text).toBe(503);
  expect(health.body).toMatchObject({ status: "unhealthy", checks: { database: "ok", redis: "down" } });
  expect(health.ms).toBeLessThan(5000);

  const accepted = answers.filter((a) => a.status === 202);
  const ids = accepted.map((a) => a.body!.task_id as number);
  const tasks = await waitForFinal(api.baseUrl, ids, 60_000);
  for (const [i, task] of tasks.entries()) {
    expect(task, outputs()).toMatchObject({
      status: "completed",
      output: fakeAnswer(accepted[i]!.prompt),
      error: null,
    });
  }
  expect(await ledgerOf(ids)).toEqual({
    rows: ids.length,
    tasks: ids.length,
    total: formatAmount(sumPico(accepted.map((a) => a.prompt))),
  });
  // Nothing is left behind: whatever was stored (a 503 could still have stored its task) has finished.
  let stored: { id: string; status: string }[] = [];
  await waitFor(
    async () => {
      stored = await storedTasks("redis outage ");
      return stored.every((row) => row.status === "completed");
    },
    20_000,
    { message: () => `every stored task to complete: ${JSON.stringify(stored)}\n${outputs()}` },
  );
  expect(stored.map((row) => Number(row.id)).sort((a, b) => a - b)).toEqual(expect.arrayContaining(ids));
  expect(await ledgerOf(stored.map((row) => Number(row.id)))).toMatchObject({
    rows: stored.length,
    tasks: stored.length,
  });
}, 150_000);

it("Redis stops answering on open connections (a partition): requests still answer within 5 s", async () => {
  const redisProxy = await proxyTo(env.redisUrl);
  // The rate limit counts in Redis too: on, as in production.
  const viaProxy = { ...baseEnv(), REDIS_URL: redisProxy.proxied(env.redisUrl), RATE_LIMIT_PER_MINUTE: "1200" };
  const api = track(await startApi(viaProxy));
  track(startProcess("worker", viaProxy));
  const warmUp = await postJson(api.baseUrl, "redis partition: warm-up");
  expect(warmUp.status, warmUp.text).toBe(202);
  const warmUpId = warmUp.body!.task_id as number;
  await waitForFinal(api.baseUrl, [warmUpId], 30_000);

  // Open connections stay open but nothing comes back; new ones are accepted and never answered.
  redisProxy.blackhole({ existing: "stall" });
  const seen: string[] = [];
  const prompts: string[] = [];
  const ids: number[] = [];
  for (let round = 0; round < 2; round++) {
    const prompt = `redis partition: stored ${round}`;
    const [post, read, health] = await Promise.all([
      postJson(api.baseUrl, prompt, 15_000),
      timed(`${api.baseUrl}/api/task/${warmUpId}`, {}, 15_000),
      timed(`${api.baseUrl}/health`, {}, 15_000),
    ]);
    seen.push(`POST ${post.status} ${post.ms}ms ${post.text}`, `GET ${read.status} ${read.ms}ms`);
    seen.push(`health ${health.status} ${health.ms}ms ${health.text}`);
    const report = seen.join("\n");
    // The task is stored (202) though it cannot be queued: the reconciler queues it later.
    expect(post.status, report).toBe(202);
    expect(post.ms, report).toBeLessThan(5000);
    prompts.push(prompt);
    ids.push(post.body!.task_id as number);
    // Reading a task needs only Postgres.
    expect(read.status, report).toBe(200);
    expect(read.ms, report).toBeLessThan(5000);
    expect(health.status, report).toBe(503);
    expect(health.body, report).toMatchObject({ checks: { database: "ok", redis: "down" } });
    expect(health.ms, report).toBeLessThan(5000);
  }
  console.info(`Redis partitioned:\n${seen.join("\n")}`);

  redisProxy.up();
  const tasks = await waitForFinal(api.baseUrl, ids, 45_000);
  for (const [i, task] of tasks.entries()) {
    expect(task, outputs()).toMatchObject({ status: "completed", output: fakeAnswer(prompts[i]!), error: null });
  }
  expect(await ledgerOf(ids)).toEqual({ rows: 2, tasks: 2, total: formatAmount(sumPico(prompts)) });
}, 90_000);

describe("Postgres unreachable", () => {
  let pgProxy: TcpProxy;
  let api: StartedApi;
  let worker: RunningProcess;

  async function startBehindProxy() {
    pgProxy = await proxyTo(env.databaseUrl);
    const viaProxy = { ...baseEnv(), DATABASE_URL: pgProxy.proxied(env.databaseUrl) };
    // Both run their migrations at start, so they start while the proxy is up.
    [api, worker] = await Promise.all([
      startApi(viaProxy).then(track),
      Promise.resolve(track(startProcess("worker", viaProxy))),
    ]);
  }

  it("answers 503 quickly while it is down, and recovers without a restart once it is back", async () => {
    await startBehindProxy();
    const pids = [api.proc.child.pid, worker.child.pid];
    const beforePrompt = "pg outage: submitted just before";
    // Its provider call is slow, so the outage starts while the worker holds it.
    script(beforePrompt, [{ kind: "ok", delayMs: 1500 }]);
    const before = await postJson(api.baseUrl, beforePrompt);
    expect(before.status).toBe(202);
    const beforeId = before.body!.task_id as number;
    await waitFor(() => callsOf(beforePrompt).length > 0, 20_000, {
      message: () => `the worker to run it\n${outputs()}`,
    });

    pgProxy.down();
    const downAt = Date.now();
    const seen: string[] = [];
    for (let round = 0; round < 2; round++) {
      const health = await timed(`${api.baseUrl}/health`);
      seen.push(`health ${health.status} ${health.ms}ms ${health.text}`);
      expect(health.status, seen.join("\n")).toBe(503);
      expect(health.body, seen.join("\n")).toMatchObject({
        status: "unhealthy",
        checks: { database: "down", redis: "ok" },
      });
      expect(health.ms).toBeLessThan(5000);

      const post = await postJson(api.baseUrl, `pg outage: refused ${round}`);
      seen.push(`POST ${post.status} ${post.ms}ms ${post.text}`);
      expect(post.status, seen.join("\n")).toBe(503);
      expect(post.body, seen.join("\n")).toMatchObject({ error: expect.any(String) });
      expect(post.ms, seen.join("\n")).toBeLessThan(5000);

      for (const path of ["/api/task/1", "/api/tasks", "/api/stats", "/api/report/daily"]) {
        const read = await timed(`${api.baseUrl}${path}`);
        seen.push(`GET ${path} ${read.status} ${read.ms}ms ${read.text}`);
        expect(read.status, seen.join("\n")).toBe(503);
        expect(read.body, seen.join("\n")).toMatchObject({ error: expect.any(String) });
        expect(read.ms, seen.join("\n")).toBeLessThan(5000);
      }
    }
    // Then many at once, twice: each failed connection attempt makes the driver wait longer before
    // the next one, so a burst is what shows whether answers stay quick as the failures pile up.
    for (let burst = 0; burst < 2; burst++) {
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          i % 3 === 0 ? postJson(api.baseUrl, `pg outage: refused burst ${i}`) : timed(`${api.baseUrl}/api/task/1`),
        ),
      );
      seen.push(`burst ${burst}: ${answers.map((a) => `${a.status}/${a.ms}ms`).join(" ")}`);
      const report = seen.join("\n");
      expect(
        answers.filter((a) => a.status !== 503).map((a) => a.status),
        report,
      ).toEqual([]);
      expect(Math.max(...answers.map((a) => a.ms)), report).toBeLessThan(5000);
    }
    console.info(`Postgres down:\n${seen.join("\n")}`);
    // Keep it down a few seconds in all, past the worker's retries of the task it held.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 4000 - (Date.now() - downAt))));
    pgProxy.up();

    await waitFor(async () => (await timed(`${api.baseUrl}/health`, {}, 3000)).status === 200, 15_000, {
      message: () => `/health to answer 200 again\n${outputs()}`,
    });
    const afterPrompt = "pg outage: submitted after";
    const after = await postJson(api.baseUrl, afterPrompt);
    expect(after.status, after.text).toBe(202);
    const afterId = after.body!.task_id as number;

    const tasks = await waitForFinal(api.baseUrl, [beforeId, afterId], 45_000);
    expect(tasks[0], outputs()).toMatchObject({ status: "completed", output: fakeAnswer(beforePrompt), error: null });
    // The outage hit it mid-run: its run waited for Postgres to record the answer, without another call.
    expect(tasks[0]!.attempts).toBe(1);
    expect(callsOf(beforePrompt)).toHaveLength(1);
    expect(tasks[1], outputs()).toMatchObject({ status: "completed", output: fakeAnswer(afterPrompt), error: null });
    expect(await ledgerOf([beforeId, afterId])).toEqual({
      rows: 2,
      tasks: 2,
      total: formatAmount(sumPico([beforePrompt, afterPrompt])),
    });
    // The refused POSTs stored nothing.
    expect(await storedTasks("pg outage: refused")).toEqual([]);
    // Same processes throughout.
    expect([api.proc.alive(), worker.alive()]).toEqual([true, true]);
    expect([api.proc.child.pid, worker.child.pid]).toEqual(pids);
  }, 120_000);

  it("answers 503 within about 6 s when Postgres is blackholed (connections accepted, never answered)", async () => {
    await startBehindProxy();
    // A finished task shows both processes are up (and done with their migrations).
    const warmUp = await postJson(api.baseUrl, "pg blackhole: warm-up");
    expect(warmUp.status, warmUp.text).toBe(202);
    await waitForFinal(api.baseUrl, [warmUp.body!.task_id as number], 30_000);

    pgProxy.blackhole();
    // Let the process see its open connections cut before asking. A query sent in the instant between
    // a pooled connection's socket error and its close is never settled by postgres.js 3.4.9 (see the
    // report of this suite); that race is not what this test measures.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const seen: string[] = [];
    const post = await postJson(api.baseUrl, "pg blackhole: refused", 15_000);
    seen.push(`POST ${post.status} ${post.ms}ms ${post.text}`);
    const read = await timed(`${api.baseUrl}/api/task/1`, {}, 15_000);
    seen.push(`GET /api/task/1 ${read.status} ${read.ms}ms ${read.text}`);
    const health = await timed(`${api.baseUrl}/health`, {}, 15_000);
    seen.push(`health ${health.status} ${health.ms}ms ${health.text}`);
    console.info(`Postgres blackholed:\n${seen.join("\n")}`);

    expect(post.status, seen.join("\n")).toBe(503);
    expect(post.body, seen.join("\n")).toMatchObject({ error: expect.any(String) });
    expect(post.ms, seen.join("\n")).toBeLessThan(6500);
    expect(read.status, seen.join("\n")).toBe(503);
    expect(read.ms, seen.join("\n")).toBeLessThan(6500);
    expect(health.status, seen.join("\n")).toBe(503);
    expect(health.body).toMatchObject({ checks: { database: "down", redis: "ok" } });
    expect(health.ms).toBeLessThan(5000);

    pgProxy.up();
    await waitFor(async () => (await timed(`${api.baseUrl}/health`, {}, 3000)).status === 200, 20_000, {
      message: () => `/health to answer 200 again\n${outputs()}`,
    });
    const back = await postJson(api.baseUrl, "pg blackhole: after");
    expect(back.status, back.text).toBe(202);
    const [task] = await waitForFinal(api.baseUrl, [back.body!.task_id as number], 30_000);
    expect(task).toMatchObject({ status: "completed" });
  }, 90_000);
});

it("ends provider faults as specified, through the real worker", async () => {
  const api = track(await startApi(baseEnv()));
  track(startProcess("worker", baseEnv()));

  const prompts = {
    malformed: "provider fault: malformed JSON once",
    reset: "provider fault: connection reset once",
    always500: "provider fault: always 500",
    noUsage: "provider fault: 200 without usage",
    rateLimited: "provider fault: 429 with Retry-After",
  };
  script(prompts.malformed, [{ kind: "malformed" }]);
  script(prompts.reset, [{ kind: "reset" }]);
  script(prompts.always500, () => ({ kind: "status", status: 500, message: "the fake is broken" }));
  script(prompts.noUsage, () => ({ kind: "ok", omitUsage: true }));
  script(prompts.rateLimited, [{ kind: "status", status: 429, message: "slow down", headers: { "retry-after": "1" } }]);

  const names = Object.keys(prompts) as (keyof typeof prompts)[];
  const ids = await Promise.all(
    names.map(async (name) => {
      const answer = await postJson(api.baseUrl, prompts[name]);
      expect(answer.status, answer.text).toBe(202);
      return answer.body!.task_id as number;
    }),
  );
  const finished = await waitForFinal(api.baseUrl, ids, 45_000);
  const task = Object.fromEntries(names.map((name, i) => [name, finished[i]!])) as Record<
    keyof typeof prompts,
    TaskJson
  >;
  const idOf = Object.fromEntries(names.map((name, i) => [name, ids[i]!])) as Record<keyof typeof prompts, number>;
  const report = () =>
    `${names.map((name) => `${name}: ${JSON.stringify(task[name])} calls=${callsOf(prompts[name]).length}`).join("\n")}\n${outputs()}`;

  for (const name of ["malformed", "reset", "rateLimited"] as const) {
    expect(task[name], report()).toMatchObject({
      status: "completed",
      output: fakeAnswer(prompts[name]),
      error: null,
      attempts: 2,
    });
    expect(callsOf(prompts[name]), report()).toHaveLength(2);
    expect(await ledgerOf([idOf[name]])).toEqual({ rows: 1, tasks: 1, total: formatAmount(sumPico([prompts[name]])) });
  }
  // The retry after a 429 waited at least the Retry-After second.
  const [first, second] = callsOf(prompts.rateLimited);
  expect(second! - first!).toBeGreaterThanOrEqual(1000);

  expect(task.always500, report()).toMatchObject({ status: "failed", output: null, cost: null, attempts: 3 });
  expect(callsOf(prompts.always500), report()).toHaveLength(3);
  expect(task.always500.error).toMatch(/500/);
  expect(task.always500.error).toContain("the fake is broken");
  expect(task.always500.error).not.toMatch(/\n\s+at /);

  expect(task.noUsage, report()).toMatchObject({
    status: "failed",
    output: null,
    cost: null,
    tokens_used: null,
    attempts: 1,
  });
  expect(task.noUsage.error).toContain("no token usage");
  expect(callsOf(prompts.noUsage), report()).toHaveLength(1);
  expect(await ledgerOf([idOf.noUsage, idOf.always500])).toEqual({ rows: 0, tasks: 0, total: null });

  // Nothing more happens to them later: a failed task is final.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(callsOf(prompts.always500)).toHaveLength(3);
  expect(callsOf(prompts.noUsage)).toHaveLength(1);
  expect((await getTask(api.baseUrl, idOf.always500)).status).toBe("failed");
}, 90_000);
