// callback_url on submit (the SSRF rules), and GET /api/task/:id/callbacks: a task's callback
// delivery and its attempts. Delivery itself is the worker's (apps/worker/src/callbacks.test.ts).
import { randomBytes } from "node:crypto";
import { deliverCallback, resolveWithSystem } from "@aitasks/callbacks";
import { type CallbackReceiver, startCallbackReceiver, useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
/** Callbacks configured, public addresses only (the defaults). */
let guarded: TestApp;
/** CALLBACK_ALLOW_PRIVATE_NETWORKS=true. */
let allowing: TestApp;
/** No CALLBACK_SIGNING_SECRET. */
let unconfigured: TestApp;
let receiver: CallbackReceiver;

beforeAll(async () => {
  guarded = await createTestApp(env, {}, { CALLBACK_SIGNING_SECRET: SECRET });
  allowing = await createTestApp(env, {}, { CALLBACK_SIGNING_SECRET: SECRET, CALLBACK_ALLOW_PRIVATE_NETWORKS: "true" });
  unconfigured = await createTestApp(env);
  receiver = await startCallbackReceiver();
});
afterAll(async () => {
  await guarded?.close();
  await allowing?.close();
  await unconfigured?.close();
  await receiver?.close();
});

const post = (app: TestApp, payload: Record<string, unknown>, url = "/api/task") =>
  app.app.inject({ method: "POST", url, payload });
const callbacksOf = (app: TestApp, id: number | string, prefix = "/api") =>
  app.app.inject({ method: "GET", url: `${prefix}/task/${id}/callbacks` });
const counts = async () => {
  const [row] = await guarded.sql<{ tasks: number }[]>`select count(*)::int as tasks from tasks`;
  return { tasks: row!.tasks, jobs: await guarded.queues.tasks.count() };
};

describe("callback_url on POST /api/task", () => {
  it.each([
    ["http://127.0.0.1/hook", "127.0.0.1 is a loopback address"],
    ["http://localhost:8080/hook", 'the host "localhost" resolves to'],
    ["http://[::1]/hook", "::1 is a loopback address"],
    ["http://10.0.0.1/hook", "10.0.0.1 is a private address"],
    ["http://192.168.1.20/hook", "192.168.1.20 is a private address"],
    ["http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"],
    ["http://[::ffff:127.0.0.1]/hook", "is a loopback address"],
    ["http://[fd00::1]/hook", "fd00::1 is a private address"],
    ["http://100.64.0.1/hook", "100.64.0.1 is a shared (carrier-grade NAT) address"],
    ["http://0.0.0.0/hook", "0.0.0.0 is an unspecified address"],
    ["https://does-not-exist.invalid/hook", 'the host "does-not-exist.invalid" does not resolve'],
  ])("refuses %s with 400, storing and queueing nothing", async (callbackUrl, reason) => {
    const before = await counts();
    const response = await post(guarded, { prompt: "to a refused callback", callback_url: callbackUrl });

    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ code: "VALIDATION" });
    expect(response.json().error).toMatch(/^callback_url: /);
    expect(response.json().error).toContain(reason);
    expect(await counts()).toEqual(before);
  });

  it.each([
    ["ftp://hooks.example/in", "callback_url must be an absolute http:// or https:// URL"],
    ["javascript:alert(1)", "callback_url must be an absolute http:// or https:// URL"],
    ["/relative/hook", "callback_url must be an absolute http:// or https:// URL"],
    ["https://user:secret@hooks.example/in", "callback_url must not carry a user name or password"],
    [`https://hooks.example/${"a".repeat(2048)}`, "callback_url must be at most 2048 characters"],
  ])("refuses the malformed %s with 400, storing nothing", async (callbackUrl, message) => {
    const before = await counts();
    const response = await post(guarded, { prompt: "malformed callback", callback_url: callbackUrl });

    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toContain(message);
    expect(await counts()).toEqual(before);
  });

  it("accepts a public address, and shows the callback_url on the task", async () => {
    const response = await post(guarded, { prompt: "public callback", callback_url: "https://93.184.215.14/in?x=1" });

    expect(response.statusCode, response.body).toBe(202);
    const task = await guarded.app.inject({ method: "GET", url: `/api/task/${response.json().task_id}` });
    expect(task.json().callback_url).toBe("https://93.184.215.14/in?x=1");
  });

  it("accepts private addresses only with CALLBACK_ALLOW_PRIVATE_NETWORKS=true", async () => {
    const response = await post(allowing, { prompt: "private callback", callback_url: "http://127.0.0.1:9/hook" });
    expect(response.statusCode, response.body).toBe(202);
  });

  it("refuses every callback_url with 400 when callbacks are not configured (no CALLBACK_SIGNING_SECRET)", async () => {
    const before = await counts();
    const response = await post(unconfigured, { prompt: "unsigned", callback_url: "https://93.184.215.14/in" });

    expect(response.statusCode).toBe(400);
    expect(response.json().error).toBe("callback_url: callbacks are not configured on this server (no signing secret)");
    expect(await counts()).toEqual(before);
    // Tasks without one are not affected.
    expect((await post(unconfigured, { prompt: "no callback" })).statusCode).toBe(202);
  });

  it("refuses a batch whose item has a refused callback_url, naming the item; nothing is stored", async () => {
    const before = await counts();
    const response = await post(
      guarded,
      {
        tasks: [
          { prompt: "fine", callback_url: "https://93.184.215.14/in" },
          { prompt: "fine too" },
          { prompt: "to localhost", callback_url: "http://localhost/hook" },
        ],
      },
      "/api/tasks/batch",
    );

    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().error).toMatch(/^tasks\.2: callback_url: the host "localhost" resolves to/);
    expect(await counts()).toEqual(before);
  });
});

describe("GET /api/task/:id/callbacks", () => {
  it("says `none` for a task without a callback_url, and `waiting` while a task with one is unfinished", async () => {
    const plain = (await post(guarded, { prompt: "no callback here" })).json().task_id;
    const response = await callbacksOf(guarded, plain);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      task_id: plain,
      callback_url: null,
      state: "none",
      webhook_id: null,
      next_attempt_at: null,
      attempts: [],
    });

    const waiting = (await post(guarded, { prompt: "callback later", callback_url: "https://93.184.215.14/in" })).json()
      .task_id;
    expect((await callbacksOf(guarded, waiting, "/api/v1")).json()).toMatchObject({
      callback_url: "https://93.184.215.14/in",
      state: "waiting",
      attempts: [],
    });
  });

  it("queues the callback of a canceled task, then lists each attempt as it was made", async () => {
    const id = (await post(allowing, { prompt: "canceled with callback", callback_url: `${receiver.url}/hook` })).json()
      .task_id;
    expect((await allowing.app.inject({ method: "POST", url: `/api/task/${id}/cancel` })).statusCode).toBe(200);

    const job = await allowing.queues.callbacks.getJob(`callback-${id}`);
    expect(job?.data).toEqual({ taskId: id });
    const pending = (await callbacksOf(allowing, id)).json();
    expect(pending).toMatchObject({ state: "pending", webhook_id: `task_${id}_canceled`, attempts: [] });
    expect(Date.parse(pending.next_attempt_at)).not.toBeNaN();

    // The worker's delivery, made here: first a 503, then a 200.
    receiver.setReply((_callback, index) => ({ kind: "status", status: index === 0 ? 503 : 200 }));
    const deliver = () =>
      deliverCallback(
        {
          db: allowing.db,
          signingSecret: SECRET,
          maxAttempts: 12,
          retryBaseMs: 5000,
          timeoutMs: 5000,
          policy: { allowPrivateNetworks: true, resolveHost: resolveWithSystem },
        },
        id,
      );
    expect(await deliver()).toMatchObject({ outcome: "retry", delayMs: 5000 });
    expect((await callbacksOf(allowing, id)).json()).toMatchObject({
      state: "pending",
      attempts: [{ attempt: 1, status_code: 503, error: "the receiver answered 503" }],
    });
    expect(await deliver()).toEqual({ outcome: "delivered" });

    const body = (await callbacksOf(allowing, id)).json();
    expect(body).toEqual({
      task_id: id,
      callback_url: `${receiver.url}/hook`,
      state: "delivered",
      webhook_id: `task_${id}_canceled`,
      next_attempt_at: null,
      attempts: [
        {
          attempt: 1,
          attempted_at: expect.any(String),
          status_code: 503,
          error: "the receiver answered 503",
          duration_ms: expect.any(Number),
        },
        {
          attempt: 2,
          attempted_at: expect.any(String),
          status_code: 200,
          error: null,
          duration_ms: expect.any(Number),
        },
      ],
    });
    expect(Date.parse(body.attempts[1].attempted_at)).toBeGreaterThanOrEqual(Date.parse(body.attempts[0].attempted_at));
    expect(JSON.parse(receiver.received[1]!.body)).toMatchObject({ id, status: "canceled" });
    // Delivered: another delivery of the job sends nothing.
    expect(await deliver()).toEqual({ outcome: "skipped" });
    expect(receiver.received).toHaveLength(2);
  });

  it("answers 404 for an unknown task and 400 for an id that is not a positive integer", async () => {
    expect((await callbacksOf(guarded, 999_999_999)).json()).toMatchObject({ code: "NOT_FOUND" });
    expect((await callbacksOf(guarded, 999_999_999)).statusCode).toBe(404);
    expect((await callbacksOf(guarded, "abc")).statusCode).toBe(400);
  });
});
