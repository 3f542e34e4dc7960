// The client over real HTTP against the API process as an operator starts it (dist/api/main.mjs),
// in prepaid billing, with a real worker process, Postgres and Redis, and fakes of the providers
// and Stripe only. Every answer is also parsed with its contract schema: the types the client
// gives are the shapes the API sends.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  ApiKey,
  ApiKeyList,
  Balance,
  CheckoutSession,
  CompletedTask,
  CreatedApiKey,
  CreditGrant,
  Health,
  Ledger,
  Report,
  Stats,
  SubmittedBatch,
  SubmittedTask,
  TaskList,
  TaskView,
  User,
} from "@aitasks/contract";
import {
  type FakeChatServer,
  type FakeStripeServer,
  fakeAnswer,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startFakeStripeServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "./api-error.js";
import { type Client, createClient } from "./create-client.js";
import type { TaskEvent } from "./types.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-client-0123456789";
const PIECES = ["Paris ", "is the ", "capital — é🙂"];
let fake: FakeChatServer;
let stripe: FakeStripeServer;
let api: StartedApi;
let worker: RunningProcess;
let admin: Client;
/** A user with $5 of credit, and a client with that user's key. */
let ada: { identifier: string; client: Client };

beforeAll(async () => {
  [fake, stripe] = await Promise.all([
    startFakeChatServer((request) => {
      if (request.prompt.startsWith("slow")) return { kind: "ok", delayMs: 5000 };
      if (request.prompt.startsWith("streamed"))
        return { kind: "ok", text: PIECES.join(""), pieces: PIECES, pieceDelayMs: 50 };
      return { kind: "ok" };
    }),
    startFakeStripeServer(),
  ]);
  api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ADMIN_API_KEY: ADMIN,
    BILLING_MODE: "prepaid",
    STRIPE_API_BASE_URL: stripe.url,
    STRIPE_SECRET_KEY: "sk_test_123",
    STRIPE_WEBHOOK_SECRET: "whsec_test",
    STRIPE_SUBSCRIPTION_PRICE_ID: "price_123",
  });
  worker = startWorkerProcess(env, fake);
  admin = createClient({ baseUrl: api.baseUrl, apiKey: ADMIN });
  const identifier = "ada@example.com";
  const { key } = await admin.createKey({ user_id: identifier });
  await admin.grantCredit({ user_id: identifier, amount: "5", reason: "client tests" });
  ada = { identifier, client: createClient({ baseUrl: `${api.baseUrl}/`, apiKey: key }) };
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await api?.proc.stop();
  await Promise.all([fake?.close(), stripe?.close()]);
});

/** The ApiError `promise` rejects with (failing if it resolves or rejects with anything else). */
async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ApiError);
  return error as ApiError;
}

describe("tasks", () => {
  it("submits a task, waits for it and reads it", async () => {
    const submitted = await ada.client.submitTask({ prompt: "what is 2 + 2?", priority: 3 });
    expect(SubmittedTask.parse(submitted)).toEqual({
      task_id: expect.any(Number),
      status: "pending",
      provider: "openai",
    });

    const finished = await ada.client.waitForTask(submitted.task_id, { timeoutMs: 20_000 });
    expect(finished).toMatchObject({
      id: submitted.task_id,
      status: "completed",
      output: fakeAnswer("what is 2 + 2?"),
    });
    expect(finished).toMatchObject({ priority: 3, user_id: ada.identifier, charged: expect.any(Number) });
    const task = await ada.client.getTask(submitted.task_id);
    expect(TaskView.parse(task)).toEqual(task);
    expect(task).toEqual(finished);
  });

  it("submits with wait and gets the completed answer", async () => {
    const answer = await ada.client.submitTask({ prompt: "waited for", provider: "mistral" }, { wait: 20 });
    expect(CompletedTask.parse(answer)).toEqual({
      task_id: expect.any(Number),
      status: "completed",
      response: fakeAnswer("waited for"),
      tokens_used: expect.any(Number),
      cost: expect.any(Number),
      provider: "mistral",
    });
  });

  it("submits a batch, and lists the tasks page after page", async () => {
    const batch = await ada.client.submitBatch([{ prompt: "batch 1" }, { prompt: "batch 2" }, { prompt: "batch 3" }]);
    expect(SubmittedBatch.parse(batch).tasks).toHaveLength(3);
    const ids = batch.tasks.map((task) => task.task_id);

    const page = await ada.client.listTasks({ limit: 2 });
    expect(TaskList.parse(page)).toEqual(page);
    expect(page.tasks.map((task) => task.id)).toEqual([ids[2], ids[1]]);
    expect(page.next_cursor).toEqual(expect.any(String));

    const all: number[] = [];
    for await (const task of ada.client.iterateTasks({ limit: 2 })) all.push(task.id);
    expect(all.slice(0, 3)).toEqual([...ids].reverse());
    expect(all).toEqual([...all].sort((a, b) => b - a));
    expect(new Set(all).size).toBe(all.length);
  });

  it("cancels a task, and a second cancel throws 409 with the task's status", async () => {
    const { task_id } = await ada.client.submitTask({ prompt: "slow: to be canceled" });
    const canceled = await ada.client.cancelTask(task_id);
    expect(canceled).toMatchObject({ id: task_id, status: "canceled", charged: null });

    const error = await apiError(ada.client.cancelTask(task_id));
    expect(error).toMatchObject({ status: 409, code: "CONFLICT", requestId: expect.any(String) });
    expect(error.body.status).toBe("canceled");
  });

  it("streams a task's events: statuses and deltas, ending after the final status", async () => {
    const { task_id } = await ada.client.submitTask({ prompt: "streamed: capital of France?", stream: true });
    const events: TaskEvent[] = [];
    for await (const event of ada.client.events(task_id)) events.push(event);

    const last = events.at(-1);
    expect(last).toMatchObject({ type: "status", id: "end", task: { status: "completed" } });
    const deltas = events.flatMap((event) => (event.type === "delta" ? [event.text] : []));
    expect(deltas.join("")).toBe(PIECES.join(""));
    expect(last?.type === "status" && last.task.output).toBe(PIECES.join(""));
    expect(events[0]).toMatchObject({ type: "status" });
  });

  it("lists a task's callbacks", async () => {
    const { task_id } = await ada.client.submitTask({ prompt: "no callback" });
    expect(await ada.client.listCallbacks(task_id)).toEqual({
      task_id,
      callback_url: null,
      state: "none",
      webhook_id: null,
      next_attempt_at: null,
      attempts: [],
    });
  });
});

describe("errors", () => {
  it("throws 402 with available and required, and stores nothing", async () => {
    const { key } = await admin.createKey({ user_id: "broke@example.com" });
    const broke = createClient({ baseUrl: api.baseUrl, apiKey: key });
    const error = await apiError(broke.submitTask({ prompt: "no credit" }));
    expect(error).toMatchObject({ status: 402, code: "INSUFFICIENT_CREDIT", requestId: expect.any(String) });
    expect(error.body).toMatchObject({ available: 0, required: expect.any(Number) });
    expect(error.message).toBe(error.error);
    expect((await broke.listTasks()).tasks).toEqual([]);
  });

  it("throws 400, 401, 403 and 404 with their codes", async () => {
    expect(await apiError(ada.client.submitTask({ prompt: "  " }))).toMatchObject({
      status: 400,
      code: "VALIDATION",
      error: expect.stringContaining("prompt"),
    });
    expect(await apiError(ada.client.getTask(999_999))).toMatchObject({ status: 404, code: "NOT_FOUND" });
    expect(await apiError(ada.client.listKeys())).toMatchObject({ status: 403, code: "FORBIDDEN" });
    const anonymous = createClient({ baseUrl: api.baseUrl });
    expect(await apiError(anonymous.getStats())).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
  });

  it("gives up after its timeout", async () => {
    // A server that takes the request and never answers: against the real API a 1 ms timeout
    // races the answer, which a fast machine sometimes wins.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const impatient = createClient({ baseUrl: `http://127.0.0.1:${port}`, apiKey: ADMIN, timeoutMs: 100 });
      await expect(impatient.getStats()).rejects.toMatchObject({ name: "TimeoutError" });
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});

describe("keys, credit, money and reports", () => {
  it("creates, lists and revokes keys; a revoked key is refused", async () => {
    const created = await admin.createKey({ user_id: "grace@example.com" });
    expect(CreatedApiKey.parse(created)).toEqual(created);
    const { keys } = ApiKeyList.parse(await admin.listKeys());
    expect(keys.map((key) => key.id)).toContain(created.id);
    const budgeted = await admin.updateKey(created.id, { budget: { amount: "2.5", period: "day" } });
    expect(ApiKey.parse(budgeted).budget).toEqual({ amount: 2.5, period: "day", spent: 0, held: 0, remaining: 2.5 });
    expect((await admin.updateKey(created.id, { budget: null })).budget).toBeNull();
    const revoked = await admin.revokeKey(created.id);
    expect(ApiKey.parse(revoked)).toMatchObject({ id: created.id, revoked_at: expect.any(String) });
    const grace = createClient({ baseUrl: api.baseUrl, apiKey: created.key });
    expect(await apiError(grace.getBalance())).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
  });

  it("creates a user before it has a key, and answers the same user when asked again", async () => {
    const created = await admin.createUser({ user_id: "hopper@example.com" });
    expect(User.parse(created)).toMatchObject({ user_id: "hopper@example.com" });
    expect(await admin.createUser({ user_id: "hopper@example.com" })).toEqual(created);
    expect(await apiError(ada.client.createUser({ user_id: "mallory@example.com" }))).toMatchObject({
      status: 403,
      code: "FORBIDDEN",
    });
  });

  it("grants credit and reads balances", async () => {
    const grant = await admin.grantCredit({ user_id: ada.identifier, amount: 0.5, reason: "bonus" });
    expect(CreditGrant.parse(grant)).toMatchObject({ source: "admin", amount: 0.5, reason: "bonus" });
    const own = await ada.client.getBalance();
    expect(Balance.parse(own)).toMatchObject({ user_id: ada.identifier, currency: "usd" });
    expect(await admin.getBalance({ user_id: ada.identifier })).toEqual(own);
    expect(own.available).toBeCloseTo(own.balance - own.held, 6);
  });

  it("starts Stripe checkouts", async () => {
    const subscription = await admin.createSubscriptionCheckout({ email: "buyer@example.com" });
    expect(CheckoutSession.parse(subscription).checkout_url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
    const micro = await admin.createMicroCheckout({ user_id: ada.identifier, description: "AI Task Processing" });
    expect(micro.checkout_url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
  });

  it("reads the health, stats, reports and the ledger as JSON and CSV", async () => {
    expect(Health.parse(await admin.health())).toMatchObject({ status: "healthy" });
    const stats = await admin.getStats();
    expect(Stats.parse(stats)).toEqual(stats);
    expect(stats.tasks.total).toBeGreaterThan(0);

    const daily = await admin.getReport("daily");
    expect(Report.parse(daily)).toEqual(daily);
    const monthly = await admin.getReport("monthly", { date: "2025-01-15", group_by: "model" });
    expect(monthly).toMatchObject({ period: "monthly", start: "2025-01-01", end: "2025-01-31", groups: [] });

    const today = new Date().toISOString().slice(0, 10);
    const ledger = await admin.getLedger({ from: today, to: today });
    expect(Ledger.parse(ledger)).toEqual(ledger);
    const grants = ledger.entries.filter((entry) => entry.book === "credit" && entry.category === "admin");
    expect(grants.map((entry) => entry.amount)).toEqual(expect.arrayContaining([5, 0.5]));

    const csv = await admin.getLedgerCsv({ from: today, to: today });
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe(
      "book,id,occurred_at,kind,category,amount,currency,user_id,task_id,reference,original_amount,original_currency",
    );
    expect(lines.filter((line) => line !== "")).toHaveLength(ledger.entries.length + 1);
  });
});
