import {
  type FakeChatServer,
  fakeAnswer,
  fakeUsage,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

let testApp: Awaited<ReturnType<typeof createTestApp>>;

beforeAll(async () => {
  testApp = await createTestApp(env);
});
afterAll(() => testApp.close());

async function submit(payload: Record<string, unknown>): Promise<number> {
  const response = await testApp.app.inject({ method: "POST", url: "/api/task", payload });
  expect(response.statusCode).toBe(202);
  return response.json().task_id;
}

const getTask = (id: number | string, prefix = "/api") =>
  testApp.app.inject({ method: "GET", url: `${prefix}/task/${id}` });

function expectIsoTimestamp(value: unknown) {
  expect(value).toEqual(expect.any(String));
  expect(value).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  expect(new Date(value as string).toISOString()).toBe(value);
}

/** Within a generous window of this machine's clock: the row's times are Postgres's. */
function expectRecent(value: string) {
  expect(Math.abs(Date.parse(value) - Date.now())).toBeLessThan(5 * 60_000);
}

const GPT_4O_MINI = { input: 0.15, cached_input: 0.075, output: 0.6 };

describe("GET /api/task/:id", () => {
  it("shows a pending task with every SPEC field, the unknown ones null", async () => {
    const id = await submit({ prompt: "What is artificial intelligence?" });
    const response = await getTask(id);

    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = response.json();
    expect(body).toEqual({
      id,
      status: "pending",
      provider: "openai",
      model: "gpt-4o-mini",
      input: "What is artificial intelligence?",
      output: null,
      tokens_used: null,
      prompt_tokens: null,
      completion_tokens: null,
      cached_tokens: null,
      reasoning_tokens: null,
      max_tokens: null,
      priority: 5,
      stream: false,
      callback_url: null,
      cost: null,
      charged: null,
      // Frozen at acceptance; open billing sells at cost (USD per 1M tokens).
      price: { cost: GPT_4O_MINI, sale: GPT_4O_MINI },
      user_id: null,
      attempts: 0,
      error: null,
      created_at: expect.any(String),
      started_at: null,
      completed_at: null,
    });
    expectIsoTimestamp(body.created_at);
    expectRecent(body.created_at);
  });

  it("shows the provider, model and user the task was submitted with", async () => {
    const id = await submit({ prompt: "Salut", provider: "mistral", model: "mistral-large-latest", user_id: "u@x.io" });
    const body = (await getTask(id)).json();

    expect(body).toMatchObject({
      id,
      status: "pending",
      provider: "mistral",
      model: "mistral-large-latest",
      input: "Salut",
      user_id: "u@x.io",
    });
  });

  it("is served the same under /api/v1/task/:id", async () => {
    const id = await submit({ prompt: "versioned read" });
    const plain = await getTask(id);
    const versioned = await getTask(id, "/api/v1");

    expect(versioned.statusCode).toBe(200);
    expect(versioned.json()).toEqual(plain.json());
    expect((await getTask(999_999_999, "/api/v1")).statusCode).toBe(404);
    expect((await getTask("abc", "/api/v1")).statusCode).toBe(400);
  });

  it("answers 404 with an error body for an id no task has", async () => {
    // The largest id the route takes is 16 digits: still a positive integer, so 404, not 400 or 500.
    for (const id of ["999999999", "999999999999999"]) {
      const response = await getTask(id);
      expect(response.statusCode, id).toBe(404);
      expect(response.json()).toEqual({ error: expect.any(String), code: "NOT_FOUND", request_id: expect.any(String) });
    }
    expect((await getTask(999_999_999)).json().error).toContain("999999999");
  });

  it.each(["0", "-1", "1.5", "abc", "99999999999999999999", "9999999999999999", "1e3", "+1", "0x10", "1%20", "%20"])(
    "answers 400 for the id %j",
    async (id) => {
      const response = await getTask(id);

      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({
        error: expect.any(String),
        code: "VALIDATION",
        request_id: expect.any(String),
      });
      expect(response.json().error).toMatch(/id/);
    },
  );
});

describe("GET /api/task/:id of a task a worker ran", () => {
  let fake: FakeChatServer;
  let worker: RunningProcess;

  beforeAll(async () => {
    await testApp.queues.tasks.drain(true);
    fake = await startFakeChatServer();
    worker = startWorkerProcess(env, fake);
  });
  afterAll(async () => {
    await worker?.stop();
    await fake?.close();
  });

  async function pollUntilFinal(id: number) {
    for (let i = 0; i < 200; i++) {
      const response = await getTask(id);
      expect(response.statusCode).toBe(200);
      const body = response.json();
      if (body.status === "completed" || body.status === "failed") return body;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`task ${id} did not finish within 10 s`);
  }

  it("shows a completed task with its output, tokens, exact cost and times", async () => {
    const prompt = "Explain queues briefly.";
    const id = await submit({ prompt, user_id: "reader@example.com" });
    const body = await pollUntilFinal(id);

    const usage = fakeUsage(prompt);
    expect(body).toEqual({
      id,
      status: "completed",
      provider: "openai",
      model: "gpt-4o-mini",
      input: prompt,
      output: fakeAnswer(prompt),
      tokens_used: usage.promptTokens + usage.completionTokens,
      prompt_tokens: usage.promptTokens,
      completion_tokens: usage.completionTokens,
      cached_tokens: 0,
      reasoning_tokens: 0,
      max_tokens: null,
      priority: 5,
      stream: false,
      callback_url: null,
      // gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens.
      cost: (usage.promptTokens * 150_000 + usage.completionTokens * 600_000) / 1e12,
      // Open billing: nothing is charged to the user.
      charged: null,
      price: { cost: GPT_4O_MINI, sale: GPT_4O_MINI },
      user_id: "reader@example.com",
      attempts: 1,
      error: null,
      created_at: expect.any(String),
      started_at: expect.any(String),
      completed_at: expect.any(String),
    });
    // 23 input tokens and 47 output tokens.
    expect(body.cost).toBe(0.00003165);
    for (const field of ["created_at", "started_at", "completed_at"]) expectIsoTimestamp(body[field]);
    expect(Date.parse(body.created_at)).toBeLessThanOrEqual(Date.parse(body.started_at));
    expect(Date.parse(body.started_at)).toBeLessThanOrEqual(Date.parse(body.completed_at));

    expect((await getTask(id, "/api/v1")).json()).toEqual(body);
  });

  it("shows a failed task with its error and no cost", async () => {
    fake.setReply(() => ({ kind: "status", status: 401, message: "bad key" }));
    try {
      const id = await submit({ prompt: "refused" });
      const body = await pollUntilFinal(id);

      expect(body).toMatchObject({
        id,
        status: "failed",
        output: null,
        tokens_used: null,
        cost: null,
        attempts: 1,
        error: expect.stringContaining("401"),
      });
      expectIsoTimestamp(body.started_at);
      expectIsoTimestamp(body.completed_at);
    } finally {
      fake.setReply(() => ({ kind: "ok" }));
    }
  });
});
