// Usage a provider reported is a fact until it is booked: Postgres unreachable between a
// provider's answer and its booking, longer than the queue's attempts last, or the worker killed
// while it waits for Postgres, must neither lose the call's cost nor call the provider again.
// Through the real processes: the worker reaches Postgres through a TCP proxy that the fake
// provider takes down at the moment it is called, so the answer always arrives during the outage.
import { formatAmount, parseAmount } from "@aitasks/db";
import {
  expectedCostPico,
  type FakeChatServer,
  fakeAnswer,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startTcpProxy,
  startWorkerProcess,
  type TcpProxy,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";

const env = useTestEnvironment();
const ADMIN = "admin-key-booking-outage-0123456789";
let fake: FakeChatServer;
let sql: postgres.Sql;
let redis: Redis;
let pgProxy: TcpProxy;
/** What the fake does when a prompt first reaches it, before it answers. */
const onCall = new Map<string, () => void>();
const calls = new Map<string, number>();
const started: RunningProcess[] = [];

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    calls.set(request.prompt, (calls.get(request.prompt) ?? 0) + 1);
    onCall.get(request.prompt)?.();
    onCall.delete(request.prompt);
    return { kind: "ok", delayMs: 500 };
  });
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
  redis = new Redis(env.redisUrl);
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((proc) => proc.kill9()));
  await pgProxy?.close();
  onCall.clear();
});
afterAll(async () => {
  await killAll();
  await sql?.end({ timeout: 5 });
  redis?.disconnect();
  await fake?.close();
});

const outputs = () => started.map((proc) => `--- ${proc.name} ---\n${proc.output().slice(-6000)}`).join("\n");

/** A worker whose Postgres is the proxy; short locks and reconciliation, as in the other chaos tests. */
function startWorkerBehindProxy() {
  const worker = startWorkerProcess(env, fake, {
    DATABASE_URL: pgProxy.proxied(env.databaseUrl),
    WORKER_LOCK_DURATION_MS: "2000",
    RECONCILE_AFTER_MS: "2000",
    TASK_MAX_ATTEMPTS: "3",
    WORKER_HTTP_PORT: "0",
  });
  started.push(worker);
  return worker;
}

async function call(api: StartedApi, path: string, body: unknown) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** The API (straight to Postgres: only the worker's database goes away), prepaid, with a user holding $1. */
async function startPrepaid(user: string) {
  const api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ADMIN_API_KEY: ADMIN,
    BILLING_MODE: "prepaid",
  });
  started.push(api.proc);
  expect((await call(api, "/api/users", { user_id: user })).status).toBeLessThan(300);
  const granted = await call(api, "/api/credits", { user_id: user, amount: "1.00", reason: "booking outage" });
  expect(granted.status, JSON.stringify(granted.body)).toBe(201);
  return api;
}

async function submit(api: StartedApi, prompt: string, user: string) {
  const answer = await call(api, "/api/task", { prompt, user_id: user, max_tokens: 200 });
  expect(answer.status, JSON.stringify(answer.body)).toBe(202);
  return answer.body.task_id as number;
}

async function waitForCompleted(id: number, timeoutMs: number) {
  let status = "";
  await waitFor(
    async () => {
      [{ status = "" } = {}] = await sql<{ status: string }[]>`select status from tasks where id = ${id}`;
      return status === "completed" || status === "failed";
    },
    timeoutMs,
    { intervalMs: 200, message: () => `task ${id} to finish (now ${status})\n${outputs()}` },
  );
}

/** What the task's calls cost us and what its user was charged. */
async function booksOf(id: number, user: string) {
  const costs = await sql<{ amount: string; run_id: string }[]>`
    select amount_usd::text as amount, run_id from ledger_entries where category = 'api_cost' and task_id = ${id}`;
  const [task] = await sql<{ status: string; output: string; charged: string; attempts: number }[]>`
    select status, output, charged_usd::text as charged, attempts from tasks where id = ${id}`;
  const [credit] = await sql<{ charges: string[]; balance: string; held: string }[]>`
    select array(select amount::text from credit_entries where source = 'task' and task_id = ${id}) as charges,
      b.balance::text as balance, b.held::text as held
    from users u join credit_balances b on b.user_id = u.id where u.identifier = ${user}`;
  return { costs, task: task!, credit: credit! };
}

it("Postgres unreachable from the answer until long after the queue's attempts: one call, one api_cost, one charge", async () => {
  pgProxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(env.databaseUrl).port) });
  const user = "blip@example.com";
  const api = await startPrepaid(user);
  startWorkerBehindProxy();
  const prompt = "the provider answers while Postgres is away";
  let downAt = 0;
  onCall.set(prompt, () => {
    pgProxy.down();
    downAt = Date.now();
  });

  const id = await submit(api, prompt, user);
  await waitFor(() => downAt > 0, 20_000, { message: () => `the provider to be called\n${outputs()}` });
  // Three attempts with backoff (1 s, 2 s) would be spent well within this; the reconciler then
  // queued the task again and called the provider a second time.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  pgProxy.up();
  await waitForCompleted(id, 30_000);

  const books = await booksOf(id, user);
  expect(calls.get(prompt), outputs()).toBe(1);
  expect(books.costs.map((cost) => cost.amount)).toEqual([formatAmount(expectedCostPico("openai", prompt))]);
  expect(books.task).toMatchObject({ status: "completed", output: fakeAnswer(prompt), attempts: 1 });
  expect(books.credit.charges).toEqual([`-${books.task.charged}`]);
  expect(parseAmount(books.credit.held)).toBe(0n);
  expect(parseAmount(books.credit.balance)).toBe(1_000_000_000_000n - parseAmount(books.task.charged));
}, 120_000);

it("the worker killed while it waits for Postgres: the next worker books the answer it kept, without a call", async () => {
  pgProxy = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(env.databaseUrl).port) });
  const user = "killed@example.com";
  const api = await startPrepaid(user);
  const first = startWorkerBehindProxy();
  const prompt = "the provider answers, then the worker is killed";
  onCall.set(prompt, () => pgProxy.down());

  const id = await submit(api, prompt, user);
  // The answer is in the job's data (in Redis) before its booking, which waits for Postgres.
  const keptAnswer = await waitFor(
    async () => {
      const data = await redis.hget(`${env.queuePrefix}:tasks:task-${id}`, "data");
      return data ? (JSON.parse(data) as { answer?: { runId: string; text: string } }).answer : undefined;
    },
    20_000,
    { message: () => `the answer to be kept in the job\n${outputs()}` },
  );
  expect(keptAnswer.text).toBe(fakeAnswer(prompt));
  await first.kill9();
  pgProxy.up();
  startWorkerBehindProxy();
  await waitForCompleted(id, 30_000);

  const books = await booksOf(id, user);
  expect(calls.get(prompt), outputs()).toBe(1);
  expect(books.costs).toEqual([{ amount: formatAmount(expectedCostPico("openai", prompt)), run_id: keptAnswer.runId }]);
  expect(books.task).toMatchObject({ status: "completed", output: fakeAnswer(prompt), attempts: 2 });
  expect(books.credit.charges).toEqual([`-${books.task.charged}`]);
  expect(parseAmount(books.credit.held)).toBe(0n);
}, 120_000);
