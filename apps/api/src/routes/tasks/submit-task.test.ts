import {
  type FakeChatServer,
  fakeAnswer,
  fakeUsage,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BODY_LIMIT_BYTES } from "../../http/body-limit.js";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp(env);
});
afterAll(() => testApp.close());

interface TaskRow {
  id: number;
  status: string;
  provider: string;
  model: string;
  input: string;
  input_bytes: number;
  user_identifier: string | null;
  attempts: number;
}

async function storedTask(id: number): Promise<TaskRow | undefined> {
  const [row] = await testApp.sql<TaskRow[]>`
    select t.id::int as id, t.status, t.provider, t.model, t.input, octet_length(t.input) as input_bytes,
      u.identifier as user_identifier, t.attempts
    from tasks t left join users u on u.id = t.user_id
    where t.id = ${id}`;
  return row;
}

async function counts() {
  const [row] = await testApp.sql<{ tasks: number; users: number }[]>`
    select (select count(*)::int from tasks) as tasks, (select count(*)::int from users) as users`;
  return row!;
}

function post(payload: unknown, url = "/api/task", headers: Record<string, string> = {}) {
  return testApp.app.inject({
    method: "POST",
    url,
    headers: { "content-type": "application/json", ...headers },
    payload: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
}

/** Every error is `{error, code, request_id}` and nothing else: no stack, no internals. */
function expectErrorBody(body: unknown) {
  expect(body).toEqual({ error: expect.any(String), code: expect.any(String), request_id: expect.any(String) });
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
}

/** gpt-4o-mini: $0.15 per 1M input tokens, $0.60 per 1M output tokens; pico-dollars keep it exact. */
function gpt4oMiniCost(prompt: string): number {
  const usage = fakeUsage(prompt);
  return (usage.promptTokens * 150_000 + usage.completionTokens * 600_000) / 1e12;
}

describe("POST /api/task", () => {
  it("stores the task as pending, queues its job and answers 202 with a Location", async () => {
    const response = await post({ prompt: "What is artificial intelligence?" });

    expect(response.statusCode).toBe(202);
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = response.json();
    expect(body).toEqual({ task_id: expect.any(Number), status: "pending", provider: "openai" });
    expect(Number.isInteger(body.task_id) && body.task_id > 0).toBe(true);
    expect(response.headers.location).toBe(`/api/task/${body.task_id}`);

    expect(await storedTask(body.task_id)).toMatchObject({
      id: body.task_id,
      status: "pending",
      provider: "openai",
      model: "gpt-4o-mini",
      input: "What is artificial intelligence?",
      user_identifier: null,
      attempts: 0,
    });

    const job = await testApp.queues.tasks.getJob(`task-${body.task_id}`);
    expect(job).toBeDefined();
    expect(job!.name).toBe("run-task");
    expect(job!.data).toEqual({ taskId: body.task_id });
    // Every task's job carries its priority (5 by default), so BullMQ keeps it among the prioritized.
    expect(await job!.getState()).toBe("prioritized");
    expect(job!.opts.priority).toBe(5);
  });

  it("is served the same under /api/v1/task, and its Location leads to the task", async () => {
    const response = await post({ prompt: "versioned" }, "/api/v1/task");

    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({ task_id: expect.any(Number), status: "pending", provider: "openai" });
    expect(response.headers.location).toMatch(new RegExp(`^/api(/v1)?/task/${body.task_id}$`));
    expect(await storedTask(body.task_id)).toMatchObject({ status: "pending", model: "gpt-4o-mini" });
    expect((await testApp.queues.tasks.getJob(`task-${body.task_id}`))?.data).toEqual({ taskId: body.task_id });

    const followed = await testApp.app.inject({ method: "GET", url: String(response.headers.location) });
    expect(followed.statusCode).toBe(200);
    expect(followed.json()).toMatchObject({ id: body.task_id, status: "pending", input: "versioned" });
  });

  it("accepts a JSON content type with a charset", async () => {
    const response = await post({ prompt: "charset" }, "/api/task", {
      "content-type": "application/json; charset=utf-8",
    });
    expect(response.statusCode).toBe(202);
  });

  it("gives provider mistral its default model", async () => {
    const response = await post({ prompt: "Bonjour", provider: "mistral" });

    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({ task_id: expect.any(Number), status: "pending", provider: "mistral" });
    expect(await storedTask(body.task_id)).toMatchObject({ provider: "mistral", model: "mistral-small-latest" });
  });

  it("accepts an explicit model the provider has", async () => {
    const response = await post({ prompt: "pick a model", model: "gpt-4.1-mini" });

    expect(response.statusCode).toBe(202);
    expect(await storedTask(response.json().task_id)).toMatchObject({ provider: "openai", model: "gpt-4.1-mini" });
  });

  it.each([
    ["an unknown model", { prompt: "hi", model: "gpt-99-ultra" }],
    ["a Mistral model with provider openai", { prompt: "hi", provider: "openai", model: "mistral-small-latest" }],
    ["an OpenAI model with provider mistral", { prompt: "hi", provider: "mistral", model: "gpt-4o-mini" }],
    ["an empty model", { prompt: "hi", model: "" }],
  ])("answers 400 for %s, and stores nothing", async (_name, payload) => {
    const before = await counts();
    const response = await post(payload);

    expect(response.statusCode).toBe(400);
    expectErrorBody(response.json());
    expect(response.json().error).toMatch(/model/);
    expect(await counts()).toEqual(before);
  });

  it("creates a user on first sight only, and the task shows its user_id", async () => {
    const before = await counts();
    const first = await post({ prompt: "one", user_id: "ada@example.com" });
    const second = await post({ prompt: "two", user_id: "ada@example.com" });

    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(202);
    expect(await counts()).toEqual({ tasks: before.tasks + 2, users: before.users + 1 });
    const rows = await testApp.sql`select identifier from users where identifier = ${"ada@example.com"}`;
    expect(rows).toHaveLength(1);

    for (const response of [first, second]) {
      const view = await testApp.app.inject({ method: "GET", url: `/api/task/${response.json().task_id}` });
      expect(view.json().user_id).toBe("ada@example.com");
    }
  });

  it("creates one user, linked to every task, when first tasks of a new user arrive at once", async () => {
    // Several rounds: the race (a second insert waiting on the first's unique key) needs a few tries to show.
    for (let round = 0; round < 20; round++) {
      const userId = `grace-${round}`;
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) => post({ prompt: `concurrent ${i}`, user_id: userId })),
      );

      expect(responses.map((response) => response.statusCode)).toEqual(Array(10).fill(202));
      const users = await testApp.sql`select id from users where identifier = ${userId}`;
      expect(users).toHaveLength(1);
      for (const response of responses) {
        expect((await storedTask(response.json().task_id))?.user_identifier).toBe(userId);
      }
    }
  });

  it("accepts user_id null as no user", async () => {
    const before = await counts();
    const response = await post({ prompt: "anonymous", user_id: null });

    expect(response.statusCode).toBe(202);
    expect(await storedTask(response.json().task_id)).toMatchObject({ user_identifier: null });
    expect((await counts()).users).toBe(before.users);
  });

  describe("refuses bad input with 400 and stores nothing", () => {
    const cases: [string, string, unknown][] = [
      ["a missing prompt", "/api/task", { provider: "openai" }],
      ["an empty prompt", "/api/task", { prompt: "" }],
      ["a whitespace-only prompt", "/api/task", { prompt: " \t\n " }],
      ["a prompt that is a number", "/api/task", { prompt: 42 }],
      ["a prompt that is an object", "/api/task", { prompt: { text: "hi" } }],
      ["a prompt that is null", "/api/task", { prompt: null }],
      ["an unknown provider", "/api/task", { prompt: "hi", provider: "anthropic" }],
      ["a provider in the wrong case", "/api/task", { prompt: "hi", provider: "OpenAI" }],
      ["a user_id that is a number", "/api/task", { prompt: "hi", user_id: 7 }],
      ["an empty user_id", "/api/task", { prompt: "hi", user_id: "" }],
      ["a body that is a JSON array", "/api/task", '[{"prompt":"hi"}]'],
      ["a body that is a JSON string", "/api/task", '"hi"'],
      ["a body that is JSON null", "/api/task", "null"],
      ["wait=0", "/api/task?wait=0", { prompt: "hi" }],
      ["wait=61", "/api/task?wait=61", { prompt: "hi" }],
      ["wait=abc", "/api/task?wait=abc", { prompt: "hi" }],
      ["wait=1.5", "/api/task?wait=1.5", { prompt: "hi" }],
      ["a prompt containing NUL", "/api/task", { prompt: "before\u0000after" }],
      // Not encodable in UTF-8: Postgres would get U+FFFD instead, silently changing what was sent.
      ["a prompt containing a lone surrogate", "/api/task", '{"prompt":"a\\ud800b"}'],
      ["a user_id containing a lone surrogate", "/api/task", '{"prompt":"hi","user_id":"\\udfff"}'],
    ];

    it.each(cases)("%s", async (_name, url, payload) => {
      const before = await counts();
      const jobsBefore = await testApp.queues.tasks.count();
      const response = await post(payload, url);

      expect(response.statusCode).toBe(400);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      expectErrorBody(response.json());
      expect(response.json().code).toBe("VALIDATION");
      expect(response.headers.location).toBeUndefined();
      expect(await counts()).toEqual(before);
      expect(await testApp.queues.tasks.count()).toBe(jobsBefore);
    });

    it("names the field at fault", async () => {
      expect((await post({})).json().error).toMatch(/prompt/);
      expect((await post({ prompt: "hi", provider: "x" })).json().error).toMatch(/provider/);
      expect((await post({ prompt: "hi", user_id: 1 })).json().error).toMatch(/user_id/);
      expect((await post({ prompt: "hi" }, "/api/task?wait=99")).json().error).toMatch(/wait/);
    });

    it("answers 400 for a request with no body at all", async () => {
      const before = await counts();
      const response = await testApp.app.inject({ method: "POST", url: "/api/task" });
      expect(response.statusCode).toBe(400);
      expectErrorBody(response.json());
      expect(await counts()).toEqual(before);
    });

    it("echoes the caller's x-request-id in the error", async () => {
      const response = await post({ prompt: "" }, "/api/task", { "x-request-id": "req-abc-123" });
      expect(response.statusCode).toBe(400);
      expect(response.json().request_id).toBe("req-abc-123");
    });
  });

  describe("refuses what is not a JSON body of a sane size", () => {
    it("answers 400 for malformed JSON", async () => {
      const before = await counts();
      const response = await post('{"prompt": "hi"');

      expect(response.statusCode).toBe(400);
      expectErrorBody(response.json());
      expect(await counts()).toEqual(before);
    });

    it("answers 400 for an empty body declared as JSON", async () => {
      const before = await counts();
      const response = await post("");

      expect(response.statusCode).toBe(400);
      expectErrorBody(response.json());
      expect(await counts()).toEqual(before);
    });

    it("answers 413 for a body over 1 MiB", async () => {
      const before = await counts();
      const response = await post({ prompt: "x".repeat(BODY_LIMIT_BYTES) });

      expect(BODY_LIMIT_BYTES).toBe(1024 * 1024);
      expect(response.statusCode).toBe(413);
      expectErrorBody(response.json());
      expect(await counts()).toEqual(before);
    });

    it("accepts a body just under 1 MiB when MAX_PROMPT_CHARS allows it", async () => {
      const roomy = await createTestApp(env, {
        limits: { maxPromptChars: BODY_LIMIT_BYTES, maxPendingTasksPerUser: 0 },
      });
      try {
        const prompt = "y".repeat(BODY_LIMIT_BYTES - 100);
        const response = await roomy.app.inject({ method: "POST", url: "/api/task", payload: { prompt } });

        expect(response.statusCode).toBe(202);
        expect((await storedTask(response.json().task_id))?.input_bytes).toBe(prompt.length);
      } finally {
        await roomy.close();
      }
    });

    it("answers 400 for a prompt over MAX_PROMPT_CHARS, and stores nothing", async () => {
      const before = await counts();
      const response = await post({ prompt: "z".repeat(100_001) });

      expect(response.statusCode).toBe(400);
      expect(response.json().error).toBe("prompt must be at most 100000 characters");
      expect(await counts()).toEqual(before);
    });

    it("answers 415 for content-type text/plain, and stores nothing", async () => {
      const before = await counts();
      const response = await post('{"prompt":"hi"}', "/api/task", { "content-type": "text/plain" });

      expect(response.statusCode).toBe(415);
      expectErrorBody(response.json());
      expect(await counts()).toEqual(before);
    });

    it("answers 415 for a form-encoded body", async () => {
      const response = await post("prompt=hi", "/api/task", { "content-type": "application/x-www-form-urlencoded" });
      expect(response.statusCode).toBe(415);
      expectErrorBody(response.json());
    });

    it("answers 404 with an error body for an unknown route", async () => {
      for (const [method, url] of [
        ["POST", "/api/tasky"],
        ["GET", "/api/nothing-here"],
        ["POST", "/api/v2/task"],
      ] as const) {
        const response = await testApp.app.inject({ method, url, payload: method === "GET" ? undefined : {} });
        expect(response.statusCode, `${method} ${url}`).toBe(404);
        expectErrorBody(response.json());
      }
    });

    it("answers 405 with Allow for a known path and a method it does not serve", async () => {
      const response = await testApp.app.inject({ method: "DELETE", url: "/api/task", payload: {} });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe("POST");
      expectErrorBody(response.json());
    });
  });

  it("still answers 202 and keeps the task pending when queueing fails", async () => {
    const brokenQueue = await createTestApp(env, {
      enqueueTask: () => Promise.reject(new Error("Connection is closed.")),
    });
    try {
      const response = await brokenQueue.app.inject({
        method: "POST",
        url: "/api/task",
        headers: { "content-type": "application/json" },
        payload: JSON.stringify({ prompt: "queued later by the reconciler" }),
      });

      expect(response.statusCode).toBe(202);
      const body = response.json();
      expect(body).toEqual({ task_id: expect.any(Number), status: "pending", provider: "openai" });
      expect(response.headers.location).toBe(`/api/task/${body.task_id}`);
      expect(await storedTask(body.task_id)).toMatchObject({
        status: "pending",
        input: "queued later by the reconciler",
      });
      expect(await testApp.queues.tasks.getJob(`task-${body.task_id}`)).toBeUndefined();
    } finally {
      await brokenQueue.close();
    }
  });

  it("stores unicode, emoji, RTL and SQL-looking prompts byte for byte", async () => {
    const prompts = [
      "héllo wörld — ñ ç ß ø å",
      "日本語のテキスト 中文 한국어",
      "emoji 🎉🚀 family 👨‍👩‍👧‍👦 flag 🇫🇷 skin 👍🏽",
      "مرحبا بالعالم שלום עולם \u202Eevil\u202C",
      "Robert'); DROP TABLE tasks; -- \\ \" ' ` $1 %s %% \u0024{x}",
      "combining e\u0301 zero\u200Bwidth bom\uFEFF tab\t newline\n cr\r end",
      "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 𐍈",
    ];
    for (const prompt of prompts) {
      const response = await post({ prompt });
      expect(response.statusCode, prompt).toBe(202);
      const id = response.json().task_id;

      const row = await storedTask(id);
      expect(row?.input).toBe(prompt);
      expect(row?.input_bytes).toBe(Buffer.byteLength(prompt, "utf8"));

      const view = await testApp.app.inject({ method: "GET", url: `/api/task/${id}` });
      expect(view.statusCode).toBe(200);
      expect(view.json().input).toBe(prompt);
      expect(view.rawPayload.includes(Buffer.from(JSON.stringify(prompt).slice(1, -1), "utf8"))).toBe(true);
    }
  });
});

describe("POST /api/task?wait=N with a worker running", () => {
  let fake: FakeChatServer;
  let worker: RunningProcess;

  beforeAll(async () => {
    // Jobs queued by the tests above stay out of the way of these.
    await testApp.queues.tasks.drain(true);
    fake = await startFakeChatServer();
    // At level info, so that it says when it has started.
    worker = startWorkerProcess(env, fake, { LOG_LEVEL: "info" });
    // Started, not just spawned: its start-up (migrations, connections) is no part of any wait below.
    await waitFor(() => worker.output().includes("worker started"), 60_000, { message: "the worker to start" });
  });
  afterEach(() => {
    fake.setReply(() => ({ kind: "ok" }));
  });
  afterAll(async () => {
    await worker?.stop();
    await fake?.close();
  });

  async function pollUntilFinal(id: number) {
    for (let i = 0; i < 200; i++) {
      const view = (await testApp.app.inject({ method: "GET", url: `/api/task/${id}` })).json();
      if (view.status === "completed" || view.status === "failed") return view;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`task ${id} did not finish`);
  }

  it("answers 200 with the original API's body once the task completes, with the exact cost", async () => {
    const prompt = "What is AI?";
    const response = await post({ prompt }, "/api/task?wait=60");

    expect(response.statusCode).toBe(200);
    const body = response.json();
    const usage = fakeUsage(prompt);
    expect(body).toEqual({
      task_id: expect.any(Number),
      status: "completed",
      response: `answer to: ${prompt}`,
      tokens_used: usage.promptTokens + usage.completionTokens,
      cost: gpt4oMiniCost(prompt),
      provider: "openai",
    });
    // 11 input tokens × $0.15/1M + 23 output tokens × $0.60/1M.
    expect(body.tokens_used).toBe(34);
    expect(body.cost).toBe(0.00001545);
    expect(response.headers.location).toBe(`/api/task/${body.task_id}`);

    const call = fake.requests.find((request) => request.prompt === prompt);
    expect(call).toMatchObject({ model: "gpt-4o-mini", authorization: "Bearer sk-test" });
  });

  it("completes a mistral task priced at the mistral model's rates", async () => {
    const prompt = "Qu'est-ce que l'IA ?";
    const response = await post({ prompt, provider: "mistral" }, "/api/task?wait=60");

    expect(response.statusCode).toBe(200);
    const usage = fakeUsage(prompt);
    // mistral-small-latest: $0.10 per 1M input, $0.30 per 1M output.
    expect(response.json()).toEqual({
      task_id: expect.any(Number),
      status: "completed",
      response: fakeAnswer(prompt),
      tokens_used: usage.promptTokens + usage.completionTokens,
      cost: (usage.promptTokens * 100_000 + usage.completionTokens * 300_000) / 1e12,
      provider: "mistral",
    });
    expect(fake.requests.find((request) => request.prompt === prompt)?.model).toBe("mistral-small-latest");
  });

  it("answers 502 with the task's error when the provider refuses (401)", async () => {
    fake.setReply(() => ({ kind: "status", status: 401, message: "Incorrect API key provided" }));
    const response = await post({ prompt: "will be refused" }, "/api/task?wait=60");

    expect(response.statusCode).toBe(502);
    const body = response.json();
    expect(body).toEqual({
      error: expect.stringContaining("401"),
      code: "UPSTREAM",
      task_id: expect.any(Number),
      status: "failed",
      request_id: expect.any(String),
    });

    const view = (await testApp.app.inject({ method: "GET", url: `/api/task/${body.task_id}` })).json();
    expect(view).toMatchObject({ status: "failed", output: null, cost: null, attempts: 1 });
    expect(view.error).toContain("401");
  });

  it("answers 202 when the task is still running at the deadline, and the task finishes later", async () => {
    fake.setReply(() => ({ kind: "ok", delayMs: 3000 }));
    const prompt = "slow one";
    const response = await post({ prompt }, "/api/task?wait=1");

    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toEqual({ task_id: expect.any(Number), status: expect.any(String), provider: "openai" });
    expect(["pending", "processing"]).toContain(body.status);
    expect(response.headers.location).toBe(`/api/task/${body.task_id}`);

    const finished = await pollUntilFinal(body.task_id);
    expect(finished).toMatchObject({ status: "completed", output: fakeAnswer(prompt), cost: gpt4oMiniCost(prompt) });
  });
});
