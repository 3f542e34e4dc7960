import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ERROR_CODES } from "@aitasks/contract";
import { repoRoot, useTestEnvironment } from "@aitasks/testing";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registeredRoutes } from "../../http/openapi.js";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
// The serializer's test finishes a task by SQL (to give every field a value), not by a provider
// call: no api_cost is booked for it and no rollup learns of its day, in the file's one database.
const FINISHED_BY_SQL = { skipMoneyInvariants: ["api-costs", "reports"] } as const;
let t: TestApp;
type Operation = { operationId: string };
type Server = { url: string };
let document: {
  openapi: string;
  servers: Server[];
  paths: Record<string, Record<string, Operation> & { servers?: Server[] }>;
  components: { schemas: Record<string, { enum?: string[] }> };
};

const DOCUMENT_ID = "https://aitasks.test/openapi.json";
/** JSON Pointer escaping (RFC 6901). */
const pointer = (...parts: string[]) => parts.map((part) => part.replaceAll("~", "~0").replaceAll("/", "~1")).join("/");

let ajv: Ajv2020;
/** Checks `body` against the schema the document gives for `method path` answering `status`. */
function expectDocumented(method: string, path: string, status: number, body: unknown) {
  const at = pointer("paths", path, method, "responses", String(status), "content", "application/json", "schema");
  const validate = ajv.getSchema(`${DOCUMENT_ID}#/${at}`);
  expect(validate, `${method} ${path} ${status} is documented`).toBeTypeOf("function");
  expect(validate?.(body), JSON.stringify(validate?.errors)).toBe(true);
}

beforeAll(async () => {
  t = await createTestApp(env);
  document = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(document, DOCUMENT_ID);
});
afterAll(() => t.close(FINISHED_BY_SQL));

describe("GET /openapi.json", () => {
  it("documents every registered route, under /api and /api/v1 alike, HEAD included, and nothing else", () => {
    const undocumented = registeredRoutes(t.app)
      .filter((route) => !route.contract)
      .map((route) => `${route.method} ${route.url}`);
    expect(undocumented).toEqual([]);
    const served = registeredRoutes(t.app).map((route) => `${route.method} ${route.url}`);
    expect(served.length).toBeGreaterThan(40);
    // Each operation at each of its servers, as the URL a client calls (Fastify's `:name` for `{name}`).
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      (item.servers ?? document.servers).flatMap((server) =>
        Object.keys(item)
          .filter((key) => key !== "servers")
          .map(
            (method) => `${method.toUpperCase()} ${server.url.replace(/\/$/, "")}${path.replace(/\{(\w+)\}/g, ":$1")}`,
          ),
      ),
    );
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it("lists every error code of the contract's table, and requires code and request_id", () => {
    expect(document.components.schemas.ErrorCode?.enum).toEqual(Object.keys(ERROR_CODES));
    expect(document.components.schemas.Error).toMatchObject({
      required: ["error", "code", "request_id"],
      additionalProperties: false,
    });
    expect(JSON.stringify(document)).not.toContain('"additionalProperties":{}');
  });

  it("passes @redocly/cli lint's recommended rules with no error, offline", async () => {
    const dir = await mkdtemp(join(tmpdir(), "openapi-lint-"));
    try {
      const file = join(dir, "openapi.json");
      await writeFile(file, JSON.stringify(document));
      // Run from the temporary folder, so that no redocly.yaml but the recommended rules applies;
      // nothing is sent anywhere (telemetry and the update check off).
      const { stdout } = await promisify(execFile)(
        join(repoRoot, "node_modules/.bin/redocly"),
        ["lint", file, "--format=json", "--extends=recommended"],
        {
          cwd: dir,
          env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
          timeout: 60_000,
        },
      );
      const report = JSON.parse(stdout) as { totals: { errors: number }; problems: { severity: string }[] };
      expect(report.problems.filter((problem) => problem.severity === "error")).toEqual([]);
      expect(report.totals.errors).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("gives operation ids that are unique", () => {
    const ids = Object.values(document.paths).flatMap((item) =>
      Object.entries(item)
        .filter(([key]) => key !== "servers")
        .map(([, operation]) => (operation as Operation).operationId),
    );
    expect(ids.every((id) => typeof id === "string")).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("describes real answers exactly", async () => {
    const call = async (method: "GET" | "POST", url: string, payload?: object) => {
      const response = await t.app.inject({ method, url, payload });
      return { status: response.statusCode, body: response.json() };
    };
    const created = await call("POST", "/api/task", { prompt: "hello", user_id: "openapi@example.com" });
    expect(created.status).toBe(202);
    expectDocumented("post", "/api/task", 202, created.body);

    const task = await call("GET", `/api/task/${created.body.task_id}`);
    expect(task.status).toBe(200);
    expectDocumented("get", "/api/task/{id}", 200, task.body);

    const list = await call("GET", "/api/tasks");
    expect(list.body.tasks.length).toBeGreaterThan(0);
    expectDocumented("get", "/api/tasks", 200, list.body);

    const batch = await call("POST", "/api/tasks/batch", { tasks: [{ prompt: "one" }, { prompt: "two" }] });
    expect(batch.status).toBe(202);
    expectDocumented("post", "/api/tasks/batch", 202, batch.body);

    const report = await call("GET", "/api/report/daily?group_by=model");
    expect(report.status).toBe(200);
    expectDocumented("get", "/api/report/{report_type}", 200, report.body);

    const balance = await call("GET", "/api/balance?user_id=openapi@example.com");
    expect(balance.status).toBe(200);
    expectDocumented("get", "/api/balance", 200, balance.body);

    const missing = await call("GET", "/api/task/999999999");
    expect(missing.status).toBe(404);
    expectDocumented("get", "/api/task/{id}", 404, missing.body);
  });

  it("would catch an answer the schema does not describe", () => {
    const at = pointer("paths", "/api/balance", "get", "responses", "200", "content", "application/json", "schema");
    const validate = ajv.getSchema(`${DOCUMENT_ID}#/${at}`);
    expect(validate?.({ user_id: "u", balance: 1, held: 0, available: 1, currency: "usd", extra: 1 })).toBe(false);
    expect(validate?.({ user_id: "u", balance: "1", held: 0, available: 1, currency: "usd" })).toBe(false);
  });
});

describe("GET /docs", () => {
  it("answers an HTML page whose scripts and styles are all ours", async () => {
    const response = await t.app.inject({ method: "GET", url: "/docs" });
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    const assets = [...response.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) expect(asset).toMatch(/^\/(?!\/)/);
    expect(response.body).not.toMatch(/<script>|<style>/);
    const policy = String(response.headers["content-security-policy"]);
    expect(policy).toContain("script-src 'self'");
    expect(policy).not.toContain("upgrade-insecure-requests");
  });

  it("serves swagger-ui's files from here, with their types", async () => {
    const bundle = await t.app.inject({ method: "GET", url: "/docs/swagger-ui-bundle.js" });
    expect(bundle.statusCode).toBe(200);
    expect(bundle.headers["content-type"]).toMatch(/^text\/javascript/);
    expect(bundle.body).toContain("SwaggerUIBundle");
    const css = await t.app.inject({ method: "GET", url: "/docs/swagger-ui.css" });
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
    const start = await t.app.inject({ method: "GET", url: "/docs/start.js" });
    expect(start.body).toContain('url: "/openapi.json"');
    expect(start.body).toContain("validatorUrl: null");
  });

  it("answers 404 JSON for a file it does not have", async () => {
    const response = await t.app.inject({ method: "GET", url: "/docs/nope" });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: "NOT_FOUND" });
  });
});

describe("with ADMIN_API_KEY set", () => {
  let locked: TestApp;
  beforeAll(async () => {
    locked = await createTestApp(env, {}, { ADMIN_API_KEY: "admin-key-openapi-0123456789" });
  });
  afterAll(() => locked.close(FINISHED_BY_SQL));

  it("serves the document and the page without a key, and the API still needs one", async () => {
    for (const url of ["/openapi.json", "/docs", "/docs/start.js"]) {
      expect((await locked.app.inject({ method: "GET", url })).statusCode, url).toBe(200);
    }
    expect((await locked.app.inject({ method: "GET", url: "/api/tasks" })).statusCode).toBe(401);
  });
});

describe("the serializer of the documented answers", () => {
  const ADMIN = "admin-key-serializer-0123456789";
  /** Every JSON answer sent: what the route produced (as JSON.stringify writes it), and what went out. */
  const answers: { route: string; produced: unknown; sent: unknown }[] = [];
  let probed: TestApp;
  beforeAll(async () => {
    probed = await createTestApp(env, {}, { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN }, (app) => {
      const produced = new WeakMap<object, unknown>();
      app.addHook("preSerialization", async (request, _reply, payload) => {
        produced.set(request, JSON.parse(JSON.stringify(payload)));
        return payload;
      });
      app.addHook("onSend", async (request, reply, payload) => {
        if (produced.has(request)) {
          const route = `${request.method} ${request.routeOptions.url} ${reply.statusCode}`;
          answers.push({ route, produced: produced.get(request), sent: JSON.parse(String(payload)) });
        }
        return payload;
      });
    });
  });
  afterAll(() => probed.close(FINISHED_BY_SQL));

  const call = async (method: "GET" | "POST" | "DELETE", url: string, key: string, payload?: object) => {
    const response = await probed.app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, payload });
    return { status: response.statusCode, body: response.json() };
  };

  it("keeps every field the views produce, with its type, nulls included", async () => {
    const user_id = "serializer@example.com";
    const key = await call("POST", "/api/keys", ADMIN, { user_id });
    expect(key.status).toBe(201);
    await call("GET", "/api/keys", ADMIN);
    expect((await call("POST", "/api/credits", ADMIN, { user_id, amount: 5, reason: "test" })).status).toBe(201);
    await call("GET", `/api/balance?user_id=${user_id}`, key.body.key);

    const pending = await call("POST", "/api/task", key.body.key, { prompt: "stays pending", priority: 2 });
    const done = await call("POST", "/api/task", key.body.key, { prompt: "completes" });
    expect([pending.status, done.status]).toEqual([202, 202]);
    // Every nullable field of a task given a value: the serializer must keep each, as written.
    await probed.sql`update tasks set status = 'completed', output = 'done', prompt_tokens = 3, completion_tokens = 4,
      tokens_used = 7, cached_tokens = 1, reasoning_tokens = 2, cost_usd = 0.000123, charged_usd = 0.000246,
      key_spent_usd = 0.000246, callback_url = 'https://example.com/hook', started_at = now(), completed_at = now() where id = ${done.body.task_id}`;
    const completed = await call("GET", `/api/task/${done.body.task_id}`, key.body.key);
    expect(completed.body).toMatchObject({ output: "done", cost: 0.000123, charged: 0.000246, cached_tokens: 1 });
    const unfinished = await call("GET", `/api/task/${pending.body.task_id}`, key.body.key);
    expect(unfinished.body).toMatchObject({ output: null, cost: null, completed_at: null, tokens_used: null });

    await call("POST", "/api/tasks/batch", key.body.key, { tasks: [{ prompt: "one" }, { prompt: "two" }] });
    await call("GET", "/api/tasks?limit=2", ADMIN);
    await call("GET", `/api/task/${done.body.task_id}/callbacks`, key.body.key);
    await call("POST", `/api/task/${pending.body.task_id}/cancel`, key.body.key);
    await call("GET", "/api/report/daily?group_by=model", ADMIN);
    await call("GET", "/api/stats", ADMIN);
    await call("DELETE", `/api/keys/${key.body.id}`, ADMIN);
    await call("GET", "/health", ADMIN);

    const routes = new Set(answers.map((answer) => answer.route));
    expect([...routes].sort()).toEqual(
      [
        "DELETE /api/keys/:id 200",
        "GET /api/balance 200",
        "GET /api/keys 200",
        "GET /api/report/:report_type 200",
        "GET /api/stats 200",
        "GET /api/task/:id 200",
        "GET /api/task/:id/callbacks 200",
        "GET /api/tasks 200",
        "GET /health 200",
        "POST /api/credits 201",
        "POST /api/keys 201",
        "POST /api/task 202",
        "POST /api/task/:id/cancel 200",
        "POST /api/tasks/batch 202",
      ].sort(),
    );
    for (const { route, produced, sent } of answers) expect(sent, route).toEqual(produced);
  });
});
