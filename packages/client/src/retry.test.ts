// Submissions retried under one Idempotency-Key, against the API process, Postgres and Redis, with
// the faults made for real: an answer lost on the way back (a TCP proxy cuts the connection after
// the task was stored), Postgres unreachable (503), the per-user quota of unfinished tasks (429).
import { randomUUID } from "node:crypto";
import {
  type FakeChatServer,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startTcpProxy,
  startWorkerProcess,
  type TcpProxy,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, parseRetryAfter } from "./api-error.js";
import { createClient } from "./create-client.js";
import { isRetryable } from "./retry.js";

const env = useTestEnvironment();
let fake: FakeChatServer;
let worker: RunningProcess;
let sql: postgres.Sql;
/** Postgres, behind a proxy that a test takes down. */
let database: TcpProxy;
let api: StartedApi;
/** The API, behind a proxy that a test cuts. */
let front: TcpProxy;

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    if (request.prompt.startsWith("slow")) return { kind: "ok", delayMs: 2000 };
    if (request.prompt.startsWith("refused"))
      return { kind: "status", status: 400, message: "refused by the provider" };
    return { kind: "ok" };
  });
  const databaseUrl = new URL(env.databaseUrl);
  database = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
  api = await startApi({
    DATABASE_URL: database.proxied(env.databaseUrl),
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    MAX_PENDING_TASKS_PER_USER: "1",
  });
  front = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(api.baseUrl).port) });
  worker = startWorkerProcess(env, fake);
  sql = postgres(env.databaseUrl, { max: 1, onnotice: () => {} });
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await api?.proc.stop();
  await Promise.all([front?.close(), database?.close(), fake?.close(), sql?.end({ timeout: 5 })]);
});

/** A fetch that records what each attempt sent and got (an answer's status, or the error). */
function recordingFetch() {
  const attempts: { key: string | undefined; outcome: number | string; replayed: boolean }[] = [];
  const recorder: typeof fetch = async (input, init) => {
    const key = new Headers(init?.headers).get("idempotency-key") ?? undefined;
    try {
      const response = await fetch(input, init);
      attempts.push({ key, outcome: response.status, replayed: response.headers.has("idempotent-replayed") });
      return response;
    } catch (error) {
      attempts.push({ key, outcome: (error as Error).name, replayed: false });
      throw error;
    }
  };
  return { attempts, fetch: recorder };
}

const tasksWith = async (prompt: string) =>
  (await sql<{ count: number }[]>`select count(*)::int as count from tasks where input = ${prompt}`)[0]!.count;

describe("submitTask retries", () => {
  it("sends again with the same key when the answer is lost after the task was stored: one task", async () => {
    const prompt = `slow: lost answer ${randomUUID()}`;
    const recording = recordingFetch();
    const retries: unknown[] = [];
    const client = createClient({ baseUrl: front.proxied(api.baseUrl), fetch: recording.fetch });
    const submitting = client.submitTask(
      { prompt, user_id: "lost-answer" },
      { wait: 10, retry: { maxAttempts: 10, onRetry: ({ error }) => retries.push(error) } },
    );

    // The worker has the task: it is stored, and its request is held open by `wait`. Cut it.
    await waitFor(() => fake.requests.some((request) => request.prompt === prompt), 15_000, {
      message: "the worker to call the provider",
    });
    front.down();
    front.up();

    const answer = await submitting;
    expect(answer).toMatchObject({ status: "completed", response: `answer to: ${prompt}` });
    expect(await tasksWith(prompt)).toBe(1);
    // The cut connection, then the first request still running (409 while the task runs), then its answer replayed.
    expect(retries[0]).toBeInstanceOf(TypeError);
    expect(
      retries.slice(1).every((error) => error instanceof ApiError && error.code === "IDEMPOTENCY_KEY_IN_FLIGHT"),
    ).toBe(true);
    expect(retries.length).toBeGreaterThanOrEqual(2);
    expect(recording.attempts.at(-1)).toMatchObject({ outcome: 200, replayed: true });
    const keys = new Set(recording.attempts.map((attempt) => attempt.key));
    expect(keys.size).toBe(1);
    expect([...keys][0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("retries a 503 while Postgres is unreachable, with the key it was given", async () => {
    const prompt = `database down ${randomUUID()}`;
    const recording = recordingFetch();
    const client = createClient({ baseUrl: api.baseUrl, fetch: recording.fetch });
    database.down();
    const submitting = client.submitTask(
      { prompt, user_id: "database-down" },
      { idempotencyKey: "my-key-1", retry: { maxAttempts: 20, maxDelayMs: 500 } },
    );
    await waitFor(() => recording.attempts.some((attempt) => attempt.outcome === 503), 15_000, {
      message: () => `a 503 (got ${JSON.stringify(recording.attempts)})`,
    });
    database.up();

    expect(await submitting).toMatchObject({ status: "pending" });
    expect(await tasksWith(prompt)).toBe(1);
    expect(recording.attempts.at(-1)).toMatchObject({ outcome: 202, key: "my-key-1" });
    expect(recording.attempts.every((attempt) => attempt.key === "my-key-1")).toBe(true);
  });

  it("retries a 429 (too many unfinished tasks) with backoff until the first task is done", async () => {
    const client = createClient({ baseUrl: api.baseUrl });
    const first = await client.submitTask({ prompt: `slow: quota ${randomUUID()}`, user_id: "quota" });
    const prompt = `after quota ${randomUUID()}`;
    const retries: { delayMs: number; status: number | undefined }[] = [];
    const second = await client.submitTask(
      { prompt, user_id: "quota" },
      {
        retry: {
          maxAttempts: 20,
          maxDelayMs: 1000,
          onRetry: ({ delayMs, error }) => retries.push({ delayMs, status: (error as ApiError).status }),
        },
      },
    );
    expect(second.task_id).toBeGreaterThan(first.task_id);
    expect(await tasksWith(prompt)).toBe(1);
    expect(retries.length).toBeGreaterThan(0);
    expect(retries.every((retry) => retry.status === 429 && retry.delayMs <= 1000)).toBe(true);
  });

  it("keeps the 502 of a task that failed during the wait: the same request again replays it, and stores nothing", async () => {
    const prompt = `refused ${randomUUID()}`;
    const send = (key: string) =>
      fetch(`${api.baseUrl}/api/task?wait=20`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: JSON.stringify({ prompt }),
      });
    const key = `failed-${randomUUID()}`;
    const first = await send(key);
    const failed = await first.json();
    expect(first.status, JSON.stringify(failed)).toBe(502);
    expect(failed).toMatchObject({ status: "failed", error: expect.stringContaining("refused by the provider") });

    const again = await send(key);
    expect(again.status).toBe(502);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.json()).toEqual(failed);
    expect(await tasksWith(prompt)).toBe(1);
    // Another key is another request: it stores a task of its own.
    expect((await send(`failed-${randomUUID()}`)).status).toBe(502);
    expect(await tasksWith(prompt)).toBe(2);
  });

  it("does not retry what waiting cannot mend, and retries nothing with retry: false", async () => {
    const client = createClient({ baseUrl: api.baseUrl });
    await expect(client.submitTask({ prompt: "" })).rejects.toMatchObject({ status: 400, code: "VALIDATION" });
    // The same key with another body.
    await client.submitTask({ prompt: "first body" }, { idempotencyKey: "reused-key" });
    await expect(client.submitTask({ prompt: "second body" }, { idempotencyKey: "reused-key" })).rejects.toMatchObject({
      status: 422,
      code: "IDEMPOTENCY_KEY_REUSED",
    });
    const recording = recordingFetch();
    const once = createClient({ baseUrl: front.proxied(api.baseUrl), fetch: recording.fetch, retry: false });
    front.down();
    await expect(once.submitTask({ prompt: "never stored" })).rejects.toBeInstanceOf(TypeError);
    front.up();
    expect(recording.attempts).toHaveLength(1);
    // Without retries no key is made up.
    expect(recording.attempts.at(-1)).toMatchObject({ key: undefined });
  });
});

describe("the retry rules", () => {
  const answer = (status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    new ApiError(status, { error: "e", ...body }, new Headers(headers));

  it("parses Retry-After as seconds or an HTTP date", () => {
    const now = Date.parse("2025-01-15T10:30:00Z");
    expect(parseRetryAfter("3", now)).toBe(3000);
    expect(parseRetryAfter("Wed, 15 Jan 2025 10:30:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Wed, 15 Jan 2025 10:29:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(answer(429, {}, { "retry-after": "2" }).retryAfterMs).toBe(2000);
  });

  it("retries connections, 5xx, 429 and a key in flight; never a 5xx after the task was stored", () => {
    expect(isRetryable(new TypeError("fetch failed"))).toBe(true);
    expect(isRetryable(new DOMException("timed out", "TimeoutError"))).toBe(true);
    expect(isRetryable(new DOMException("aborted", "AbortError"))).toBe(false);
    expect(isRetryable(answer(503, { code: "UNAVAILABLE" }))).toBe(true);
    expect(isRetryable(answer(429, { code: "RATE_LIMITED" }))).toBe(true);
    expect(isRetryable(answer(409, { code: "IDEMPOTENCY_KEY_IN_FLIGHT" }))).toBe(true);
    expect(isRetryable(answer(409, { code: "CONFLICT", task_id: 1, status: "canceled" }))).toBe(false);
    expect(isRetryable(answer(502, { task_id: 1, status: "failed" }))).toBe(false);
    expect(isRetryable(answer(503, { code: "NOT_CONFIGURED" }))).toBe(false);
    expect(isRetryable(answer(402, { code: "INSUFFICIENT_CREDIT" }))).toBe(false);
  });
});
