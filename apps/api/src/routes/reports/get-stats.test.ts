import { amountToNumber, ledgerEntries, minorUnitsToAmount, parseAmount, subscriptions } from "@aitasks/db";
import {
  expectedCostPico,
  type FakeChatServer,
  fakeUsage,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;
let fake: FakeChatServer;
let worker: RunningProcess | undefined;

beforeAll(async () => {
  [testApp, fake] = await Promise.all([createTestApp(env), startFakeChatServer()]);
});
afterEach(async () => {
  await worker?.stop();
  worker = undefined;
});
afterAll(async () => {
  await testApp.close();
  await fake.close();
});

/** gpt-4o-mini, $0.15 / $0.60 per 1M tokens, in pico-dollars: exact. */
const costPico = (prompt: string) => expectedCostPico("openai", prompt);
const tokensOf = (prompt: string) => {
  const usage = fakeUsage(prompt);
  return usage.promptTokens + usage.completionTokens;
};
/** Pico-dollars as the JSON number the API answers: the nearest double to the exact decimal. */
const usd = amountToNumber;

const getStats = async (url = "/api/stats") => {
  const response = await testApp.app.inject({ method: "GET", url });
  expect(response.statusCode).toBe(200);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  return response.json();
};

async function postTask(prompt: string, userId?: string): Promise<number> {
  const response = await testApp.app.inject({
    method: "POST",
    url: "/api/task",
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({ prompt, ...(userId ? { user_id: userId } : {}) }),
  });
  expect(response.statusCode).toBe(202);
  return response.json().task_id;
}

async function waitUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("GET /api/stats", () => {
  it("answers zeros in the SPEC shape when nothing has happened", async () => {
    expect(await getStats()).toEqual({
      tasks: {
        total: 0,
        pending: 0,
        processing: 0,
        completed: 0,
        failed: 0,
        canceled: 0,
        total_tokens: 0,
        total_cost: 0,
      },
      users: { total: 0, subscriptions: 0 },
      financials: { currency: "usd", total_income: 0, total_expenses: 0, profit: 0 },
    });
  });

  it("counts tasks through their lifecycle, users, subscriptions and the ledger exactly", async () => {
    const okPrompts = ["stats: what is 2 + 2?", "stats: name a colour", "stats: spell 'ledger' backwards please"];
    const slowPrompt = "stats: take your time";
    const failPrompt = "stats: this key is revoked";
    // Queued with no worker running: all pending. Users come from user_id, each identifier once.
    const ids = [
      await postTask(okPrompts[0]!, "alice@example.com"),
      await postTask(okPrompts[1]!, "bob"),
      await postTask(okPrompts[2]!, "alice@example.com"),
      await postTask(slowPrompt),
      await postTask(failPrompt, "carol"),
    ];
    expect(new Set(ids).size).toBe(5);
    expect(await getStats()).toEqual({
      tasks: {
        total: 5,
        pending: 5,
        processing: 0,
        completed: 0,
        failed: 0,
        canceled: 0,
        total_tokens: 0,
        total_cost: 0,
      },
      users: { total: 3, subscriptions: 0 },
      financials: { currency: "usd", total_income: 0, total_expenses: 0, profit: 0 },
    });

    // The real worker takes them: the slow one is held at the fake until released, the revoked key fails at once.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    fake.setReply(async (request) => {
      if (request.prompt === failPrompt) return { kind: "status", status: 401, message: "Incorrect API key provided" };
      if (request.prompt === slowPrompt) await released;
      return { kind: "ok" };
    });
    worker = startWorkerProcess(env, fake);

    const completedPico = okPrompts.reduce((sum, prompt) => sum + costPico(prompt), 0n);
    const completedTokens = okPrompts.reduce((sum, prompt) => sum + tokensOf(prompt), 0);
    const midway = await waitUntil(
      () => getStats(),
      (stats) => stats.tasks.completed === 3 && stats.tasks.failed === 1 && stats.tasks.processing === 1,
    );
    expect(midway.tasks).toEqual({
      total: 5,
      pending: 0,
      processing: 1,
      completed: 3,
      failed: 1,
      canceled: 0,
      total_tokens: completedTokens,
      total_cost: usd(completedPico),
    });
    expect(midway.financials).toEqual({
      currency: "usd",
      total_income: 0,
      total_expenses: usd(completedPico),
      profit: usd(-completedPico),
    });

    release();
    const allPrompts = [...okPrompts, slowPrompt];
    const totalPico = allPrompts.reduce((sum, prompt) => sum + costPico(prompt), 0n);
    const totalTokens = allPrompts.reduce((sum, prompt) => sum + tokensOf(prompt), 0);
    const finished = await waitUntil(
      () => getStats(),
      (stats) => stats.tasks.completed === 4,
    );
    expect(finished).toEqual({
      tasks: {
        total: 5,
        pending: 0,
        processing: 0,
        completed: 4,
        failed: 1,
        canceled: 0,
        total_tokens: totalTokens,
        total_cost: usd(totalPico),
      },
      users: { total: 3, subscriptions: 0 },
      financials: { currency: "usd", total_income: 0, total_expenses: usd(totalPico), profit: usd(-totalPico) },
    });
    // The failed task was charged nothing; the fake was called once for it (401 is not retried).
    expect(fake.requests.filter((request) => request.prompt === failPrompt)).toHaveLength(1);

    // Income as the webhook handlers book it, and subscriptions in various states.
    let sequence = 0;
    const income = (category: "subscription" | "micro_payment" | "refund", amount: string) =>
      testApp.db.insert(ledgerEntries).values({
        kind: "income",
        category,
        amountUsd: amount,
        occurredAt: new Date("2025-01-15T10:00:00Z"),
        stripeObjectId: `stats_obj_${++sequence}`,
      });
    await income("subscription", "19.99");
    await income("subscription", "19.99");
    await income("micro_payment", "1.00");
    await income("refund", "-0.50");
    await testApp.db.insert(subscriptions).values(
      (["active", "active", "canceled", "incomplete", "incomplete_expired"] as const).map((status, i) => ({
        id: `sub_stats_${i}`,
        status,
        stateAt: new Date(),
      })),
    );
    const incomePico = parseAmount(minorUnitsToAmount(2 * 1999 + 100 - 50, "usd"));

    const stats = await getStats();
    expect(stats).toEqual({
      tasks: finished.tasks,
      users: { total: 3, subscriptions: 2 },
      financials: {
        currency: "usd",
        total_income: 40.48,
        total_expenses: usd(totalPico),
        profit: usd(incomePico - totalPico),
      },
    });
    expect(usd(incomePico)).toBe(40.48);
    // Stats are live: no rollup needed, unlike the reports.
    expect(await getStats("/api/v1/stats")).toEqual(stats);

    // A cancellation takes the subscription out of the count.
    await testApp.sql`update subscriptions set status = 'canceled' where id = 'sub_stats_0'`;
    expect((await getStats()).users).toEqual({ total: 3, subscriptions: 1 });
  });
});
