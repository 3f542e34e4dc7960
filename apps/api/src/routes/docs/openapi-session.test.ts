// A real session judged by GET /openapi.json, as a validating proxy in front of the service would
// judge it: every request the client means to be valid must be one the document describes, and
// every answer (status, media type, body) one it lists for that operation. A worker process runs
// the tasks on the fake provider; Stripe is the fake Stripe.
import { createStripeClient } from "@aitasks/billing";
import {
  type FakeChatServer,
  type FakeStripeServer,
  type RunningProcess,
  signStripeEvent,
  startFakeChatServer,
  startFakeStripeServer,
  startWorkerProcess,
  stripeEvent,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDocumentChecker, type DocumentChecker, type Exchange } from "../../testing/create-document-checker.js";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-openapi-session-0123456789";
const WEBHOOK_SECRET = "whsec_openapi_session";
let t: Awaited<ReturnType<typeof createTestApp>>;
let chat: FakeChatServer;
let stripe: FakeStripeServer;
let worker: RunningProcess;
let checker: DocumentChecker;
/** `METHOD /path STATUS` of every answer judged, for the tally at the end. */
const seen = new Set<string>();

beforeAll(async () => {
  chat = await startFakeChatServer((request) =>
    // A task that is still at its provider when it is canceled, however slow the worker is to claim it.
    request.prompt.startsWith("hang") ? { kind: "hang" } : { kind: "ok" },
  );
  stripe = await startFakeStripeServer();
  t = await createTestApp(
    env,
    {
      stripe: createStripeClient({ secretKey: "sk_test_session", apiBaseUrl: stripe.url }),
      stripeWebhookSecret: WEBHOOK_SECRET,
      checkout: {
        subscriptionPriceId: "price_session",
        microPaymentAmountCents: 100,
        currency: "usd",
        publicBaseUrl: "https://tasks.example.com",
      },
    },
    { ADMIN_API_KEY: ADMIN, BILLING_MODE: "prepaid" },
  );
  worker = startWorkerProcess(env, chat, { BILLING_MODE: "prepaid", PROVIDER_TIMEOUT_MS: "60000" });
  const served = await t.app.inject({ method: "GET", url: "/openapi.json" });
  checker = createDocumentChecker(served.json());
});
afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await chat?.close();
  await stripe?.close();
});

interface Call {
  key?: string;
  body?: unknown;
  /** Sent as is (the webhook's signed bytes); `body` is then what it holds. */
  raw?: string;
  headers?: Record<string, string>;
  /** The request is one the document itself refuses (a bad id, a missing field): it must say so. */
  invalid?: boolean;
}

/** Sends a request, judges it and its answer by the document, and gives the answer back. */
async function call(method: "GET" | "HEAD" | "POST" | "DELETE" | "PUT" | "PATCH", url: string, options: Call = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined) headers["content-type"] ??= "application/json";
  const response = await t.app.inject({ method, url, headers, payload });
  const exchange: Exchange = {
    method,
    url,
    requestHeaders: headers,
    requestBody: options.body,
    status: response.statusCode,
    responseHeaders: response.headers,
    responseBody: response.body,
  };
  const operation = checker.operationOf(exchange);
  if (operation) {
    const problems = checker.requestProblems(exchange);
    if (options.invalid) expect(problems, `the document refuses ${method} ${url}`).not.toEqual([]);
    else expect(problems, `${method} ${url} is a request the document describes`).toEqual([]);
  }
  expect(checker.answerProblems(exchange), `${method} ${url} → ${response.statusCode}`).toEqual([]);
  seen.add(`${operation ?? `${method} ${url}`} ${response.statusCode}`);
  return { status: response.statusCode, headers: response.headers, body: response.body, json: () => response.json() };
}

/** Polls the task until it has ended (the worker runs it). */
async function finished(id: number, key: string) {
  for (;;) {
    const task = (await call("GET", `/api/task/${id}`, { key })).json();
    if (["completed", "failed", "canceled"].includes(task.status)) return task;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("a session judged by the OpenAPI document", () => {
  let alice = "";
  let aliceKeyId = 0;
  let done = 0;

  it("the service's own routes", async () => {
    expect((await call("GET", "/health")).status).toBe(200);
    expect((await call("HEAD", "/health")).status).toBe(200);
    // The document describes its own answer.
    expect((await call("GET", "/openapi.json")).status).toBe(200);
    expect((await call("HEAD", "/openapi.json")).status).toBe(200);
    expect((await call("GET", "/docs")).status).toBe(200);
    expect((await call("GET", "/docs/start.js")).status).toBe(200);
    expect((await call("GET", "/docs/nope")).status).toBe(404);
    expect((await call("GET", "/metrics", { key: ADMIN })).status).toBe(200);
  });

  it("keys, credit and balance (an admin's, then the user's)", async () => {
    const created = await call("POST", "/api/keys", { key: ADMIN, body: { user_id: "alice@example.com" } });
    expect(created.status).toBe(201);
    alice = created.json().key;
    aliceKeyId = created.json().id;
    expect(checker.parameterProblems({ method: "DELETE", url: `/api/keys/${aliceKeyId}` }, "id", aliceKeyId)).toEqual(
      [],
    );
    expect((await call("GET", "/api/keys", { key: ADMIN })).status).toBe(200);
    expect((await call("HEAD", "/api/v1/keys", { key: ADMIN })).status).toBe(200);
    const budget = { budget: { amount: 20, period: "month" } };
    expect((await call("PATCH", `/api/keys/${aliceKeyId}`, { key: ADMIN, body: budget })).status).toBe(200);
    expect((await call("PATCH", `/api/keys/${aliceKeyId}`, { key: ADMIN, body: { budget: null } })).status).toBe(200);
    expect((await call("POST", "/api/keys", { key: ADMIN, body: {}, invalid: true })).status).toBe(400);
    // A user's key on an admin's route.
    expect((await call("GET", "/api/keys", { key: alice })).status).toBe(403);

    const grant = { user_id: "alice@example.com", amount: 5, reason: "session" };
    expect((await call("POST", "/api/credits", { key: ADMIN, body: grant })).status).toBe(201);
    expect((await call("GET", "/api/balance?user_id=alice@example.com", { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/v1/balance", { key: alice })).status).toBe(200);
    const carol = { user_id: "carol@example.com" };
    expect((await call("POST", "/api/users", { key: ADMIN, body: carol })).status).toBe(201);
    expect((await call("POST", "/api/v1/users", { key: ADMIN, body: carol })).status).toBe(200);
    const unknown = { user_id: "nobody@example.com", amount: 1, reason: "no such user" };
    expect((await call("POST", "/api/credits", { key: ADMIN, body: unknown })).status).toBe(404);
  });

  it("tasks: submit, wait, read, list, follow, cancel, batch", async () => {
    const submitted = await call("POST", "/api/task", { key: alice, body: { prompt: "hello" } });
    expect(submitted.status).toBe(202);
    const id = submitted.json().task_id;
    expect(Number.isInteger(id)).toBe(true);
    // The id as the client holds it is what the document's path parameter takes (a generated
    // client's types refuse anything else).
    for (const path of [`/api/task/${id}`, `/api/task/${id}/events`, `/api/task/${id}/cancel`]) {
      const method = path.endsWith("cancel") ? "POST" : "GET";
      expect(checker.parameterProblems({ method, url: path }, "id", id), path).toEqual([]);
    }
    expect((await call("HEAD", `/api/task/${id}`, { key: alice })).status).toBe(200);
    expect((await finished(id, alice)).status).toBe("completed");
    done = id;

    const waited = await call("POST", "/api/v1/task?wait=30", { key: alice, body: { prompt: "wait for me" } });
    expect(waited.status).toBe(200);
    expect(waited.json()).toMatchObject({ status: "completed" });

    expect((await call("GET", "/api/tasks?limit=10", { key: alice })).status).toBe(200);
    expect((await call("GET", `/api/task/${id}/callbacks`, { key: alice })).status).toBe(200);
    const stream = await call("GET", `/api/v1/task/${id}/events`, { key: alice });
    expect(stream.status).toBe(200);
    expect(stream.body).toContain("id: end");
    const reconnect = await call("GET", `/api/task/${id}/events`, { key: alice, headers: { "last-event-id": "end" } });
    expect(reconnect.status).toBe(204);

    const hanging = await call("POST", "/api/task", { key: alice, body: { prompt: "hang until canceled" } });
    const canceled = await call("POST", `/api/task/${hanging.json().task_id}/cancel`, { key: alice });
    expect(canceled.status).toBe(200);
    const again = await call("POST", `/api/task/${hanging.json().task_id}/cancel`, { key: alice });
    expect(again.status).toBe(409);
    expect(again.json()).toMatchObject({ code: "CONFLICT", status: "canceled" });

    const batch = await call("POST", "/api/tasks/batch", {
      key: alice,
      body: { tasks: [{ prompt: "a" }, { prompt: "b" }] },
    });
    expect(batch.status).toBe(202);
  });

  it("refusals: 400, 401, 402, 404, 405, 409, 413, 415, 422", async () => {
    expect((await call("GET", "/api/task/abc", { key: alice, invalid: true })).status).toBe(400);
    expect((await call("GET", "/api/task/0", { key: alice, invalid: true })).status).toBe(400);
    expect((await call("POST", "/api/task", { key: alice, body: { priority: 1 }, invalid: true })).status).toBe(400);
    expect((await call("GET", "/api/tasks?limit=0", { key: alice, invalid: true })).status).toBe(400);
    expect((await call("GET", "/api/report/yearly", { key: ADMIN, invalid: true })).status).toBe(400);
    expect((await call("GET", "/api/tasks")).status).toBe(401);
    expect((await call("GET", "/api/tasks", { key: "not-a-key-of-ours-0123456789" })).status).toBe(401);
    expect((await call("GET", "/api/task/999999999", { key: alice })).status).toBe(404);
    expect((await call("GET", "/api/nothing-here", { key: alice })).status).toBe(404);

    // Prepaid billing: a user without credit.
    await call("POST", "/api/keys", { key: ADMIN, body: { user_id: "broke@example.com" } }).then(async (created) => {
      const broke = created.json().key;
      const refused = await call("POST", "/api/task", { key: broke, body: { prompt: "no credit" } });
      expect(refused.status).toBe(402);
      expect(refused.json()).toMatchObject({ code: "INSUFFICIENT_CREDIT", available: 0 });
      const batch = await call("POST", "/api/tasks/batch", { key: broke, body: { tasks: [{ prompt: "x" }] } });
      expect(batch.status).toBe(402);
    });

    expect((await call("DELETE", `/api/task/${done}`, { key: alice })).status).toBe(405);
    expect((await call("PUT", "/api/v1/tasks", { key: alice, body: {} })).status).toBe(405);

    const reused = { key: alice, headers: { "idempotency-key": "session-reused" } };
    expect((await call("POST", "/api/task", { ...reused, body: { prompt: "first" } })).status).toBe(202);
    expect((await call("POST", "/api/task", { ...reused, body: { prompt: "second" } })).status).toBe(422);

    const large = { prompt: "x".repeat(1024 * 1024 + 1) };
    expect((await call("POST", "/api/task", { key: alice, body: large })).status).toBe(413);
    const text = { key: alice, raw: "prompt", headers: { "content-type": "text/plain" }, invalid: true };
    expect((await call("POST", "/api/task", text)).status).toBe(415);
  });

  it("reports, stats and the ledger", async () => {
    expect((await call("GET", "/api/report/daily?group_by=model", { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/stats", { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/ledger", { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/ledger?format=csv", { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/stats", { key: alice })).status).toBe(403);
  });

  it("payments and Stripe's webhook", async () => {
    const micro = await call("POST", "/api/payment/micro", { key: ADMIN, body: { user_id: "alice@example.com" } });
    expect(micro.status).toBe(200);
    const subscription = await call("POST", "/api/payment/subscription", {
      key: ADMIN,
      body: { email: "bob@example.com" },
    });
    expect(subscription.status).toBe(200);

    const event = stripeEvent("customer.created", { id: "cus_session", object: "customer" });
    const signed = signStripeEvent(event, WEBHOOK_SECRET);
    const taken = await call("POST", "/api/webhook/stripe", {
      raw: signed.payload,
      body: event,
      headers: signed.headers,
    });
    expect(taken.status).toBe(200);
    const forged = { ...signed.headers, "stripe-signature": "t=1,v1=00" };
    expect(
      (await call("POST", "/api/webhook/stripe", { raw: signed.payload, body: event, headers: forged })).status,
    ).toBe(400);
  });

  it("a key revoked", async () => {
    expect((await call("DELETE", `/api/keys/${aliceKeyId}`, { key: ADMIN })).status).toBe(200);
    expect((await call("GET", "/api/tasks", { key: alice })).status).toBe(401);
  });

  it("reached every operation of the document (an /api/v1 one through either name: they are the same routes)", () => {
    const sameRoute = (operation: string) => operation.replace(" /api/v1/", " /api/");
    const reached = new Set([...seen].map((answer) => sameRoute(answer.split(" ").slice(0, 2).join(" "))));
    const missed = checker
      .operations()
      .filter((operation) => !operation.startsWith("HEAD") && !reached.has(sameRoute(operation)));
    expect(missed).toEqual([]);
  });
});
