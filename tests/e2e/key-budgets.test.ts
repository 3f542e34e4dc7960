// Key budgets under concurrency: 200 submissions at once, through two API processes, against a
// budget for exactly 20 tasks: 20 are stored, 180 refused with 402 KEY_BUDGET_EXCEEDED, in both
// billing modes; a batch is stored whole within the budget, or refused whole.
import { killAll, type StartedApi, startApi, useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const ADMIN = "admin-key-budgets-0123456789";

// gpt-4o-mini sold at cost: 150,000 and 600,000 pico-dollars per token. A task's hold is its
// prompt's UTF-8 bytes plus the chat overhead (32) as input, and max_tokens as output: here
// (8 + 32) × 150,000 + 100 × 600,000, a whole 66 micro-dollars, so budgets are exact multiples.
const PROMPT = "a budget";
const MAX_TOKENS = 100;
const HOLD_PICO = (BigInt(Buffer.byteLength(PROMPT)) + 32n) * 150_000n + BigInt(MAX_TOKENS) * 600_000n;
const usd = (pico: bigint) => Number(pico) / 1e12;
const task = { prompt: PROMPT, max_tokens: MAX_TOKENS };

describe.each(["open", "prepaid"] as const)("a key's budget in %s billing", (mode) => {
  let apis: StartedApi[];

  beforeAll(async () => {
    const processEnv = {
      DATABASE_URL: env.databaseUrl,
      REDIS_URL: env.redisUrl,
      QUEUE_PREFIX: `${env.queuePrefix}-${mode}`,
      ADMIN_API_KEY: ADMIN,
      BILLING_MODE: mode,
      RATE_LIMIT_PER_MINUTE: "0",
      MAX_PENDING_TASKS_PER_USER: "0",
    };
    apis = await Promise.all([startApi(processEnv), startApi(processEnv)]);
  }, 60_000);
  afterAll(async () => {
    await killAll();
  });

  const call = async (api: StartedApi, method: string, path: string, key: string, body?: object) => {
    const response = await fetch(`${api.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  let users = 0;
  /** A user with ample credit and a key whose budget covers exactly `tasks` tasks. */
  async function budgetedKey(tasks: number, period = "month") {
    const user = `budget-${mode}-${++users}@example.com`;
    const amount = usd(HOLD_PICO * BigInt(tasks));
    const created = await call(apis[0]!, "POST", "/api/keys", ADMIN, { user_id: user, budget: { amount, period } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const granted = await call(apis[0]!, "POST", "/api/credits", ADMIN, { user_id: user, amount: 100, reason: "t" });
    expect(granted.status).toBe(201);
    expect(created.body.budget).toEqual({ amount, period, spent: 0, held: 0, remaining: amount });
    return { key: created.body.key as string, id: created.body.id as number, amount };
  }

  it("lets exactly 20 of 200 concurrent submissions through two API processes, for a budget of 20", async () => {
    const { key, id, amount } = await budgetedKey(20);
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call(apis[i % 2]!, "POST", "/api/task", key, task)),
    );
    const accepted = answers.filter((answer) => answer.status === 202);
    const refused = answers.filter((answer) => answer.status === 402);
    expect(accepted).toHaveLength(20);
    expect(refused).toHaveLength(180);
    for (const { body } of refused) {
      expect(body).toMatchObject({ code: "KEY_BUDGET_EXCEEDED", budget: amount, required: usd(HOLD_PICO) });
      expect(body.spent as number).toBeGreaterThan(amount - usd(HOLD_PICO));
    }
    const { body: view } = await call(apis[1]!, "GET", "/api/keys", ADMIN);
    const shown = (view.keys as { id: number; budget: unknown }[]).find((k) => k.id === id);
    expect(shown?.budget).toEqual({ amount, period: "month", spent: 0, held: amount, remaining: 0 });
  }, 60_000);

  it("stores a batch whole within the budget, and refuses one that would pass it, storing nothing", async () => {
    const { key, amount } = await budgetedKey(5);
    const tooMany = await call(apis[0]!, "POST", "/api/tasks/batch", key, { tasks: Array(6).fill(task) });
    expect(tooMany.status).toBe(402);
    expect(tooMany.body).toMatchObject({ code: "KEY_BUDGET_EXCEEDED", budget: amount, spent: 0 });
    const fits = await call(apis[1]!, "POST", "/api/tasks/batch", key, { tasks: Array(5).fill(task) });
    expect(fits.status).toBe(202);
    expect((await call(apis[0]!, "POST", "/api/task", key, task)).status).toBe(402);
  }, 30_000);
});
