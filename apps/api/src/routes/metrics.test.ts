// GET /metrics on the API and on a worker process (WORKER_HTTP_PORT), after real tasks run through
// the fake provider and a payment through the webhook: who may read them, and that the counts and
// the money equal what Postgres holds, with labels of bounded cardinality.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  type FakeChatServer,
  freePort,
  type MetricSample,
  parsePrometheusText,
  type RunningProcess,
  repoRoot,
  runPromtool,
  samplesOf,
  signStripeEvent,
  startFakeChatServer,
  startWorkerProcess,
  stripeEvent,
  sumOf,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const ADMIN = "admin-key-metrics-0123456789";
const TOKEN = "metrics-token-0123456789abcdef";
const WEBHOOK_SECRET = "whsec_metrics";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let fake: FakeChatServer;
let worker: RunningProcess;
let workerUrl: string;
let userKey: string;
let userId: number;

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function scrapeApi(headers: Record<string, string> = bearer(TOKEN)) {
  const response = await t.app.inject({ method: "GET", url: "/metrics", headers });
  return { status: response.statusCode, type: response.headers["content-type"], body: response.body };
}

async function scrapeWorker(headers: Record<string, string> = bearer(TOKEN)) {
  const response = await fetch(`${workerUrl}/metrics`, { headers });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.text() };
}

const samples = async (scrape: Promise<{ status: number; body: string }>): Promise<MetricSample[]> => {
  const { status, body } = await scrape;
  expect(status, body).toBe(200);
  return parsePrometheusText(body);
};

async function runTask(prompt: string, provider: "openai" | "mistral" = "openai") {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/task?wait=30",
    headers: bearer(userKey),
    payload: { prompt, provider },
  });
  expect([200, 502], response.body).toContain(response.statusCode);
  return response.json().task_id as number;
}

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    if (request.prompt.startsWith("refused")) return { kind: "status", status: 400, message: "bad request" };
    if (request.prompt === "metrics: one") return { kind: "ok", cachedTokens: 4, reasoningTokens: 5 };
    // The first call of a flaky prompt fails retryably; the queue's next attempt succeeds.
    if (request.prompt.startsWith("flaky") && fake.requests.filter((r) => r.prompt === request.prompt).length === 1) {
      return { kind: "status", status: 503 };
    }
    return { kind: "ok" };
  });
  t = await createTestApp(
    env,
    { stripeWebhookSecret: WEBHOOK_SECRET },
    { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN, METRICS_TOKEN: TOKEN, PRICE_MARKUP: "1.5" },
  );
  const port = await freePort();
  workerUrl = `http://127.0.0.1:${port}`;
  worker = startWorkerProcess(env, fake, {
    WORKER_HTTP_PORT: String(port),
    ADMIN_API_KEY: ADMIN,
    METRICS_TOKEN: TOKEN,
  });
  const identifier = `metrics-${randomBytes(4).toString("hex")}@example.com`;
  const created = await t.app.inject({
    method: "POST",
    url: "/api/keys",
    headers: bearer(ADMIN),
    payload: { user_id: identifier },
  });
  userKey = created.json().key;
  const granted = await t.app.inject({
    method: "POST",
    url: "/api/credits",
    headers: bearer(ADMIN),
    payload: { user_id: identifier, amount: "50", reason: "metrics test" },
  });
  expect(granted.statusCode, granted.body).toBe(201);
  const [user] = await t.sql<{ id: number }[]>`select id::int as id from users where identifier = ${identifier}`;
  userId = user!.id;
  await waitFor(
    () =>
      fetch(`${workerUrl}/health`).then(
        (r) => r.ok,
        () => false,
      ),
    30_000,
    {
      message: () => `the worker's /health; output:\n${worker.output()}`,
    },
  );
}, 60_000);

afterAll(async () => {
  await worker?.stop();
  await t?.close();
  await fake?.close();
});

describe("who may read /metrics", () => {
  it("refuses no token, a wrong one and a user's key (401, on the API and the worker)", async () => {
    for (const headers of [{}, bearer(`${TOKEN}x`), bearer("x".repeat(40)), { authorization: TOKEN }]) {
      const api = await scrapeApi(headers);
      expect(api.status, JSON.stringify(headers)).toBe(401);
      expect(JSON.parse(api.body)).toMatchObject({ code: "UNAUTHORIZED" });
      expect(api.body).not.toContain("aitasks_");
      const fromWorker = await scrapeWorker(headers);
      expect(fromWorker.status, JSON.stringify(headers)).toBe(401);
      expect(fromWorker.body).not.toContain("aitasks_");
    }
    expect((await scrapeApi(bearer(userKey))).status).toBe(401);
    expect((await scrapeWorker(bearer(userKey))).status).toBe(401);
  });

  it("answers METRICS_TOKEN and the admin key with the text format, Node's process metrics included", async () => {
    for (const key of [TOKEN, ADMIN]) {
      for (const scrape of [scrapeApi(bearer(key)), scrapeWorker(bearer(key)), scrapeWorker({ "x-api-key": key })]) {
        const { status, type, body } = await scrape;
        expect(status).toBe(200);
        expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
        expect(body).toContain("# TYPE process_cpu_user_seconds_total counter");
        expect(body).toContain("# TYPE nodejs_eventloop_lag_seconds gauge");
      }
    }
  });

  it("is open to anyone in open mode (no admin key, no METRICS_TOKEN)", async () => {
    const open = await createTestApp(env);
    try {
      const response = await open.app.inject({ method: "GET", url: "/metrics" });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain("aitasks_http_requests_total");
    } finally {
      await open.close();
    }
  });
});

describe("after real tasks and a payment", () => {
  let ids: number[];
  beforeAll(async () => {
    ids = [
      await runTask("metrics: one", "openai"),
      await runTask("metrics: two", "mistral"),
      await runTask("flaky metrics: three", "openai"),
      await runTask("refused metrics: four", "mistral"),
    ];
    // A paid one-time payment of $12.34, through the webhook, and a $2.50 refund as the webhook books it.
    const session = {
      id: `cs_${randomBytes(6).toString("hex")}`,
      object: "checkout.session",
      mode: "payment",
      status: "complete",
      payment_status: "paid",
      amount_total: 1234,
      currency: "usd",
      customer: null,
      client_reference_id: String(userId),
      payment_intent: `pi_${randomBytes(6).toString("hex")}`,
      subscription: null,
      metadata: { user_id: String(userId) },
    };
    const { payload, headers } = signStripeEvent(stripeEvent("checkout.session.completed", session), WEBHOOK_SECRET);
    const paid = await t.app.inject({ method: "POST", url: "/api/webhook/stripe", payload, headers });
    expect(paid.statusCode, paid.body).toBe(200);
    await t.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, stripe_object_id)
      values ('income', 'refund', '-2.5', now(), ${userId}, ${`re_${randomBytes(6).toString("hex")}`})`;
  }, 90_000);

  it("counts the worker's tasks by provider, model and status as Postgres has them", async () => {
    const rows = await t.sql<{ provider: string; model: string; status: string; tasks: number }[]>`
      select provider::text, model, status::text, count(*)::int as tasks from tasks
      where id in ${t.sql(ids)} group by 1, 2, 3`;
    expect(rows.reduce((total, row) => total + (row.status === "completed" ? row.tasks : 0), 0)).toBe(3);
    expect(rows.reduce((total, row) => total + (row.status === "failed" ? row.tasks : 0), 0)).toBe(1);
    const metrics = await samples(scrapeWorker());
    for (const row of rows) {
      const labels = { provider: row.provider, model: row.model, status: row.status };
      expect(sumOf(metrics, "aitasks_tasks_total", labels), JSON.stringify(labels)).toBe(row.tasks);
    }
    expect(sumOf(metrics, "aitasks_tasks_total")).toBe(4);
    // Every provider call was timed: one per request the fake got. A finished task's total once.
    expect(sumOf(metrics, "aitasks_task_duration_seconds_count", { phase: "provider" })).toBe(fake.requests.length);
    expect(sumOf(metrics, "aitasks_task_duration_seconds_count", { phase: "total" })).toBe(4);
    expect(sumOf(metrics, "aitasks_task_duration_seconds_count", { phase: "queued" })).toBe(4);
    // Buckets from 50 ms to 10 minutes.
    const buckets = samplesOf(metrics, "aitasks_task_duration_seconds_bucket", { phase: "total" }).map(
      (s) => s.labels.le,
    );
    expect(buckets).toEqual(expect.arrayContaining(["0.05", "600", "+Inf"]));
    expect(
      samplesOf(metrics, "aitasks_provider_errors_total").map(({ labels, value }) => ({ ...labels, value })),
    ).toEqual(
      expect.arrayContaining([
        { provider: "openai", kind: "server_error", value: 1 },
        { provider: "mistral", kind: "client_error", value: 1 },
      ]),
    );
    expect(sumOf(metrics, "aitasks_provider_errors_total")).toBe(2);
  });

  it("counts the tokens of every booked provider call by provider, model and kind, as Postgres has them", async () => {
    const rows = await t.sql<
      { provider: string; model: string; input: number; cached_input: number; output: number; reasoning: number }[]
    >`
      select provider::text, model, sum(prompt_tokens)::int as input, sum(cached_tokens)::int as cached_input,
        sum(completion_tokens)::int as output, sum(reasoning_tokens)::int as reasoning
      from tasks where id in ${t.sql(ids)} and status = 'completed' group by 1, 2`;
    // Each completed task booked one call (the failed ones returned no usage), as the ledger says.
    const [booked] = await t.sql<{ calls: number }[]>`
      select count(*)::int as calls from ledger_entries where category = 'api_cost' and task_id in ${t.sql(ids)}`;
    expect(booked!.calls).toBe(3);
    expect(rows.some((row) => row.cached_input > 0 && row.reasoning > 0)).toBe(true);
    const metrics = await samples(scrapeWorker());
    for (const { provider, model, ...byKind } of rows) {
      for (const [kind, tokens] of Object.entries(byKind)) {
        expect(sumOf(metrics, "aitasks_tokens_total", { provider, model, kind }), `${provider} ${model} ${kind}`).toBe(
          tokens,
        );
      }
    }
    expect(new Set(samplesOf(metrics, "aitasks_tokens_total").map((s) => s.labels.kind))).toEqual(
      new Set(["input", "cached_input", "output", "reasoning"]),
    );
  });

  it("pass `promtool check metrics`, the API's and the worker's, each with its build info", async () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version?: string };
    for (const [role, scrape] of [
      ["api", scrapeApi()],
      ["worker", scrapeWorker()],
    ] as const) {
      const { status, body } = await scrape;
      expect(status, role).toBe(200);
      const checked = await runPromtool(["check", "metrics"], body);
      expect(checked.output, role).toBe("");
      expect(checked.code, role).toBe(0);
      const [info, ...more] = samplesOf(parsePrometheusText(body), "aitasks_build_info");
      expect(more, role).toEqual([]);
      expect(info, role).toMatchObject({
        value: 1,
        labels: { version: manifest.version ?? "unknown", node_version: process.version },
      });
    }
  });

  it("reports money equal to the ledger's sums, exactly", async () => {
    const [ledger] = await t.sql<{ api_cost: string; charged: string; income: string; refunds: string }[]>`
      select (select sum(amount_usd)::text from ledger_entries where category = 'api_cost') as api_cost,
        (select sum(charged_usd)::text from tasks where status = 'completed') as charged,
        (select sum(amount_usd)::text from ledger_entries where category = 'micro_payment') as income,
        (select sum(amount_usd)::text from ledger_entries where category = 'refund') as refunds`;
    const byModel = await t.sql<{ provider: string; model: string; cost: string }[]>`
      select t.provider::text, t.model, sum(l.amount_usd)::text as cost from ledger_entries l
      join tasks t on t.id = l.task_id where l.category = 'api_cost' group by 1, 2`;
    expect(Number(ledger!.charged)).toBeGreaterThan(Number(ledger!.api_cost));
    expect(ledger!.income).toBe("12.340000000000");

    const metrics = await samples(scrapeApi());
    for (const { provider, model, cost } of byModel) {
      expect(sumOf(metrics, "aitasks_api_cost_usd_total", { provider, model })).toBe(Number(cost));
    }
    expect(sumOf(metrics, "aitasks_charged_usd_total")).toBe(Number(ledger!.charged));
    expect(sumOf(metrics, "aitasks_income_usd_total", { category: "micro_payment" })).toBe(12.34);
    expect(sumOf(metrics, "aitasks_income_usd_total", { category: "refund" })).toBe(0);
    expect(sumOf(metrics, "aitasks_income_reversed_usd_total", { category: "refund" })).toBe(-Number(ledger!.refunds));
    expect(sumOf(metrics, "aitasks_metrics_source_up", { source: "postgres" })).toBe(1);
  });

  it("reads the queues' depths from Redis at each scrape", async () => {
    const metrics = await samples(scrapeApi());
    const counts = await t.queues.tasks.getJobCounts("completed", "failed", "waiting", "active");
    for (const state of ["completed", "failed", "waiting", "active"] as const) {
      expect(sumOf(metrics, "aitasks_queue_jobs", { queue: "tasks", state }), state).toBe(counts[state]);
    }
    expect(new Set(samplesOf(metrics, "aitasks_queue_jobs").map((s) => s.labels.queue))).toEqual(
      new Set(["tasks", "callbacks", "maintenance"]),
    );
    expect(sumOf(metrics, "aitasks_metrics_source_up", { source: "redis" })).toBe(1);
  });

  it("labels routes by template, and adds no label value for unknown URLs or unknown models", async () => {
    const before = await samples(scrapeApi());
    const labelValues = (metrics: MetricSample[], label: string) =>
      new Set(
        metrics
          .filter((s) => s.name.startsWith("aitasks_") && s.labels[label] !== undefined)
          .map((s) => s.labels[label]!),
      );
    const id = ids[0]!;
    for (const url of [`/api/task/${id}`, `/api/v1/task/${id}`, "/api/task/999999999"]) {
      await t.app.inject({ method: "GET", url, headers: bearer(ADMIN) });
    }
    for (const url of [`/no/such/page/${randomBytes(4).toString("hex")}`, "/api/task/abc/xyz"]) {
      expect((await t.app.inject({ method: "GET", url })).statusCode).toBe(404);
    }
    const badModel = await t.app.inject({
      method: "POST",
      url: "/api/task",
      headers: bearer(userKey),
      payload: { prompt: "metrics", model: "no-such-model" },
    });
    expect(badModel.statusCode).toBe(400);
    // A task of a model since dropped from the pricing table, with its cost booked: counted as `other`.
    const [task] = await t.sql<{ id: number }[]>`
      insert into tasks (input, provider, model, status, cost_usd, completed_at)
      values ('retired', 'openai', 'gpt-retired-model', 'completed', '0.5', now()) returning id::int as id`;
    await t.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id, run_id)
      values ('expense', 'api_cost', '0.5', now(), ${task!.id}, 'retired-run')`;

    const after = await samples(scrapeApi());
    const text = (await scrapeApi()).body;
    expect(text).not.toContain("no-such-model");
    expect(text).not.toContain("gpt-retired-model");
    expect(text).not.toContain("/no/such");
    const routes = labelValues(after, "route");
    expect(routes).toContain("/api/task/:id");
    expect(routes).toContain("unmatched");
    // No URL made it into a label: no id, no /v1 twin.
    expect([...routes].filter((route) => /\d|\/v1\//.test(route))).toEqual([]);
    // The same requests again add nothing new.
    const routeCount = routes.size;
    for (const url of ["/nope", "/also/nope", `/api/task/${id}`]) await t.app.inject({ method: "GET", url });
    expect(labelValues(await samples(scrapeApi()), "route").size).toBe(routeCount);
    expect(sumOf(after, "aitasks_http_requests_total", { method: "GET", route: "/api/task/:id", status: "200" })).toBe(
      sumOf(before, "aitasks_http_requests_total", { method: "GET", route: "/api/task/:id", status: "200" }) + 2,
    );
    expect(sumOf(after, "aitasks_http_requests_total", { route: "unmatched", status: "404" })).toBeGreaterThanOrEqual(
      2,
    );
    expect(
      sumOf(after, "aitasks_api_cost_usd_total", { provider: "openai", model: "other" }) -
        sumOf(before, "aitasks_api_cost_usd_total", { provider: "openai", model: "other" }),
    ).toBe(0.5);
    expect([...labelValues(after, "model")].sort()).toEqual(["gpt-4o-mini", "mistral-small-latest", "other"]);
  });

  it("never lowers a money counter: a new refund raises the reversed income instead", async () => {
    const before = await samples(scrapeApi());
    await t.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, user_id, stripe_object_id)
      values ('income', 'refund', '-1.25', now(), ${userId}, ${`re_${randomBytes(6).toString("hex")}`})`;
    const after = await samples(scrapeApi());
    for (const sample of before.filter((s) => /^aitasks_.*_usd_total$/.test(s.name))) {
      const now = sumOf(after, sample.name, sample.labels);
      expect(now, `${sample.name} ${JSON.stringify(sample.labels)}`).toBeGreaterThanOrEqual(sample.value);
    }
    expect(
      sumOf(after, "aitasks_income_reversed_usd_total", { category: "refund" }) -
        sumOf(before, "aitasks_income_reversed_usd_total", { category: "refund" }),
    ).toBe(1.25);
  });
});

describe("the worker's /health", () => {
  it("answers 200 with both dependencies up, and 404 for anything else", async () => {
    const health = await fetch(`${workerUrl}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "healthy", checks: { database: "ok", redis: "ok" } });
    expect((await fetch(`${workerUrl}/elsewhere`)).status).toBe(404);
    expect((await fetch(`${workerUrl}/metrics`, { method: "POST", headers: bearer(TOKEN) })).status).toBe(405);
  });
});
