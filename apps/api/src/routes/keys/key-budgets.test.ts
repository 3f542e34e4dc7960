// Key budgets through the API: what a budget accepts as input, setting and removing it, the UTC
// boundaries of its periods, and what a completed task spends of it (its sale price, not its hold).
import {
  type FakeChatServer,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-budget-routes-0123456789";
const env = useTestEnvironment();
let t: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
});
afterAll(async () => {
  await t?.close();
});

async function call(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, key: string, payload?: object) {
  const response = await t.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, payload });
  return { status: response.statusCode, body: response.json() };
}

// (8 + 32) × 150,000 + 100 × 600,000 pico-dollars: a task's hold is a whole 66 micro-dollars.
const task = { prompt: "a budget", max_tokens: 100 };
const HOLD = 0.000066;

let users = 0;
async function keyWith(budget: object | undefined) {
  const created = await call("POST", "/api/keys", ADMIN, { user_id: `budget-${++users}@example.com`, budget });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: number; key: string; budget: Record<string, unknown> | null };
}
const viewOf = async (id: number) =>
  ((await call("GET", "/api/keys", ADMIN)).body.keys as { id: number; budget: unknown }[]).find((key) => key.id === id);

describe("a budget's input", () => {
  it.each([
    ["a zero amount", { amount: 0, period: "day" }, /budget.amount must be above 0/],
    ["a negative amount", { amount: -1, period: "day" }, /budget.amount/],
    ["an amount below a micro-dollar", { amount: 1e-7, period: "day" }, /budget.amount/],
    ["an amount that is not a number", { amount: "abc", period: "day" }, /budget.amount/],
    ["an amount above the credit limit", { amount: 1e10, period: "day" }, /at most 1000000000/],
    ["an unknown period", { amount: 5, period: "year" }, /budget.period must be "day", "week", "month" or "total"/],
    ["no period", { amount: 5 }, /budget.period/],
    ["not an object", "5", /budget/],
  ])("refuses %s with 400, creating and changing nothing", async (_case, budget, message) => {
    const before = (await call("GET", "/api/keys", ADMIN)).body.keys.length;
    const created = await call("POST", "/api/keys", ADMIN, { user_id: "refused@example.com", budget });
    expect(created.status).toBe(400);
    expect(created.body.error).toMatch(message);
    expect((await call("GET", "/api/keys", ADMIN)).body.keys).toHaveLength(before);

    const key = await keyWith({ amount: 1, period: "week" });
    const patched = await call("PATCH", `/api/keys/${key.id}`, ADMIN, { budget });
    expect(patched.status).toBe(400);
    expect(patched.body.error).toMatch(message);
    expect((await viewOf(key.id))?.budget).toMatchObject({ amount: 1, period: "week" });
  });

  it("sets, changes and removes a budget; an unknown key is 404, a user key 403", async () => {
    const key = await keyWith(undefined);
    expect(key.budget).toBeNull();
    const set = await call("PATCH", `/api/keys/${key.id}`, ADMIN, { budget: { amount: "2.5", period: "total" } });
    expect(set).toMatchObject({ status: 200, body: { id: key.id, budget: { amount: 2.5, period: "total" } } });
    const removed = await call("PATCH", `/api/keys/${key.id}`, ADMIN, { budget: null });
    expect(removed).toMatchObject({ status: 200, body: { id: key.id, budget: null } });
    expect((await call("PATCH", "/api/keys/999999999", ADMIN, { budget: null })).status).toBe(404);
    expect((await call("PATCH", `/api/keys/${key.id}`, key.key, { budget: null })).status).toBe(403);
    expect((await call("PATCH", `/api/keys/${key.id}`, ADMIN, {})).status).toBe(400);
  });
});

describe("a budget's period", () => {
  /** Moves the key's tasks to `at` (SQL, in UTC), as if they had been submitted then. */
  const submittedAt = (keyId: number, at: string) =>
    t.sql.unsafe(`update tasks set created_at = ${at} where api_key_id = $1`, [keyId]);

  it.each([
    ["day", "date_trunc('day', now(), 'UTC')"],
    ["week", "date_trunc('week', now(), 'UTC')"],
    ["month", "date_trunc('month', now(), 'UTC')"],
  ])("a %s budget counts the tasks from the period's first instant, UTC, and none before it", async (period, start) => {
    const key = await keyWith({ amount: HOLD * 2, period });
    for (let i = 0; i < 2; i++) expect((await call("POST", "/api/task", key.key, task)).status).toBe(202);
    const full = await call("POST", "/api/task", key.key, task);
    expect(full).toMatchObject({ status: 402, body: { code: "KEY_BUDGET_EXCEEDED", spent: HOLD * 2 } });

    await submittedAt(key.id, start);
    expect((await call("POST", "/api/task", key.key, task)).status).toBe(402);
    await submittedAt(key.id, `${start} - interval '1 millisecond'`);
    expect((await viewOf(key.id))?.budget).toMatchObject({ spent: 0, held: 0, remaining: HOLD * 2 });
    expect((await call("POST", "/api/task", key.key, task)).status).toBe(202);
  });

  it("a total budget never rolls over", async () => {
    const key = await keyWith({ amount: HOLD, period: "total" });
    expect((await call("POST", "/api/task", key.key, task)).status).toBe(202);
    await submittedAt(key.id, "now() - interval '400 days'");
    expect((await call("POST", "/api/task", key.key, task)).status).toBe(402);
  });
});

describe("what tasks spend", () => {
  let fake: FakeChatServer;
  let worker: RunningProcess;
  beforeAll(async () => {
    fake = await startFakeChatServer();
    worker = startWorkerProcess(env, fake);
  });
  afterAll(async () => {
    await worker?.stop();
    await fake?.close();
  });

  it("a completed task spends its sale price, not its hold", async () => {
    const key = await keyWith({ amount: 1, period: "month" });
    const submitted = await call("POST", "/api/task", key.key, task);
    expect(submitted.status).toBe(202);
    const done = await waitFor(
      async () => {
        const view = (await call("GET", `/api/task/${submitted.body.task_id}`, key.key)).body;
        return view.status === "completed" ? view : undefined;
      },
      30_000,
      { message: () => `task ${submitted.body.task_id} to complete:\n${worker.output()}` },
    );
    // Open billing at cost: the sale price is the cost, below the hold.
    expect(done.cost).toBeGreaterThan(0);
    expect(done.cost).toBeLessThan(HOLD);
    expect((await viewOf(key.id))?.budget).toEqual({
      amount: 1,
      period: "month",
      spent: done.cost,
      held: 0,
      remaining: Number((1 - done.cost).toFixed(12)),
    });
  }, 40_000);
});
