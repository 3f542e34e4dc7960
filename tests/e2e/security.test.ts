// Security with the real processes, started as an operator starts them: a rate limit shared by two
// API processes through Redis, refusing to run open in production, the open-mode warning, and
// logs that never carry a key, a provider or Stripe secret, or a prompt.
import { randomBytes } from "node:crypto";
import {
  exitWithin,
  type FakeChatServer,
  type FakeStripeServer,
  freePort,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startFakeStripeServer,
  startProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;
let stripe: FakeStripeServer;

/** The environment every process of this file reads; no ADMIN_API_KEY unless a test sets one. */
function baseEnv(): Record<string, string> {
  return {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    OPENAI_API_KEY: "sk-test",
    OPENAI_BASE_URL: fake.openaiBaseURL,
    MISTRAL_API_KEY: "mk-test",
    MISTRAL_BASE_URL: fake.mistralServerURL,
    ADMIN_API_KEY: "",
    NODE_ENV: "",
  };
}

const started: RunningProcess[] = [];
function track<T extends RunningProcess | StartedApi>(value: T): T {
  started.push("proc" in value ? value.proc : value);
  return value;
}
const outputs = () => started.map((proc) => `--- ${proc.name} ---\n${proc.output()}`).join("\n");

beforeAll(async () => {
  [fake, stripe] = await Promise.all([startFakeChatServer(), startFakeStripeServer()]);
});
afterEach(async () => {
  await Promise.all(started.map((proc) => proc.kill9()));
  started.length = 0;
  fake.setReply(() => ({ kind: "ok" }));
  stripe.fail(undefined);
});
afterAll(async () => {
  await killAll();
  await fake?.close();
  await stripe?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(
  baseUrl: string,
  path: string,
  { method = "GET", headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<Answer> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function createUserKey(baseUrl: string, adminKey: string, userId: string): Promise<string> {
  const answer = await call(baseUrl, "/api/keys", {
    method: "POST",
    headers: bearer(adminKey),
    body: { user_id: userId },
  });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body.key as string;
}

describe("rate limit", () => {
  it("is one limit across two API processes sharing Redis: the 11th and 12th request answer 429", async () => {
    const admin = `admin-${randomBytes(12).toString("hex")}`;
    const limited = { ...baseEnv(), ADMIN_API_KEY: admin, RATE_LIMIT_PER_MINUTE: "10" };
    const [first, second] = await Promise.all([startApi(limited).then(track), startApi(limited).then(track)]);
    const keyA = await createUserKey(first!.baseUrl, admin, "limited-a@example.com");
    const keyB = await createUserKey(second!.baseUrl, admin, "limited-b@example.com");

    const answers: Answer[] = [];
    for (const api of [first!, second!]) {
      for (let i = 0; i < 6; i++)
        answers.push(await call(api.baseUrl, "/api/tasks?limit=1", { headers: bearer(keyA) }));
    }

    expect(
      answers.map((answer) => answer.status),
      outputs(),
    ).toEqual([...Array(10).fill(200), 429, 429]);
    // One count: the second process goes on where the first stopped.
    expect(answers.slice(0, 10).map((answer) => answer.headers.get("x-ratelimit-remaining"))).toEqual([
      "9",
      "8",
      "7",
      "6",
      "5",
      "4",
      "3",
      "2",
      "1",
      "0",
    ]);
    for (const answer of answers.slice(0, 10)) expect(answer.headers.get("x-ratelimit-limit")).toBe("10");
    for (const answer of answers.slice(10)) {
      expect(answer.headers.get("retry-after")).toMatch(/^\d+$/);
      const retryAfter = Number(answer.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(answer.headers.get("x-ratelimit-limit")).toBe("10");
      expect(answer.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
      expect(answer.body).toEqual({ error: expect.any(String), code: "RATE_LIMITED", request_id: expect.any(String) });
      expect(answer.body.error).toMatch(/rate limit/);
    }
    // Limited on every route, both processes, both path versions.
    for (const api of [first!, second!]) {
      expect((await call(api.baseUrl, "/api/v1/tasks", { headers: { "x-api-key": keyA } })).status).toBe(429);
      const submitted = await call(api.baseUrl, "/api/task", {
        method: "POST",
        headers: bearer(keyA),
        body: { prompt: "over the limit" },
      });
      expect(submitted.status).toBe(429);
    }

    // Another key has a count of its own, and /health is never limited.
    const other = [
      await call(first!.baseUrl, "/api/tasks", { headers: bearer(keyB) }),
      await call(second!.baseUrl, "/api/tasks", { headers: { "x-api-key": keyB } }),
    ];
    expect(other.map((answer) => answer.status)).toEqual([200, 200]);
    expect(other.map((answer) => answer.headers.get("x-ratelimit-remaining"))).toEqual(["9", "8"]);
    for (let i = 0; i < 15; i++) expect((await call(first!.baseUrl, "/health")).status).toBe(200);
  }, 90_000);

  it("counts per client address in open mode, across processes too", async () => {
    const open = { ...baseEnv(), RATE_LIMIT_PER_MINUTE: "10" };
    const [first, second] = await Promise.all([startApi(open).then(track), startApi(open).then(track)]);

    const statuses: number[] = [];
    for (const api of [first!, second!]) {
      for (let i = 0; i < 6; i++) statuses.push((await call(api.baseUrl, "/api/stats")).status);
    }
    expect(statuses, outputs()).toEqual([...Array(10).fill(200), 429, 429]);
    const limited = await call(second!.baseUrl, "/api/tasks");
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(limited.body.error).toEqual(expect.any(String));
  }, 90_000);
});

describe("start-up", () => {
  it("refuses to start with NODE_ENV=production and no ADMIN_API_KEY, naming the variable", async () => {
    const port = await freePort();
    const proc = track(startProcess("api", { ...baseEnv(), NODE_ENV: "production", PORT: String(port) }));

    const code = await exitWithin(proc, 15_000);
    expect(code, proc.output()).not.toBe(0);
    expect(proc.stderr()).toContain("ADMIN_API_KEY");
    expect(proc.stderr()).toMatch(/NODE_ENV=production/);
    expect(await fetch(`http://127.0.0.1:${port}/health`).catch(() => null)).toBeNull();
  }, 30_000);

  it("refuses a too-short admin key in production without printing it", async () => {
    const proc = track(
      startProcess("api", {
        ...baseEnv(),
        NODE_ENV: "production",
        ADMIN_API_KEY: "short-k3y",
        PORT: String(await freePort()),
      }),
    );
    expect(await exitWithin(proc, 15_000), proc.output()).not.toBe(0);
    expect(proc.stderr()).toContain("ADMIN_API_KEY");
    expect(proc.output()).not.toContain("short-k3y");
  }, 30_000);

  it("starts open without ADMIN_API_KEY, with a loud OPEN MODE warning, and serves without a key", async () => {
    const api = track(await startApi(baseEnv()));
    await waitFor(() => api.proc.output().includes("OPEN MODE"), 10_000, {
      message: () => `the OPEN MODE warning; output:\n${api.proc.output()}`,
    });
    const warning = api.proc
      .output()
      .split("\n")
      .find((line) => line.includes("OPEN MODE"))!;
    expect(warning).toContain("ADMIN_API_KEY");
    // A warn-level line (pino level 40) when logs are JSON.
    if (warning.trimStart().startsWith("{")) expect(JSON.parse(warning).level).toBeGreaterThanOrEqual(40);

    expect((await call(api.baseUrl, "/api/stats")).status).toBe(200);
    // Key management needs ADMIN_API_KEY, even open: a key minted now would outlive open mode.
    expect((await call(api.baseUrl, "/api/keys")).status).toBe(403);
  }, 60_000);

  it("starts secured with ADMIN_API_KEY in production, without the warning", async () => {
    const admin = `admin-${randomBytes(12).toString("hex")}`;
    const api = track(
      await startApi({ ...baseEnv(), NODE_ENV: "production", ADMIN_API_KEY: `${admin}, second-admin-key-0001` }),
    );
    expect((await call(api.baseUrl, "/api/stats")).status).toBe(401);
    expect((await call(api.baseUrl, "/api/stats", { headers: bearer(admin) })).status).toBe(200);
    expect((await call(api.baseUrl, "/api/stats", { headers: { "x-api-key": "second-admin-key-0001" } })).status).toBe(
      200,
    );
    expect(api.proc.output()).not.toContain("OPEN MODE");
  }, 60_000);
});

describe("logs", () => {
  it("carry no API key, Stripe or OpenAI secret, nor prompt, whatever the requests", async () => {
    const admin = `admin-${randomBytes(16).toString("hex")}`;
    const stripeSecret = "sk_test_secret_value";
    const openaiSecret = "sk-openai-secret";
    const prompt = `Tell me the launch codes: pelican-${randomBytes(4).toString("hex")}-zebra`;
    const failingPrompt = `This one fails: walrus-${randomBytes(4).toString("hex")}-otter`;
    fake.setReply((request) =>
      request.prompt === failingPrompt
        ? { kind: "status", status: 400, message: "bad request from provider" }
        : { kind: "ok" },
    );
    const processEnv = {
      ...baseEnv(),
      LOG_LEVEL: "info",
      ADMIN_API_KEY: admin,
      OPENAI_API_KEY: openaiSecret,
      STRIPE_SECRET_KEY: stripeSecret,
      STRIPE_API_BASE_URL: stripe.url,
      STRIPE_SUBSCRIPTION_PRICE_ID: "price_123",
      STRIPE_WEBHOOK_SECRET: "whsec_log_test",
    };
    const api = track(await startApi(processEnv));
    const worker = track(startProcess("worker", processEnv));

    const userKey = await createUserKey(api.baseUrl, admin, "logged@example.com");
    const asUser = { "x-api-key": userKey };
    const asAdmin = bearer(admin);

    const done = await call(api.baseUrl, "/api/task?wait=20", { method: "POST", headers: asUser, body: { prompt } });
    expect(done.status, `${JSON.stringify(done.body)}\n${outputs()}`).toBe(200);
    const failed = await call(api.baseUrl, "/api/task?wait=20", {
      method: "POST",
      headers: asUser,
      body: { prompt: failingPrompt },
    });
    expect(failed.status, `${JSON.stringify(failed.body)}\n${outputs()}`).toBe(502);
    const taskId = done.body.task_id as number;
    expect((await call(api.baseUrl, `/api/task/${taskId}`, { headers: asUser })).body.input).toBe(prompt);
    expect((await call(api.baseUrl, `/api/task/${taskId}`, { headers: asAdmin })).status).toBe(200);
    expect((await call(api.baseUrl, "/api/tasks", { headers: asUser })).status).toBe(200);
    expect((await call(api.baseUrl, "/api/stats", { headers: asAdmin })).status).toBe(200);
    expect((await call(api.baseUrl, "/api/stats", { headers: bearer(userKey) })).status).toBe(403);
    // Refused and malformed requests are logged too: none may echo what was sent.
    expect((await call(api.baseUrl, "/api/stats", { headers: bearer(`${admin}x`) })).status).toBe(401);
    expect((await call(api.baseUrl, "/api/stats", { headers: { "x-api-key": `${userKey}x` } })).status).toBe(401);
    const badModel = await call(api.baseUrl, "/api/task", {
      method: "POST",
      headers: asAdmin,
      body: { prompt, model: "no-such-model" },
    });
    expect(badModel.status).toBe(400);
    const tooLong = await call(api.baseUrl, "/api/task", {
      method: "POST",
      headers: asUser,
      body: { prompt: `${prompt} ${"x".repeat(100_001)}` },
    });
    expect(tooLong.status).toBe(400);
    const micro = await call(api.baseUrl, "/api/payment/micro", {
      method: "POST",
      headers: asUser,
      body: { user_id: "logged@example.com", description: prompt },
    });
    expect(micro.status, JSON.stringify(micro.body)).toBe(200);
    stripe.fail({ status: 500, type: "api_error", message: "Stripe is down" });
    const stripeDown = await call(api.baseUrl, "/api/payment/subscription", {
      method: "POST",
      headers: asUser,
      body: { email: "logged@example.com" },
    });
    expect(stripeDown.status).toBe(502);
    const unsigned = await call(api.baseUrl, "/api/webhook/stripe", { method: "POST", body: { prompt } });
    expect(unsigned.status).toBe(400);

    // The secrets were really in use: the providers and Stripe were called with them.
    expect(fake.requests.some((request) => request.authorization === `Bearer ${openaiSecret}`)).toBe(true);
    expect(stripe.requests.some((request) => request.authorization === `Bearer ${stripeSecret}`)).toBe(true);

    // Stop both so every line is flushed, then read everything they wrote.
    expect(await Promise.all([api.proc.stop("SIGTERM"), worker.stop("SIGTERM")])).toEqual([0, 0]);
    const logs = `${api.proc.output()}\n${worker.output()}`;
    // Logging ran at info: each request left its lines, so the absence below means something.
    expect(logs).toContain("incoming request");
    expect(logs).toContain("request completed");
    expect(logs.split("\n").filter((line) => line.includes("incoming request")).length).toBeGreaterThanOrEqual(12);
    expect(logs).toContain("worker started");

    const secrets: [string, string][] = [
      ["the admin key", admin],
      ["the user key", userKey],
      ["the user key without its prefix", userKey.slice(10)],
      ["the Stripe secret key", stripeSecret],
      ["the OpenAI key", openaiSecret],
      ["the prompt", prompt],
      ["the failing prompt", failingPrompt],
      ["the prompt's marker", prompt.split(": ")[1]!],
      ["the Stripe webhook secret", "whsec_log_test"],
    ];
    for (const [name, secret] of secrets) expect(logs.includes(secret), `${name} appears in the logs`).toBe(false);
    expect(logs).not.toMatch(/authorization|x-api-key/i);
  }, 120_000);
});
