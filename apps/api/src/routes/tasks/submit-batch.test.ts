// POST /api/tasks/batch: up to 1,000 tasks stored all or none and queued in one call; in prepaid
// billing the holds of the whole batch are taken together or not at all.
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-batch-0123456789";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let open: TestApp;
let prepaid: TestApp;

beforeAll(async () => {
  open = await createTestApp(env);
  prepaid = await createTestApp(env, {}, { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN });
  // No worker here: the queue only collects jobs.
  await open.queues.tasks.pause();
});
afterAll(async () => {
  await open?.close();
  await prepaid?.close();
});

const batch = (t: TestApp, tasks: unknown, headers: Record<string, string> = {}) =>
  t.app.inject({ method: "POST", url: "/api/tasks/batch", payload: { tasks }, headers });
const taskCount = async () => Number((await open.sql<{ n: string }[]>`select count(*)::text as n from tasks`)[0]!.n);

/** A stored task of the batch as the first test reads it, with what most items leave to defaults. */
const task = (id: number, input: string, provider: string, model: string, inputPrice: string) => ({
  id,
  input,
  provider,
  model,
  user: null,
  max: null,
  stream: false,
  input_price: inputPrice,
});

describe("POST /api/tasks/batch", () => {
  it("stores every task in order, queues each job with its priority, and answers 202", async () => {
    const response = await batch(open, [
      { prompt: "first" },
      { prompt: "second", provider: "mistral", priority: 1, user_id: "batcher@example.com" },
      { prompt: "third", model: "gpt-4o", max_tokens: 64 },
      { prompt: "fourth", stream: true, priority: 10 },
    ]);
    expect(response.statusCode).toBe(202);
    expect(response.headers["retry-after"]).toBe("1");
    const { tasks } = response.json();
    expect(tasks.map((task: { status: string; provider: string }) => [task.status, task.provider])).toEqual([
      ["pending", "openai"],
      ["pending", "mistral"],
      ["pending", "openai"],
      ["pending", "openai"],
    ]);
    const ids = tasks.map((task: { task_id: number }) => task.task_id);
    const rows = await open.sql<{ id: number; input: string; model: string; priority: number; user: string | null }[]>`
      select t.id::int, t.input, t.provider::text, t.model, t.priority, u.identifier as user,
        t.max_output_tokens::int as max, t.stream, t.price->'cost'->>'input' as input_price
      from tasks t left join users u on u.id = t.user_id where t.id = any(${ids}) order by t.id`;
    // Each task keeps its own model's cost (gpt-4o-mini $0.15, mistral-small $0.10, gpt-4o $2.50 per 1M input).
    expect(rows).toEqual([
      { ...task(ids[0], "first", "openai", "gpt-4o-mini", "0.15"), priority: 5 },
      {
        ...task(ids[1], "second", "mistral", "mistral-small-latest", "0.1"),
        priority: 1,
        user: "batcher@example.com",
      },
      { ...task(ids[2], "third", "openai", "gpt-4o", "2.5"), priority: 5, max: 64 },
      { ...task(ids[3], "fourth", "openai", "gpt-4o-mini", "0.15"), priority: 10, stream: true },
    ]);
    for (const [index, id] of ids.entries()) {
      const job = await open.queues.tasks.getJob(`task-${id}`);
      expect(job?.data).toEqual({ taskId: id });
      expect(job?.opts.priority).toBe(rows[index]!.priority);
    }
  });

  it("takes 1,000 tasks in one call", async () => {
    const response = await batch(
      open,
      Array.from({ length: 1000 }, (_, i) => ({ prompt: `bulk ${i}` })),
    );
    expect(response.statusCode).toBe(202);
    const ids = response.json().tasks.map((task: { task_id: number }) => task.task_id);
    expect(new Set(ids).size).toBe(1000);
    const [row] = await open.sql<{ n: number; inputs_in_order: boolean }[]>`
      select count(*)::int as n,
        bool_and(input = 'bulk ' || (rank - 1)) as inputs_in_order
      from (select input, rank() over (order by id) from tasks where id = any(${ids})) ranked`;
    expect(row).toEqual({ n: 1000, inputs_in_order: true });
  });

  it.each([
    ["no tasks", [], /at least 1/],
    ["1,001 tasks", Array.from({ length: 1001 }, () => ({ prompt: "x" })), /at most 1000/],
    ["not an array", "tasks", /array/],
    ["a bad item", [{ prompt: "ok" }, { prompt: "ok" }, { prompt: "" }], /tasks\.2/],
    ["an unknown model", [{ prompt: "ok" }, { prompt: "ok", model: "gpt-0" }], /tasks\.1: model "gpt-0"/],
    ["a bad priority", [{ prompt: "ok", priority: 11 }], /tasks\.0.*priority/],
  ])("refuses %s with 400, storing nothing", async (_, tasks, message) => {
    const before = await taskCount();
    const response = await batch(open, tasks);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(message);
    expect(await taskCount()).toBe(before);
  });

  it("replays a batch sent again with the same Idempotency-Key", async () => {
    const tasks = [{ prompt: "once" }, { prompt: "only once" }];
    const first = await batch(open, tasks, { "idempotency-key": "batch-1" });
    const before = await taskCount();
    const again = await batch(open, tasks, { "idempotency-key": "batch-1" });
    expect(again.statusCode).toBe(202);
    expect(again.headers["idempotent-replayed"]).toBe("true");
    expect(again.json()).toEqual(first.json());
    expect(await taskCount()).toBe(before);
  });
});

describe("POST /api/tasks/batch in prepaid billing", () => {
  const call = (method: "GET" | "POST", url: string, payload?: object) =>
    prepaid.app.inject({ method, url, payload, headers: { authorization: `Bearer ${ADMIN}` } });
  async function userWith(credit: string) {
    const identifier = `batch-payer-${Math.random().toString(36).slice(2)}@example.com`;
    expect((await call("POST", "/api/keys", { user_id: identifier })).statusCode).toBe(201);
    expect((await call("POST", "/api/credits", { user_id: identifier, amount: credit, reason: "t" })).statusCode).toBe(
      201,
    );
    return identifier;
  }
  const held = async (identifier: string) =>
    (await call("GET", `/api/balance?user_id=${encodeURIComponent(identifier)}`)).json().held;
  // "hello" with max_tokens 100 holds (5 + 32) × $0.15 + 100 × $0.60 per 1M tokens: $0.00006555.
  const item = (user_id: string) => ({ prompt: "hello", max_tokens: 100, user_id });

  it("holds every task of the batch, or refuses it whole with 402 when one user's credit falls short", async () => {
    const rich = await userWith("1");
    const poor = await userWith("0.0001");
    const fits = await batch(prepaid, [item(rich), item(rich), item(poor)], { authorization: `Bearer ${ADMIN}` });
    expect(fits.statusCode).toBe(202);
    expect(await held(rich)).toBe(0.0001311);
    expect(await held(poor)).toBe(0.00006555);

    const before = await taskCount();
    // The poor user's second hold no longer fits: nothing of this batch is stored or held.
    const refused = await batch(prepaid, [item(rich), item(poor)], { authorization: `Bearer ${ADMIN}` });
    expect(refused.statusCode).toBe(402);
    expect(refused.json()).toMatchObject({
      code: "INSUFFICIENT_CREDIT",
      available: 0.00003445,
      required: 0.00006555,
    });
    expect(await taskCount()).toBe(before);
    expect(await held(rich)).toBe(0.0001311);
    expect(await held(poor)).toBe(0.00006555);
  });

  it("needs a user for every task", async () => {
    const response = await batch(prepaid, [{ prompt: "whose?" }], { authorization: `Bearer ${ADMIN}` });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/tasks\.0: user_id is required/);
  });
});
