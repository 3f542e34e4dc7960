// What a client may ask of POST /api/task beyond the original API: a priority in the queue,
// `Prefer: wait=N` (RFC 7240) instead of `?wait=N`, and when to poll (`Retry-After`).
import {
  type FakeChatServer,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let fake: FakeChatServer;
let worker: RunningProcess | undefined;

beforeAll(async () => {
  t = await createTestApp(env);
  fake = await startFakeChatServer();
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await fake?.close();
});

const post = (payload: object, headers: Record<string, string> = {}, url = "/api/task") =>
  t.app.inject({ method: "POST", url, payload, headers });

describe("priority", () => {
  it.each([0, 11, 1.5, "1", -3, null])("refuses %j with 400, storing nothing", async (priority) => {
    const before = await t.sql`select id from tasks`;
    const response = await post({ prompt: "p", priority });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatch(/priority/);
    expect(await t.sql`select id from tasks`).toHaveLength(before.length);
  });

  it("runs the queued tasks by priority, 1 first, and in order within one priority", async () => {
    const submitted: { id: number; priority: number }[] = [];
    for (const priority of [10, 5, 1, 5, 1]) {
      const response = await post({ prompt: `priority ${priority}`, priority });
      expect(response.statusCode).toBe(202);
      submitted.push({ id: response.json().task_id, priority });
    }
    const shown = await t.app.inject({ method: "GET", url: `/api/task/${submitted[0]!.id}` });
    expect(shown.json().priority).toBe(10);

    // One job at a time, so the order the worker takes them in is the order they finish.
    worker = startWorkerProcess(env, fake, { WORKER_CONCURRENCY: "1" });
    const ids = submitted.map((task) => task.id);
    for (let i = 0; i < 300; i++) {
      const [row] = await t.sql<{ done: number }[]>`
        select count(*)::int as done from tasks where id = any(${ids}) and status = 'completed'`;
      if (row!.done === ids.length) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const order = await t.sql<{ id: number }[]>`
      select id::int as id from tasks where id = any(${ids}) order by completed_at, id`;
    const [low, mid, high, mid2, high2] = ids;
    expect(order.map((row) => row.id)).toEqual([high, high2, mid, mid2, low]);
  });
});

describe("Prefer: wait and Retry-After", () => {
  it("answers a plain submission 202 with Retry-After and no Preference-Applied", async () => {
    const response = await post({ prompt: "no wait" });
    expect(response.statusCode).toBe(202);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.headers["preference-applied"]).toBeUndefined();
  });

  it("waits for the answer as ?wait does, and says which wait it applied", async () => {
    worker ??= startWorkerProcess(env, fake);
    const response = await post({ prompt: "wait for me" }, { prefer: "respond-async, wait=20" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["preference-applied"]).toBe("wait=20");
    expect(response.json()).toMatchObject({ status: "completed", response: expect.any(String) });

    const capped = await post({ prompt: "wait long" }, { prefer: "wait=3600" });
    expect(capped.statusCode).toBe(200);
    expect(capped.headers["preference-applied"]).toBe("wait=60");
  });

  it("ignores a wait preference it cannot read, as RFC 7240 asks, and lets ?wait win", async () => {
    for (const prefer of ["wait=soon", "wait=-1", "wait", "wait=1.5", "handling=strict"]) {
      const response = await post({ prompt: "unreadable wait" }, { prefer });
      expect(response.statusCode, prefer).toBe(202);
      expect(response.headers["preference-applied"], prefer).toBeUndefined();
      expect(response.headers["retry-after"]).toBe("1");
    }
    const both = await post({ prompt: "both" }, { prefer: "wait=5" }, "/api/task?wait=2");
    expect(both.headers["preference-applied"]).toBeUndefined();
  });
});
