import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

let testApp: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  testApp = await createTestApp(env);
});
// Completed tasks are inserted as such, without the provider call that books their api_cost and
// marks their day for the rollup: the money invariants about those do not hold here.
afterAll(() => testApp.close({ skipMoneyInvariants: ["api-costs", "reports"] }));

type Status = "pending" | "processing" | "completed" | "failed";

interface ListItem {
  id: number;
  status: Status;
  provider: string;
  created_at: string;
  [field: string]: unknown;
}
interface ListPage {
  tasks: ListItem[];
  next_cursor: string | null;
}

/** Through the API, as a client would: returns the task id. */
async function submit(prompt: string, userId?: string): Promise<number> {
  const response = await testApp.app.inject({
    method: "POST",
    url: "/api/task",
    payload: userId ? { prompt, user_id: userId } : { prompt },
  });
  expect(response.statusCode).toBe(202);
  return response.json().task_id;
}

/**
 * Straight into the database, for states the API cannot make alone (completed, failed) or for
 * many rows at once. Returns the ids in insertion order (oldest first).
 */
async function insertTasks(userIdentifier: string, statuses: Status[]): Promise<number[]> {
  const [user] = await testApp.sql<{ id: string }[]>`
    insert into users (identifier) values (${userIdentifier})
    on conflict (identifier) do update set identifier = excluded.identifier returning id`;
  const ids: number[] = [];
  for (const status of statuses) {
    const done = status === "completed";
    const [row] = await testApp.sql<{ id: string }[]>`
      insert into tasks (provider, model, input, user_id, status, output, tokens_used, cost_usd, completed_at)
      values ('openai', 'gpt-4o-mini', ${`fixture ${status}`}, ${user!.id}, ${status},
        ${done ? "done" : null}, ${done ? 34 : null}, ${done ? "0.000015450000" : null},
        ${status === "completed" || status === "failed" ? new Date().toISOString() : null})
      returning id`;
    ids.push(Number(row!.id));
  }
  return ids;
}

async function list(query = "", prefix = "/api"): Promise<ListPage> {
  const response = await testApp.app.inject({ method: "GET", url: `${prefix}/tasks${query}` });
  expect(response.statusCode, `${prefix}/tasks${query}: ${response.body}`).toBe(200);
  return response.json();
}

const ids = (page: ListPage) => page.tasks.map((task) => task.id);
const newestFirst = (taskIds: number[]) => [...taskIds].sort((a, b) => b - a);

describe("GET /api/tasks", () => {
  it("lists tasks newest first, each with at least id, status, provider and created_at", async () => {
    const first = await submit("first", "order-user");
    const second = await submit("second", "order-user");
    const third = await submit("third", "order-user");

    const page = await list("?user_id=order-user");
    expect(ids(page)).toEqual([third, second, first]);
    expect(page.next_cursor).toBeNull();
    for (const task of page.tasks) {
      expect(task).toMatchObject({ id: expect.any(Number), status: "pending", provider: "openai" });
      expect(new Date(task.created_at).toISOString()).toBe(task.created_at);
    }
    const createdAt = page.tasks.map((task) => Date.parse(task.created_at));
    expect(createdAt).toEqual([...createdAt].sort((a, b) => b - a));

    // Unfiltered, the newest task of the whole table comes first.
    const latest = await submit("latest of all");
    expect((await list()).tasks[0]?.id).toBe(latest);
  });

  it("shows a completed task's cost as a number", async () => {
    const [id] = await insertTasks("cost-user", ["completed"]);
    const [task] = (await list("?user_id=cost-user")).tasks;
    expect(task).toMatchObject({ id, status: "completed", cost: 0.00001545, tokens_used: 34, user_id: "cost-user" });
  });

  it("returns 50 tasks by default and respects limit", async () => {
    const all = await insertTasks("bulk-user", Array(55).fill("pending"));
    const expected = newestFirst(all);

    const byDefault = await list("?user_id=bulk-user");
    expect(ids(byDefault)).toEqual(expected.slice(0, 50));
    expect(byDefault.next_cursor).toEqual(expect.any(String));

    const seven = await list("?user_id=bulk-user&limit=7");
    expect(ids(seven)).toEqual(expected.slice(0, 7));
    expect(seven.next_cursor).toEqual(expect.any(String));

    const one = await list("?user_id=bulk-user&limit=1");
    expect(ids(one)).toEqual(expected.slice(0, 1));

    const everything = await list("?user_id=bulk-user&limit=1000");
    expect(ids(everything)).toEqual(expected);
    expect(everything.next_cursor).toBeNull();

    // Without a user filter the limit applies to the whole table too.
    expect((await list("?limit=3")).tasks).toHaveLength(3);
    expect((await list()).tasks).toHaveLength(50);
  });

  it("filters by status", async () => {
    const [pending, processing, completedA, failed, completedB] = await insertTasks("status-user", [
      "pending",
      "processing",
      "completed",
      "failed",
      "completed",
    ]);

    expect(ids(await list("?user_id=status-user&status=completed"))).toEqual([completedB, completedA]);
    expect(ids(await list("?user_id=status-user&status=failed"))).toEqual([failed]);
    expect(ids(await list("?user_id=status-user&status=processing"))).toEqual([processing]);
    expect(ids(await list("?user_id=status-user&status=pending"))).toEqual([pending]);

    const completedAnywhere = await list("?status=completed&limit=1000");
    expect(completedAnywhere.tasks.length).toBeGreaterThanOrEqual(2);
    expect(completedAnywhere.tasks.every((task) => task.status === "completed")).toBe(true);
    expect(ids(completedAnywhere)).toEqual(expect.arrayContaining([completedA, completedB]));
    expect(ids(completedAnywhere)).not.toContain(pending);
  });

  it("filters by user_id, and an unknown user gets an empty list", async () => {
    const alice = [await submit("a1", "alice@example.com"), await submit("a2", "alice@example.com")];
    const bob = await submit("b1", "bob");

    const alicePage = await list(`?user_id=${encodeURIComponent("alice@example.com")}`);
    expect(ids(alicePage)).toEqual(newestFirst(alice));
    expect(alicePage.tasks.every((task) => task.user_id === "alice@example.com")).toBe(true);
    expect(ids(await list("?user_id=bob"))).toEqual([bob]);

    expect(await list("?user_id=nobody-at-all")).toEqual({ tasks: [], next_cursor: null });
    expect(await list("?user_id=nobody-at-all&status=completed")).toEqual({ tasks: [], next_cursor: null });
  });

  it("walks every task once with the cursor, and the last page has next_cursor null", async () => {
    const all = newestFirst(await insertTasks("walk-user", Array(7).fill("pending")));

    const seen: number[] = [];
    const pageSizes: number[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: ListPage = await list(
        `?user_id=walk-user&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      seen.push(...ids(page));
      pageSizes.push(page.tasks.length);
      cursor = page.next_cursor;
      if (cursor === null) break;
    }
    expect(cursor).toBeNull();
    expect(pageSizes).toEqual([3, 3, 1]);
    expect(seen).toEqual(all);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("ends without an empty page when the tasks fill the last page exactly", async () => {
    const all = newestFirst(await insertTasks("exact-user", Array(6).fill("pending")));

    const first = await list("?user_id=exact-user&limit=3");
    expect(ids(first)).toEqual(all.slice(0, 3));
    expect(first.next_cursor).toEqual(expect.any(String));
    const second = await list(`?user_id=exact-user&limit=3&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect(ids(second)).toEqual(all.slice(3));
    expect(second.next_cursor).toBeNull();
  });

  it("keeps walking the same tasks when new ones arrive between pages, and with a status filter", async () => {
    const all = await insertTasks("moving-user", ["pending", "failed", "pending", "failed", "pending"]);
    const first = await list("?user_id=moving-user&limit=2");
    await insertTasks("moving-user", ["pending", "pending"]);
    const rest = await list(`?user_id=moving-user&limit=10&cursor=${encodeURIComponent(first.next_cursor!)}`);
    expect([...ids(first), ...ids(rest)]).toEqual(newestFirst(all));

    const failedFirst = await list("?user_id=moving-user&status=failed&limit=1");
    const failedRest = await list(
      `?user_id=moving-user&status=failed&limit=1&cursor=${encodeURIComponent(failedFirst.next_cursor!)}`,
    );
    expect([...ids(failedFirst), ...ids(failedRest)]).toEqual([all[3], all[1]]);
    expect(failedRest.next_cursor).toBeNull();
  });

  it("is served the same under /api/v1/tasks", async () => {
    await submit("v1 listing", "v1-user");
    const plain = await list("?user_id=v1-user");
    expect(plain.tasks).toHaveLength(1);
    expect(await list("?user_id=v1-user", "/api/v1")).toEqual(plain);
  });

  it.each([
    ["an unknown status", "?status=done"],
    ["a status in the wrong case", "?status=PENDING"],
    ["limit 0", "?limit=0"],
    ["limit 1001", "?limit=1001"],
    ["limit x", "?limit=x"],
    ["limit -5", "?limit=-5"],
    ["limit 2.5", "?limit=2.5"],
    ["a garbage cursor", "?cursor=garbage!!"],
    ["a cursor of random base64", `?cursor=${Buffer.from("hello world").toString("base64url")}`],
    ["a cursor pointing at id 0", `?cursor=${Buffer.from("t0").toString("base64url")}`],
    ["a cursor that is not a whole id", `?cursor=${Buffer.from("t1.5").toString("base64url")}`],
  ])("answers 400 for %s", async (_name, query) => {
    for (const prefix of ["/api", "/api/v1"]) {
      const response = await testApp.app.inject({ method: "GET", url: `${prefix}/tasks${query}` });
      expect(response.statusCode, `${prefix}/tasks${query}`).toBe(400);
      expect(response.json()).toEqual({
        error: expect.any(String),
        code: "VALIDATION",
        request_id: expect.any(String),
      });
    }
  });

  it("says which parameter is wrong", async () => {
    const errorOf = async (query: string) =>
      (await testApp.app.inject({ method: "GET", url: `/api/tasks${query}` })).json().error;
    expect(await errorOf("?status=done")).toMatch(/status/);
    expect(await errorOf("?limit=0")).toMatch(/limit/);
    expect(await errorOf("?cursor=garbage")).toMatch(/cursor/);
  });
});
