import { amountToNumber, createDatabase, minorUnitsToAmount, parseAmount } from "@aitasks/db";
import { findMoneyViolations } from "@aitasks/ledger";
// End to end, the money path: Checkout sessions at a fake Stripe, signed webhooks posted over HTTP
// as Stripe posts them, tasks charged at their exact cost, the scheduled rollup, the reports and
// the stats, against the real API and worker processes, Postgres and Redis.
import {
  exitWithin,
  expectedCostPico,
  type FakeChatServer,
  type FakeStripeServer,
  killAll,
  postTask,
  type RunningProcess,
  type StartedApi,
  signStripeEvent,
  spawnCommand,
  startApi,
  startFakeChatServer,
  startFakeStripeServer,
  startProcess,
  stripeEvent,
  useTestEnvironment,
  waitFor,
  waitForFinished,
} from "@aitasks/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const WEBHOOK_SECRET = "whsec_test";
const EMAIL = "buyer@example.com";
const cents = (n: number) => parseAmount(minorUnitsToAmount(n, "usd"));
/** Pico-dollars as the JSON number the API should answer: the nearest double to the exact decimal. */
const usd = amountToNumber;

let fake: FakeChatServer;
let stripe: FakeStripeServer;
let sql: postgres.Sql;
let api: StartedApi;
const procs: RunningProcess[] = [];
const outputs = () => procs.map((proc) => `--- ${proc.name} ---\n${proc.output()}`).join("\n");

function baseEnv(): Record<string, string> {
  return {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mk-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
  };
}
const apiEnv = () => ({
  ...baseEnv(),
  STRIPE_API_BASE_URL: stripe.url,
  STRIPE_SECRET_KEY: "sk_test_123",
  STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
  STRIPE_SUBSCRIPTION_PRICE_ID: "price_123",
});
const workerEnv = () => ({ ...baseEnv(), REPORT_ROLLUP_INTERVAL_MS: "1000", WORKER_LOCK_DURATION_MS: "2000" });

async function json(path: string, init: RequestInit = {}) {
  const response = await fetch(`${api.baseUrl}${path}`, { signal: AbortSignal.timeout(10_000), ...init });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
const postJson = (path: string, body: unknown) =>
  json(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** Posts a webhook exactly as Stripe does: the signed bytes, the signature header. */
async function deliver(event: ReturnType<typeof stripeEvent>, secret = WEBHOOK_SECRET) {
  const { payload, headers } = signStripeEvent(event, secret);
  return json("/api/webhook/stripe", { method: "POST", headers, body: payload });
}

beforeAll(async () => {
  [fake, stripe] = await Promise.all([startFakeChatServer(), startFakeStripeServer()]);
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
  const [started] = await Promise.all([
    startApi(apiEnv()),
    Promise.resolve(startProcess("worker", workerEnv())).then((proc) => procs.push(proc)),
  ]);
  api = started;
  procs.push(api.proc);
}, 60_000);

afterAll(async () => {
  await killAll();
  await sql?.end({ timeout: 5 });
  await Promise.all([fake?.close(), stripe?.close()]);
});

describe("the money path through the real processes", () => {
  const today = new Date().toISOString().slice(0, 10);
  let userId: number;
  let customerId: string;
  const prompts = ["money 1: what is a ledger?", "money 2: define profit", "money 3: explain a refund"];
  // Stripe's fees on the two payments are expenses too.
  const feesPico = cents(33) + cents(88);
  let expensesPico = feesPico;
  const incomePico = cents(100) + cents(1999) - cents(50);
  let reports: Record<"daily" | "weekly" | "monthly", Record<string, unknown>>;
  let stats: unknown;

  it("opens Checkout sessions at Stripe for a subscription and a micro-payment", async () => {
    const subscription = await postJson("/api/payment/subscription", { email: EMAIL });
    expect(subscription, outputs()).toEqual({
      status: 200,
      body: { checkout_url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//) },
    });
    const micro = await postJson("/api/payment/micro", { user_id: EMAIL });
    expect(micro).toEqual({
      status: 200,
      body: { checkout_url: expect.stringMatching(/^https:\/\/checkout\.stripe\.com\//) },
    });
    expect(micro.body.checkout_url).not.toBe(subscription.body.checkout_url);

    const [user] = await sql<{ id: number; stripe_customer_id: string }[]>`
      select id::int as id, stripe_customer_id from users where identifier = ${EMAIL}`;
    expect(user?.stripe_customer_id).toMatch(/^cus_fake_/);
    userId = user!.id;
    customerId = user!.stripe_customer_id;

    expect(stripe.requests.every((request) => request.authorization === "Bearer sk_test_123")).toBe(true);
    // One customer for the user, reused by the second checkout.
    expect(stripe.requests.filter((request) => request.path === "/v1/customers")).toHaveLength(1);
    const sessions = stripe.requests.filter((request) => request.path === "/v1/checkout/sessions");
    expect(sessions).toHaveLength(2);
    expect(sessions[0]!.form).toMatchObject({
      mode: "subscription",
      customer: customerId,
      "line_items[0][price]": "price_123",
      "line_items[0][quantity]": "1",
      "metadata[user_id]": String(userId),
      "subscription_data[metadata][user_id]": String(userId),
    });
    expect(sessions[1]!.form).toMatchObject({
      mode: "payment",
      customer: customerId,
      "line_items[0][price_data][unit_amount]": "100",
      "line_items[0][price_data][currency]": "usd",
      "metadata[user_id]": String(userId),
    });
  });

  it("books what Stripe's signed webhooks report, as Stripe settled it, each event once", async () => {
    // What Stripe's API says was settled: the balance transactions, with Stripe's fees.
    const settled = (id: string, charge: string, amount: number, fee: number) => ({
      id: `pi_${id}`,
      object: "payment_intent",
      latest_charge: {
        id: charge,
        object: "charge",
        balance_transaction: { id: `txn_${id}`, object: "balance_transaction", amount, fee, currency: "usd" },
      },
    });
    stripe.answer("GET", "/v1/payment_intents/pi_x", () => settled("x", "ch_x", 100, 33));
    stripe.answer("GET", "/v1/payment_intents/pi_sub", () => settled("sub", "ch_sub", 1999, 88));
    stripe.answer("GET", "/v1/invoice_payments", (query) =>
      query.get("invoice") === "in_x"
        ? {
            object: "list",
            has_more: false,
            data: [{ id: "inpay_x", status: "paid", payment: { type: "payment_intent", payment_intent: "pi_sub" } }],
          }
        : undefined,
    );
    stripe.answer("GET", "/v1/refunds", (query) =>
      query.get("charge") === "ch_x"
        ? {
            object: "list",
            has_more: false,
            data: [
              {
                id: "re_x",
                object: "refund",
                amount: 50,
                currency: "usd",
                charge: "ch_x",
                status: "succeeded",
                balance_transaction: {
                  id: "txn_re_x",
                  object: "balance_transaction",
                  amount: -50,
                  fee: 0,
                  currency: "usd",
                },
              },
            ],
          }
        : undefined,
    );
    const events = [
      stripeEvent("checkout.session.completed", {
        id: "cs_test_micro",
        object: "checkout.session",
        mode: "payment",
        payment_status: "paid",
        amount_total: 100,
        currency: "usd",
        customer: customerId,
        payment_intent: "pi_x",
        metadata: { user_id: String(userId) },
      }),
      stripeEvent("checkout.session.completed", {
        id: "cs_test_sub",
        object: "checkout.session",
        mode: "subscription",
        payment_status: "paid",
        amount_total: 1999,
        currency: "usd",
        customer: customerId,
        subscription: "sub_x",
        metadata: { user_id: String(userId) },
      }),
      stripeEvent("customer.subscription.created", {
        id: "sub_x",
        object: "subscription",
        status: "active",
        customer: customerId,
        cancel_at_period_end: false,
        metadata: { user_id: String(userId) },
        items: {
          object: "list",
          data: [{ price: { id: "price_123" }, current_period_end: Math.floor(Date.now() / 1000) + 30 * 86_400 }],
        },
      }),
      stripeEvent("invoice.paid", {
        id: "in_x",
        object: "invoice",
        amount_paid: 1999,
        currency: "usd",
        customer: customerId,
        status: "paid",
        parent: { type: "subscription_details", subscription_details: { subscription: "sub_x", metadata: {} } },
      }),
      stripeEvent("charge.refunded", {
        id: "ch_x",
        object: "charge",
        amount: 100,
        amount_refunded: 50,
        currency: "usd",
        customer: customerId,
        payment_intent: "pi_x",
        metadata: { user_id: String(userId) },
      }),
    ];
    for (const event of events) {
      expect(await deliver(event), `${event.type}\n${outputs()}`).toEqual({
        status: 200,
        body: { status: "success" },
      });
    }
    // Stripe retries: the same events again book nothing more.
    for (const event of [events[0]!, events[3]!, events[4]!]) {
      expect(await deliver(event)).toEqual({ status: 200, body: { status: "success" } });
    }
    // A forged delivery is refused and books nothing.
    const forged = await deliver(
      stripeEvent("invoice.paid", { id: "in_forged", object: "invoice", amount_paid: 100_000, currency: "usd" }),
      "whsec_wrong",
    );
    expect(forged.status).toBe(400);
    expect(forged.body.error).toEqual(expect.any(String));

    const ledger = await sql<{ category: string; amount: string; user_id: number | null }[]>`
      select category::text, amount_usd::text as amount, user_id::int as user_id
      from ledger_entries where task_id is null order by id`;
    expect(ledger).toEqual([
      { category: "micro_payment", amount: "1.000000000000", user_id: userId },
      { category: "payment_fee", amount: "0.330000000000", user_id: userId },
      { category: "subscription", amount: "19.990000000000", user_id: userId },
      { category: "payment_fee", amount: "0.880000000000", user_id: userId },
      { category: "refund", amount: "-0.500000000000", user_id: userId },
    ]);
    const subscriptions = await sql`select id, status, user_id::int as user_id, price_id from subscriptions`;
    expect(subscriptions).toEqual([{ id: "sub_x", status: "active", user_id: userId, price_id: "price_123" }]);
  });

  it("runs three tasks and books each one's exact cost", async () => {
    const ids: number[] = [];
    for (const [i, prompt] of prompts.entries()) {
      // One task by the paying user, one by a new user, one anonymous.
      const userIdOf = [EMAIL, "task-only-user", undefined][i];
      const answer = await postTask(api.baseUrl, { prompt, ...(userIdOf ? { user_id: userIdOf } : {}) });
      expect(answer.status).toBe(202);
      ids.push(answer.body.task_id);
    }
    const tasks = await waitForFinished(api.baseUrl, ids, 30_000, outputs);
    for (const [i, task] of tasks.entries()) {
      const pico = expectedCostPico("openai", prompts[i]!);
      expensesPico += pico;
      expect(task).toMatchObject({ status: "completed", model: "gpt-4o-mini", cost: usd(pico) });
    }
  });

  it("reports the books once the scheduled rollup has run after the last booking", async () => {
    const [last] = await sql<{ at: Date }[]>`select max(created_at) as at from ledger_entries`;
    let latest: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        latest = await json(`/api/report/daily?date=${today}`);
        const generatedAt = latest.body.generated_at as string | null;
        return (
          latest.status === 200 &&
          generatedAt !== null &&
          new Date(generatedAt) > last!.at &&
          latest.body.income === usd(incomePico) &&
          latest.body.expenses === usd(expensesPico)
        );
      },
      15_000,
      { intervalMs: 200, message: () => `the rollup to catch up; last report ${JSON.stringify(latest)}\n${outputs()}` },
    );

    const expected = {
      currency: "usd",
      other_currencies: {},
      income: usd(incomePico),
      expenses: usd(expensesPico),
      profit: usd(incomePico - expensesPico),
      breakdown: {
        income_breakdown: { subscription: 19.99, micro_payment: 1, refund: -0.5, dispute: 0 },
        expense_breakdown: { api_cost: usd(expensesPico - feesPico), payment_fee: 1.21 },
      },
      // Open billing charges no credit: the margin is minus what the provider calls cost.
      usage: { charged: 0, api_cost: usd(expensesPico - feesPico), margin: -usd(expensesPico - feesPico) },
      generated_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
    };
    expect(expected.income).toBe(20.49);
    const daily = await json(`/api/report/daily?date=${today}`);
    const weekly = await json(`/api/report/weekly?date=${today}`);
    const monthly = await json("/api/report/monthly");
    expect(daily).toEqual({
      status: 200,
      body: { date: today, period: "daily", start: today, end: today, ...expected },
    });
    expect(weekly.status).toBe(200);
    expect(weekly.body).toEqual({
      date: weekly.body.start,
      period: "weekly",
      start: expect.any(String),
      end: expect.any(String),
      ...expected,
    });
    expect(weekly.body.start <= today && today <= weekly.body.end).toBe(true);
    expect(new Date(`${weekly.body.start}T00:00:00Z`).getUTCDay()).toBe(1);
    expect(monthly).toEqual({
      status: 200,
      body: {
        date: `${today.slice(0, 8)}01`,
        period: "monthly",
        start: `${today.slice(0, 8)}01`,
        end: expect.any(String),
        ...expected,
      },
    });
    reports = { daily: daily.body, weekly: weekly.body, monthly: monthly.body };

    const answered = await json("/api/stats");
    expect(answered.status).toBe(200);
    stats = answered.body;
    const tokens = prompts.reduce((sum, prompt) => sum + 3 * prompt.length + 1, 0);
    expect(stats).toEqual({
      tasks: {
        total: 3,
        pending: 0,
        processing: 0,
        completed: 3,
        failed: 0,
        canceled: 0,
        total_tokens: tokens,
        total_cost: usd(expensesPico - feesPico),
      },
      users: { total: 2, subscriptions: 1 },
      financials: {
        currency: "usd",
        total_income: usd(incomePico),
        total_expenses: usd(expensesPico),
        profit: usd(incomePico - expensesPico),
      },
    });
  }, 30_000);

  it("rebuilds the same reports with `npm run reports:rollup -- --full`", async () => {
    const cli = spawnCommand("reports:rollup", "npm", ["run", "reports:rollup", "--", "--full"], {
      DATABASE_URL: env.databaseUrl,
    });
    procs.push(cli);
    expect(await exitWithin(cli, 30_000), cli.output()).toBe(0);
    expect(cli.output()).toContain("full rollup done");

    for (const type of ["daily", "weekly", "monthly"] as const) {
      const after = await json(`/api/report/${type}?date=${today}`);
      const { generated_at: before, ...figures } = reports[type];
      expect(after.status).toBe(200);
      expect(after.body).toMatchObject(figures);
      expect(new Date(after.body.generated_at) >= new Date(before as string)).toBe(true);
    }
  }, 40_000);

  it("keeps one rollup and one reconcile schedule in Redis with two workers running", async () => {
    const second = startProcess("worker", { ...workerEnv(), LOG_LEVEL: "info" });
    procs.push(second);
    await waitFor(
      () => {
        if (!second.alive()) throw new Error(`second worker exited:\n${second.output()}`);
        return second.output().includes("worker started");
      },
      30_000,
      { message: () => `the second worker to start\n${second.output()}` },
    );

    const connection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue("maintenance", { connection, prefix: env.queuePrefix });
    try {
      const schedulers = await queue.getJobSchedulers();
      // A scheduler's id is its `key`: exactly one of each, whatever the number of workers that upserted it.
      expect(schedulers.map((scheduler) => scheduler.key).sort()).toEqual(["reconcile-tasks", "rollup-reports"]);
      expect(schedulers.find((scheduler) => scheduler.key === "rollup-reports")).toMatchObject({ every: 1000 });
    } finally {
      await queue.close();
      connection.disconnect();
    }
    expect(procs.filter((proc) => proc.name === "worker" && proc.alive())).toHaveLength(2);

    // Two workers rolling up every second still agree with the books, and have folded the stats'
    // counted changes into the counters without changing a figure.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { generated_at: _, ...figures } = reports.daily;
    expect((await json(`/api/report/daily?date=${today}`)).body).toMatchObject(figures);
    const [waiting] = await sql<{ rows: number }[]>`select count(*)::int as rows from stats_deltas`;
    expect(waiting?.rows).toBe(0);
    expect((await json("/api/stats")).body).toEqual(stats);
  }, 40_000);
});

it("leaves books that keep every money invariant (packages/ledger/src/invariants.ts)", async () => {
  const database = createDatabase(env.databaseUrl, { max: 1 });
  try {
    expect(await findMoneyViolations(database.db)).toEqual([]);
  } finally {
    await database.close();
  }
});
