// POST /api/task/:id/cancel: a pending task never runs, a processing one has its provider call
// aborted on the worker that runs it (another process), a finished one is refused with its status.
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
  fake.setReply((request) => (request.prompt.startsWith("hang") ? { kind: "hang" } : { kind: "ok" }));
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await fake?.close();
});

const submit = async (prompt: string) => {
  const response = await t.app.inject({ method: "POST", url: "/api/task", payload: { prompt } });
  expect(response.statusCode).toBe(202);
  return response.json().task_id as number;
};
const cancel = (id: number | string) => t.app.inject({ method: "POST", url: `/api/task/${id}/cancel` });
const statusOf = async (id: number) => (await t.app.inject({ method: "GET", url: `/api/task/${id}` })).json().status;

async function until(what: string, check: () => Promise<boolean> | boolean) {
  // Generous: a loaded machine (CI runs on two cores) may take seconds to start a worker process.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting until ${what}`);
}

describe("POST /api/task/:id/cancel", () => {
  it("cancels a pending task at once, and its job, delivered later, never runs it", async () => {
    const canceledId = await submit("canceled before any worker ran");
    const response = await cancel(canceledId);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      id: canceledId,
      status: "canceled",
      output: null,
      cost: null,
      charged: null,
      error: "canceled by the client",
      completed_at: expect.any(String),
    });

    const again = await cancel(canceledId);
    expect(again.statusCode).toBe(409);
    expect(again.json()).toMatchObject({ code: "CONFLICT", status: "canceled" });

    // The job is still queued: a worker takes it first, then the next task.
    const nextId = await submit("after the canceled one");
    worker = startWorkerProcess(env, fake);
    await until("the next task completed", async () => (await statusOf(nextId)) === "completed");
    expect(await statusOf(canceledId)).toBe("canceled");
    expect(fake.requests.map((request) => request.prompt)).not.toContain("canceled before any worker ran");
    const costs = await t.sql`select id from ledger_entries where task_id = ${canceledId}`;
    expect(costs).toHaveLength(0);
  });

  it("aborts the provider call of a processing task on the worker that runs it", async () => {
    worker ??= startWorkerProcess(env, fake);
    const id = await submit("hang until canceled");
    await until("the worker called the provider", () =>
      fake.requests.some((request) => request.prompt === "hang until canceled"),
    );
    expect(await statusOf(id)).toBe("processing");

    const response = await cancel(id);
    expect(response.statusCode).toBe(200);
    expect(response.json().status).toBe("canceled");
    // The worker process closed its connection to the provider: the call was aborted, not waited out.
    await until("the call was abandoned", () =>
      fake.abandoned.some((request) => request.prompt === "hang until canceled"),
    );
    expect(await statusOf(id)).toBe("canceled");
    expect(await t.sql`select id from ledger_entries where task_id = ${id}`).toHaveLength(0);
  });

  it("refuses a finished task with 409 and its status, and changes nothing", async () => {
    worker ??= startWorkerProcess(env, fake);
    const id = await submit("finishes first");
    await until("it completed", async () => (await statusOf(id)) === "completed");
    const response = await cancel(id);
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({
      code: "CONFLICT",
      status: "completed",
      error: expect.stringMatching(/completed/),
    });
    expect(await statusOf(id)).toBe("completed");
  });

  it.each(["0", "abc", "-1", "1.5"])("answers 400 for the id %j", async (id) => {
    expect((await cancel(id)).statusCode).toBe(400);
  });

  it("answers 404 for an unknown task", async () => {
    const response = await cancel(999_999_999);
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe("NOT_FOUND");
  });
});
