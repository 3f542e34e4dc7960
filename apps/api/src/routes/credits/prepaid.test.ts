// Prepaid billing end to end: credit granted by an admin, a hold taken when a task is accepted, the
// exact sale price charged when a real worker process completes it, and the rest released.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { amountToNumber, formatAmount, parseAmount } from "@aitasks/db";
import { rollupReports } from "@aitasks/reports";
import {
  type FakeChatServer,
  fakeUsage,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-prepaid-0123456789";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let fake: FakeChatServer;
let worker: RunningProcess;

beforeAll(async () => {
  fake = await startFakeChatServer();
  t = await createTestApp(env, {}, { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN });
  worker = startWorkerProcess(env, fake);
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await fake?.close();
});
beforeEach(() => fake.setReply(() => ({ kind: "ok" })));

async function call(method: "GET" | "POST", url: string, key: string, payload?: object) {
  const response = await t.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, payload });
  return { status: response.statusCode, body: response.json() };
}

let users = 0;
/** A new user with a key of its own, and `credit` granted by the admin. */
async function newUser(credit?: string) {
  const identifier = `buyer-${++users}-${Date.now()}@example.com`;
  const created = await call("POST", "/api/keys", ADMIN, { user_id: identifier });
  expect(created.status).toBe(201);
  if (credit) {
    const granted = await call("POST", "/api/credits", ADMIN, { user_id: identifier, amount: credit, reason: "test" });
    expect(granted.status, JSON.stringify(granted.body)).toBe(201);
  }
  return { identifier, key: created.body.key as string };
}

const balanceOf = async (identifier: string) =>
  (await call("GET", `/api/balance?user_id=${encodeURIComponent(identifier)}`, ADMIN)).body;

/** Exact: the credit ledger summed by Postgres, beside the kept balance. */
async function booked(identifier: string) {
  const [row] = await t.sql<{ entries: string; balance: string; held: string; open_holds: string }[]>`
    select (select coalesce(sum(amount), 0)::numeric(24, 12)::text from credit_entries where user_id = u.id) as entries,
      coalesce(b.balance, 0)::numeric(24, 12)::text as balance, coalesce(b.held, 0)::numeric(24, 12)::text as held,
      (select coalesce(sum(hold_usd), 0)::numeric(24, 12)::text from tasks
        where user_id = u.id and status in ('pending', 'processing')) as open_holds
    from users u left join credit_balances b on b.user_id = u.id where u.identifier = ${identifier}`;
  return row!;
}

async function finished(id: number) {
  for (let i = 0; i < 300; i++) {
    const task = await call("GET", `/api/task/${id}`, ADMIN);
    if (["completed", "failed"].includes(task.body.status)) return task.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${id} did not finish`);
}

// gpt-4o-mini sold at cost (PRICE_MARKUP 1): 150,000 and 600,000 pico-dollars per token.
const IN = 150_000n;
const OUT = 600_000n;
const CHAT_OVERHEAD = 32n;
const pico = parseAmount;
const dollars = amountToNumber;
/** The hold of a prompt: its UTF-8 bytes plus the chat overhead as input, max_tokens as output. */
const holdOf = (prompt: string, maxTokens: number) =>
  (BigInt(Buffer.byteLength(prompt)) + CHAT_OVERHEAD) * IN + BigInt(maxTokens) * OUT;

describe("credit grants and balances", () => {
  it("grants and takes back exactly, and shows a user key its own balance only", async () => {
    const ada = await newUser("10.000001");
    const taken = await call("POST", "/api/credits", ADMIN, {
      user_id: ada.identifier,
      amount: -2.5,
      reason: "goodwill reversed",
    });
    expect(taken.status).toBe(201);
    expect(taken.body).toMatchObject({
      user_id: ada.identifier,
      source: "admin",
      amount: -2.5,
      reason: "goodwill reversed",
      balance: { user_id: ada.identifier, balance: 7.500001, held: 0, available: 7.500001, currency: "usd" },
    });

    const own = await call("GET", "/api/balance", ada.key);
    expect(own).toEqual({
      status: 200,
      body: { user_id: ada.identifier, balance: 7.500001, held: 0, available: 7.500001, currency: "usd" },
    });
    const other = await newUser();
    expect((await call("GET", `/api/balance?user_id=${other.identifier}`, ada.key)).status).toBe(403);
    expect(
      (await call("POST", "/api/credits", ada.key, { user_id: ada.identifier, amount: 5, reason: "me" })).status,
    ).toBe(403);
    expect(await booked(ada.identifier)).toMatchObject({ entries: "7.500001000000", balance: "7.500001000000" });
  });

  it.each([
    ["a zero amount", { amount: 0 }, 400, /amount must not be 0/],
    ["a negative zero", { amount: "-0.000000" }, 400, /amount must not be 0/],
    ["seven decimals", { amount: "1.0000001" }, 400, /at most 6 decimals/],
    ["a float beyond a micro-dollar", { amount: 1e-7 }, 400, /at most 6 decimals/],
    ["text", { amount: "ten" }, 400, /amount/],
    ["no reason", { reason: undefined }, 400, /reason/],
    ["an unknown user", { user_id: "nobody@example.com" }, 404, /nobody@example.com/],
  ])("refuses %s, booking nothing", async (_, change, status, message) => {
    const user = await newUser("1");
    const before = await booked(user.identifier);
    const response = await call("POST", "/api/credits", ADMIN, {
      user_id: user.identifier,
      amount: 1,
      reason: "test",
      ...change,
    });
    expect(response.status).toBe(status);
    expect(response.body.error).toMatch(message);
    expect(await booked(user.identifier)).toEqual(before);
  });

  it("asks an admin whose balance, and answers 404 for an unknown user", async () => {
    expect((await call("GET", "/api/balance", ADMIN)).status).toBe(400);
    expect((await call("GET", "/api/balance?user_id=ghost@example.com", ADMIN)).status).toBe(404);
    const fresh = await newUser();
    expect(await balanceOf(fresh.identifier)).toEqual({
      user_id: fresh.identifier,
      balance: 0,
      held: 0,
      available: 0,
      currency: "usd",
    });
  });
});

describe("holds on prepaid tasks", () => {
  it("refuses a task that does not fit with 402, available and required, and stores nothing", async () => {
    const user = await newUser("0.00001");
    const prompt = "too dear";
    const tasksBefore = await t.sql`select id from tasks`;
    const response = await call("POST", "/api/task", user.key, { prompt, max_tokens: 100 });

    expect(response.status).toBe(402);
    expect(response.body).toMatchObject({
      code: "INSUFFICIENT_CREDIT",
      error: expect.stringMatching(/credit/),
      available: 0.00001,
      required: dollars(holdOf(prompt, 100)),
    });
    expect(await t.sql`select id from tasks`).toHaveLength(tasksBefore.length);
    expect(await booked(user.identifier)).toMatchObject({ held: "0.000000000000" });
  });

  it("needs a user, and a max_tokens within the model's range", async () => {
    const user = await newUser("1");
    const noUser = await call("POST", "/api/task", ADMIN, { prompt: "whose?" });
    expect(noUser.status).toBe(400);
    expect(noUser.body.error).toMatch(/user_id is required/);
    for (const max_tokens of [0, -1, 1.5, "10", 16_385]) {
      const response = await call("POST", "/api/task", user.key, { prompt: "x", max_tokens });
      expect(response.status, String(max_tokens)).toBe(400);
      expect(response.body.error).toMatch(/max_tokens/);
    }
    expect(await booked(user.identifier)).toMatchObject({ held: "0.000000000000", entries: "1.000000000000" });
  });

  it("holds the bound's sale price, charges the exact sale price on completion, and releases the rest", async () => {
    const user = await newUser("1");
    const prompt = "Prix exacts, s'il vous plaît: é, 漢, 🙂";
    // The queue is paused while the hold is looked at, so the worker cannot release it first.
    await t.queues.tasks.pause();
    const accepted = await call("POST", "/api/task", user.key, { prompt, max_tokens: 300 });
    expect(accepted.status).toBe(202);
    // Held until the worker finishes: the balance is untouched, the available credit is not.
    const hold = holdOf(prompt, 300);
    expect(await booked(user.identifier)).toEqual({
      entries: "1.000000000000",
      balance: "1.000000000000",
      held: formatAmount(hold),
      open_holds: formatAmount(hold),
    });
    expect(await balanceOf(user.identifier)).toMatchObject({ balance: 1, available: dollars(pico("1") - hold) });
    await t.queues.tasks.resume();

    const task = await finished(accepted.body.task_id);
    const usage = fakeUsage(prompt);
    const sale = BigInt(usage.promptTokens) * IN + BigInt(usage.completionTokens) * OUT;
    expect(task).toMatchObject({
      status: "completed",
      max_tokens: 300,
      cached_tokens: 0,
      reasoning_tokens: 0,
      cost: dollars(sale),
      charged: dollars(sale),
      price: {
        cost: { input: 0.15, cached_input: 0.075, output: 0.6 },
        sale: { input: 0.15, cached_input: 0.075, output: 0.6 },
      },
    });
    expect(fake.requests.at(-1)).toMatchObject({ prompt, maxTokens: 300 });
    const after = await booked(user.identifier);
    expect(after).toEqual({
      entries: after.balance,
      balance: formatAmount(pico("1") - sale),
      held: "0.000000000000",
      open_holds: "0.000000000000",
    });
    expect(await balanceOf(user.identifier)).toMatchObject({ held: 0, available: dollars(pico("1") - sale) });
  });

  it("charges a failed task nothing and releases its hold", async () => {
    fake.setReply(() => ({ kind: "status", status: 401, message: "bad key" }));
    const user = await newUser("0.5");
    const accepted = await call("POST", "/api/task", user.key, { prompt: "will fail" });
    expect(accepted.status).toBe(202);

    const task = await finished(accepted.body.task_id);
    expect(task).toMatchObject({ status: "failed", charged: null, max_tokens: 1024 });
    expect(await booked(user.identifier)).toEqual({
      entries: "0.500000000000",
      balance: "0.500000000000",
      held: "0.000000000000",
      open_holds: "0.000000000000",
    });
  });

  it("releases a canceled task's hold and charges it nothing", async () => {
    await t.queues.tasks.pause();
    try {
      const user = await newUser("0.25");
      const accepted = await call("POST", "/api/task", user.key, { prompt: "never mind", max_tokens: 50 });
      expect(accepted.status).toBe(202);
      expect(await booked(user.identifier)).toMatchObject({ held: formatAmount(holdOf("never mind", 50)) });

      const canceled = await call("POST", `/api/task/${accepted.body.task_id}/cancel`, user.key);
      expect(canceled).toMatchObject({ status: 200, body: { status: "canceled", charged: null } });
      expect(await booked(user.identifier)).toEqual({
        entries: "0.250000000000",
        balance: "0.250000000000",
        held: "0.000000000000",
        open_holds: "0.000000000000",
      });
      const other = await newUser();
      expect((await call("POST", `/api/task/${accepted.body.task_id}/cancel`, other.key)).status).toBe(404);
    } finally {
      await t.queues.tasks.resume();
    }
  });

  it("accepts exactly 20 of 200 concurrent submissions against a balance that covers 20 holds", async () => {
    // Held, not run: the worker is paused so that no hold is released while they arrive.
    await t.queues.tasks.pause();
    try {
      const prompt = "hello";
      const hold = holdOf(prompt, 100);
      // 20 holds of $0.00006555 each: $0.001311, a whole number of micro-dollars.
      expect(hold * 20n).toBe(pico("0.001311"));
      const user = await newUser("0.001311");
      const answers = await Promise.all(
        Array.from({ length: 200 }, () => call("POST", "/api/task", user.key, { prompt, max_tokens: 100 })),
      );

      const statuses = answers.map((answer) => answer.status);
      expect(statuses.filter((status) => status === 202)).toHaveLength(20);
      expect(statuses.filter((status) => status === 402)).toHaveLength(180);
      const stored =
        await t.sql`select t.id from tasks t join users u on u.id = t.user_id where u.identifier = ${user.identifier}`;
      expect(stored).toHaveLength(20);
      expect(await booked(user.identifier)).toEqual({
        entries: "0.001311000000",
        balance: "0.001311000000",
        held: "0.001311000000",
        open_holds: "0.001311000000",
      });
      expect(await balanceOf(user.identifier)).toMatchObject({ available: 0, held: 0.001311 });
    } finally {
      await t.queues.tasks.resume();
    }
  });
});

describe("sale prices and margin", () => {
  let marked: TestApp;
  let pricingDir: string;

  beforeAll(async () => {
    pricingDir = mkdtempSync(join(tmpdir(), "pricing-"));
    const pricingFile = join(pricingDir, "pricing.json");
    // Mistral small sold at its own prices; the other models at cost × PRICE_MARKUP.
    writeFileSync(
      pricingFile,
      JSON.stringify({ "mistral-small-latest": { input: 0.1, output: 0.3, sell: { input: 1, output: 2 } } }),
    );
    marked = await createTestApp(
      env,
      {},
      { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN, PRICE_MARKUP: "1.333333", PRICING_FILE: pricingFile },
    );
  });
  afterAll(async () => {
    await marked?.close();
    rmSync(pricingDir, { recursive: true, force: true });
  });

  it("charges cost × markup rounded up to the pico-dollar, or the model's sell prices, and reports the margin", async () => {
    const user = await newUser("1");
    const submit = async (body: object) => {
      const response = await marked.app.inject({
        method: "POST",
        url: "/api/task",
        headers: { authorization: `Bearer ${user.key}` },
        payload: body,
      });
      expect(response.statusCode, response.body).toBe(202);
      return finished(response.json().task_id);
    };
    const prompt = "hello";
    const usage = fakeUsage(prompt);
    const openai = await submit({ prompt, max_tokens: 100 });
    const mistral = await submit({ prompt, provider: "mistral", max_tokens: 100 });

    const openaiCost = BigInt(usage.promptTokens) * IN + BigInt(usage.completionTokens) * OUT;
    // 7,350,000 × 1.333333 = 9,799,997.55 pico-dollars: rounded up, never down.
    expect(openaiCost).toBe(7_350_000n);
    expect(openai).toMatchObject({
      status: "completed",
      cost: dollars(openaiCost),
      charged: dollars(9_799_998n),
      price: { sale: { input: 0.19999995, cached_input: 0.099999975, output: 0.7999998 } },
    });
    const mistralCost = BigInt(usage.promptTokens) * 100_000n + BigInt(usage.completionTokens) * 300_000n;
    const mistralSale = BigInt(usage.promptTokens) * 1_000_000n + BigInt(usage.completionTokens) * 2_000_000n;
    expect(mistral).toMatchObject({
      cost: dollars(mistralCost),
      charged: dollars(mistralSale),
      price: { cost: { input: 0.1, output: 0.3 }, sale: { input: 1, cached_input: 1, output: 2 } },
    });
    const charged = 9_799_998n + mistralSale;
    expect(await booked(user.identifier)).toMatchObject({ balance: formatAmount(pico("1") - charged) });

    await rollupReports(t.db);
    const today = new Date().toISOString().slice(0, 10);
    const byUser = await call("GET", `/api/report/daily?date=${today}&group_by=user`, ADMIN);
    expect(byUser.status).toBe(200);
    expect(byUser.body.groups.find((group: { key: string }) => group.key === user.identifier)).toEqual({
      key: user.identifier,
      tasks: 2,
      tokens: 2 * (usage.promptTokens + usage.completionTokens),
      api_cost: dollars(openaiCost + mistralCost),
      charged: dollars(charged),
      margin: dollars(charged - openaiCost - mistralCost),
    });
    // The period's usage is the sum of its groups, whatever the grouping.
    const sums = (groups: { charged: number; api_cost: number }[]) =>
      groups.reduce(
        (total, group) => ({
          charged: total.charged + pico(String(group.charged)),
          cost: total.cost + pico(String(group.api_cost)),
        }),
        { charged: 0n, cost: 0n },
      );
    const byModel = await call("GET", `/api/report/daily?date=${today}&group_by=model`, ADMIN);
    expect(byModel.body.groups.map((group: { key: string }) => group.key)).toEqual(
      expect.arrayContaining(["gpt-4o-mini", "mistral-small-latest"]),
    );
    const byProvider = await call("GET", `/api/report/daily?date=${today}&group_by=provider`, ADMIN);
    expect(sums(byProvider.body.groups)).toEqual(sums(byModel.body.groups));
    expect(dollars(sums(byModel.body.groups).charged)).toBe(byModel.body.usage.charged);
    expect(byModel.body.usage.margin).toBeCloseTo(byModel.body.usage.charged - byModel.body.usage.api_cost, 9);

    expect((await call("GET", `/api/report/daily?group_by=user`, user.key)).status).toBe(403);
    const badGrouping = await call("GET", "/api/report/daily?group_by=colour", ADMIN);
    expect(badGrouping.status).toBe(400);
    expect(badGrouping.body.error).toMatch(/group_by/);
  });
});
