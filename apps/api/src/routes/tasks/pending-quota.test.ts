// MAX_PENDING_TASKS_PER_USER: a user's unfinished (pending or processing) tasks are capped.
import { adminKeyDigests, createApiKey } from "@aitasks/auth";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";
const LIMITS = { maxPromptChars: 100_000, maxPendingTasksPerUser: 3 };
// A task here is finished by SQL, not by a provider call: no api_cost is booked for it and no
// rollup learns of its day, so the money invariants about those do not hold.
const FINISHED_BY_SQL = { skipMoneyInvariants: ["api-costs", "reports"] } as const;

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let open: TestApp;
let secured: TestApp;

beforeAll(async () => {
  open = await createTestApp(env, { limits: LIMITS });
  secured = await createTestApp(env, { limits: LIMITS, adminKeyDigests: adminKeyDigests([ADMIN]) });
});
afterAll(async () => {
  await open?.close(FINISHED_BY_SQL);
  await secured?.close(FINISHED_BY_SQL);
});

function post(payload: Record<string, unknown>, { app = open, key }: { app?: TestApp; key?: string } = {}) {
  return app.app.inject({
    method: "POST",
    url: "/api/task",
    headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
    payload: JSON.stringify(payload),
  });
}

async function tasksOf(identifier: string) {
  return open.sql<{ id: number; status: string; input: string }[]>`
    select t.id::int as id, t.status, t.input from tasks t join users u on u.id = t.user_id
    where u.identifier = ${identifier} order by t.id`;
}

async function taskCount() {
  const [row] = await open.sql<{ n: number }[]>`select count(*)::int as n from tasks`;
  return row!.n;
}

async function accept(payload: Record<string, unknown>, options?: Parameters<typeof post>[1]) {
  const response = await post(payload, options);
  expect(response.statusCode, response.body).toBe(202);
  return response.json().task_id as number;
}

async function expectRefused(payload: Record<string, unknown>, options?: Parameters<typeof post>[1]) {
  const before = await taskCount();
  const jobsBefore = await open.queues.tasks.count();
  const response = await post(payload, options);

  expect(response.statusCode, response.body).toBe(429);
  expect(response.headers["content-type"]).toMatch(/^application\/json/);
  expect(response.json()).toEqual({ error: expect.any(String), code: "RATE_LIMITED", request_id: expect.any(String) });
  expect(response.json().error).toMatch(/unfinished tasks/);
  expect(response.headers.location).toBeUndefined();
  // Not stored, not queued.
  expect(await taskCount()).toBe(before);
  expect(await open.queues.tasks.count()).toBe(jobsBefore);
  expect(await open.sql`select id from tasks where input = ${String(payload.prompt)}`).toHaveLength(0);
}

describe("MAX_PENDING_TASKS_PER_USER = 3", () => {
  it("refuses a user's 4th unfinished task with 429 {error}, and stores nothing", async () => {
    for (let i = 1; i <= 3; i++) await accept({ prompt: `quota-a ${i}`, user_id: "quota-a" });
    await expectRefused({ prompt: "quota-a 4", user_id: "quota-a" });
    await expectRefused({ prompt: "quota-a 5", user_id: "quota-a", provider: "mistral" });
    expect((await tasksOf("quota-a")).map((task) => task.input)).toEqual(["quota-a 1", "quota-a 2", "quota-a 3"]);
  });

  it("leaves other users and tasks without a user unaffected", async () => {
    // quota-a is at its limit (previous test, or again here).
    for (let i = (await tasksOf("quota-a")).length + 1; i <= 3; i++) {
      await accept({ prompt: `quota-a again ${i}`, user_id: "quota-a" });
    }
    await expectRefused({ prompt: "quota-a still full", user_id: "quota-a" });

    for (let i = 1; i <= 3; i++) await accept({ prompt: `quota-b ${i}`, user_id: "quota-b" });
    expect(await tasksOf("quota-b")).toHaveLength(3);
    for (let i = 1; i <= 6; i++) {
      const id = await accept({ prompt: `anonymous ${i}` });
      const [row] = await open.sql`select user_id from tasks where id = ${id}`;
      expect(row!.user_id).toBeNull();
    }
    for (let i = 1; i <= 4; i++) await accept({ prompt: `anonymous null ${i}`, user_id: null });
  });

  it("counts processing tasks too, and frees a slot once one completes or fails", async () => {
    const ids: number[] = [];
    for (let i = 1; i <= 3; i++) ids.push(await accept({ prompt: `quota-c ${i}`, user_id: "quota-c" }));

    await open.sql`update tasks set status = 'processing', started_at = now() where id = ${ids[0]!}`;
    await expectRefused({ prompt: "quota-c while processing", user_id: "quota-c" });

    await open.sql`
      update tasks set status = 'completed', output = 'done', tokens_used = 1, prompt_tokens = 1,
        completion_tokens = 0, cost_usd = 0, completed_at = now()
      where id = ${ids[0]!}`;
    const next = await accept({ prompt: "quota-c after one completed", user_id: "quota-c" });
    expect((await tasksOf("quota-c")).map((task) => task.id)).toContain(next);
    // Full again: 2 pending + 1 processing... + the new one = 3 unfinished.
    await expectRefused({ prompt: "quota-c full again", user_id: "quota-c" });

    await open.sql`update tasks set status = 'failed', error = 'boom', completed_at = now() where id = ${ids[1]!}`;
    await accept({ prompt: "quota-c after one failed", user_id: "quota-c" });
    await expectRefused({ prompt: "quota-c full a third time", user_id: "quota-c" });

    const statuses = (await tasksOf("quota-c")).map((task) => task.status);
    expect(statuses.filter((status) => status === "pending" || status === "processing")).toHaveLength(3);
  });

  it("applies to a user key's own user, whatever user_id its body names", async () => {
    const { key } = await createApiKey({ db: secured.db, principal: { role: "admin" } }, "quota-key@example.com");
    await accept({ prompt: "quota-key 1" }, { app: secured, key });
    await accept({ prompt: "quota-key 2", user_id: "somebody-else" }, { app: secured, key });
    await accept({ prompt: "quota-key 3", user_id: "quota-d" }, { app: secured, key });
    await expectRefused({ prompt: "quota-key 4", user_id: "fresh-user" }, { app: secured, key });
    expect(await tasksOf("quota-key@example.com")).toHaveLength(3);
    expect(await tasksOf("somebody-else")).toHaveLength(0);

    // The admin key is held to the quota of the user it submits for, and not otherwise.
    await expectRefused(
      { prompt: "admin for quota-key", user_id: "quota-key@example.com" },
      { app: secured, key: ADMIN },
    );
    await accept({ prompt: "admin for nobody" }, { app: secured, key: ADMIN });
  });

  it("turns off with 0", async () => {
    const unlimited = await createTestApp(env, { limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 } });
    try {
      for (let i = 1; i <= 5; i++) {
        const response = await unlimited.app.inject({
          method: "POST",
          url: "/api/task",
          payload: { prompt: `unlimited ${i}`, user_id: "quota-a" },
        });
        expect(response.statusCode).toBe(202);
      }
    } finally {
      await unlimited.close(FINISHED_BY_SQL);
    }
  });
});
