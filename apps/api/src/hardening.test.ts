// Security headers, CORS off unless configured, and error bodies that reveal no internals.
import { adminKeyDigests } from "@aitasks/auth";
import { createDatabase } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import type Stripe from "stripe";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "./testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";
const ALLOWED = "https://app.example.com";

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let plain: TestApp;
let withCors: TestApp;

beforeAll(async () => {
  plain = await createTestApp(env, { adminKeyDigests: adminKeyDigests([ADMIN]) });
  withCors = await createTestApp(env, { adminKeyDigests: adminKeyDigests([ADMIN]), corsOrigins: [ALLOWED] });
});
afterAll(async () => {
  await plain?.close();
  await withCors?.close();
});

const admin = { authorization: `Bearer ${ADMIN}` };

/** Answers of every kind: success, 202, 400, 401, 404 route, 404 task, health. */
const SAMPLES = [
  { name: "GET /health", method: "GET", url: "/health", headers: {} },
  { name: "GET /api/tasks (200)", method: "GET", url: "/api/tasks", headers: admin },
  { name: "POST /api/task (202)", method: "POST", url: "/api/task", headers: admin, payload: { prompt: "hi" } },
  { name: "POST /api/task (400)", method: "POST", url: "/api/task", headers: admin, payload: { prompt: "" } },
  { name: "GET /api/stats (401)", method: "GET", url: "/api/stats", headers: {} },
  { name: "GET /api/task/999 (404)", method: "GET", url: "/api/task/999999", headers: admin },
  { name: "unknown route (404)", method: "GET", url: "/nowhere", headers: {} },
  { name: "POST /api/webhook/stripe (400)", method: "POST", url: "/api/webhook/stripe", headers: {}, payload: {} },
] as const;

function inject(app: TestApp, sample: (typeof SAMPLES)[number], extra: Record<string, string> = {}) {
  return app.app.inject({
    method: sample.method,
    url: sample.url,
    headers: { ...sample.headers, ...extra },
    ...("payload" in sample ? { payload: sample.payload } : {}),
  });
}

describe("security headers (helmet)", () => {
  it.each(SAMPLES.map((sample) => [sample.name, sample] as const))("are on %s", async (_name, sample) => {
    const response = await inject(plain, sample);
    expect(response.headers["x-content-type-options"]).toBe("nosniff");
    expect(response.headers["x-frame-options"]).toBe("SAMEORIGIN");
    expect(response.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    expect(response.headers["strict-transport-security"]).toMatch(/max-age=\d+/);
    expect(response.headers["referrer-policy"]).toBe("no-referrer");
    expect(response.headers["x-powered-by"]).toBeUndefined();
  });
});

describe("CORS", () => {
  it("sends no CORS headers at all when CORS_ORIGINS is not set, whatever the origin", async () => {
    for (const origin of [ALLOWED, "https://evil.example.com", "null"]) {
      for (const sample of SAMPLES) {
        const response = await inject(plain, sample, { origin });
        expect(response.headers["access-control-allow-origin"], `${sample.name} from ${origin}`).toBeUndefined();
        expect(response.headers["access-control-allow-credentials"]).toBeUndefined();
      }
      const preflight = await plain.app.inject({
        method: "OPTIONS",
        url: "/api/task",
        headers: { origin, "access-control-request-method": "POST" },
      });
      expect(preflight.headers["access-control-allow-origin"]).toBeUndefined();
      expect(preflight.headers["access-control-allow-methods"]).toBeUndefined();
    }
  });

  it("allows the configured origin only", async () => {
    for (const sample of SAMPLES) {
      const allowed = await inject(withCors, sample, { origin: ALLOWED });
      expect(allowed.headers["access-control-allow-origin"], sample.name).toBe(ALLOWED);
      expect(allowed.headers.vary).toMatch(/origin/i);

      for (const origin of ["https://evil.example.com", "https://app.example.com.evil.com", "http://app.example.com"]) {
        const refused = await inject(withCors, sample, { origin });
        expect(refused.headers["access-control-allow-origin"], `${sample.name} from ${origin}`).toBeUndefined();
      }
    }
  });

  it("answers a preflight from the configured origin, without needing a key", async () => {
    const allowed = await withCors.app.inject({
      method: "OPTIONS",
      url: "/api/task",
      headers: {
        origin: ALLOWED,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization",
      },
    });
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers["access-control-allow-origin"]).toBe(ALLOWED);

    const refused = await withCors.app.inject({
      method: "OPTIONS",
      url: "/api/task",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "POST" },
    });
    expect(refused.headers["access-control-allow-origin"]).toBeUndefined();
  });
});

/** No stack frame, file path, SQL or driver detail in what a client is told. */
function expectNoInternals(body: string) {
  expect(body).not.toMatch(/\bat .+\.(ts|js):\d+/);
  expect(body).not.toMatch(/\.(ts|js):\d+:\d+/);
  expect(body).not.toMatch(/node_modules|\/work\/|stack/i);
  expect(body).not.toMatch(/\b(select|insert|update|delete)\b.*\b(from|into|set)\b/i);
  expect(body).not.toMatch(/relation|column|syntax|postgres|drizzle|ECONNREFUSED|Failed query/i);
}

describe("error bodies", () => {
  it("answer an internal error (a failing SQL query) with the generic message only", async () => {
    const id = (
      await plain.app.inject({ method: "POST", url: "/api/task", headers: admin, payload: { prompt: "to break" } })
    ).json().task_id;
    // A real SQL error deep in a route: the table it reads is gone.
    await plain.sql`alter table tasks rename to tasks_hidden`;
    try {
      for (const url of [`/api/task/${id}`, "/api/tasks", `/api/v1/task/${id}`]) {
        const response = await plain.app.inject({ method: "GET", url, headers: admin });
        expect(response.statusCode, url).toBe(500);
        expect(response.json()).toEqual({
          error: "internal error; it has been logged",
          code: "INTERNAL",
          request_id: expect.any(String),
        });
        expectNoInternals(response.body);
        expect(response.body).not.toContain("tasks");
      }
    } finally {
      await plain.sql`alter table tasks_hidden rename to tasks`;
    }
    expect((await plain.app.inject({ method: "GET", url: `/api/task/${id}`, headers: admin })).statusCode).toBe(200);
  });

  it("answer an unexpected exception with the generic message, not its text", async () => {
    const throwing = {
      customers: {
        create: () => {
          throw new Error("select secret from vault where key = 'sk_live_123' /srv/app.ts:12:3");
        },
      },
    } as unknown as Stripe;
    const broken = await createTestApp(env, { stripe: throwing });
    try {
      await broken.sql`insert into users (identifier) values ('thrower@example.com') on conflict do nothing`;
      const response = await broken.app.inject({
        method: "POST",
        url: "/api/payment/micro",
        payload: { user_id: "thrower@example.com" },
      });
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({
        error: "internal error; it has been logged",
        code: "INTERNAL",
        request_id: expect.any(String),
      });
      expect(response.body).not.toContain("sk_live_123");
      expectNoInternals(response.body);
    } finally {
      await broken.close();
    }
  });

  it("answer a database that cannot be reached with 503, naming neither its address nor its password", async () => {
    const unreachable = createDatabase("postgres://postgres:hunter2-password@127.0.0.1:1/nowhere", {
      max: 1,
      connectTimeoutSeconds: 1,
    });
    // The replica too: stats (and lists, reports, the ledger) read it (DATABASE_READ_URL).
    const down = await createTestApp(env, {
      db: unreachable.db,
      readDb: unreachable.db,
      adminKeyDigests: adminKeyDigests([ADMIN]),
    });
    try {
      for (const [method, url, payload] of [
        ["GET", "/api/task/1", undefined],
        ["POST", "/api/task", { prompt: "db down" }],
        ["GET", "/api/stats", undefined],
      ] as const) {
        const response = await down.app.inject({ method, url, headers: admin, ...(payload ? { payload } : {}) });
        expect(response.statusCode, `${method} ${url}`).toBe(503);
        expect(response.json()).toEqual({
          error: expect.any(String),
          code: "UNAVAILABLE",
          request_id: expect.any(String),
        });
        expect(response.body).not.toMatch(/hunter2|127\.0\.0\.1|:1\b|nowhere/);
        expectNoInternals(response.body);
      }
    } finally {
      await down.close();
      await unreachable.close();
    }
  });

  it("answer bad requests with what to fix, never a stack", async () => {
    const cases = [
      { method: "POST", url: "/api/task", payload: '{"prompt": "unterminated' },
      { method: "POST", url: "/api/task", payload: "Robert'); DROP TABLE tasks;--" },
      { method: "GET", url: "/api/task/1%27%20or%201=1--" },
      { method: "GET", url: "/api/tasks?cursor=%27%3Bselect%201--" },
      { method: "GET", url: "/api/report/daily?date=2025-13-45" },
      { method: "DELETE", url: "/api/keys/1;drop" },
    ] as const;
    for (const sample of cases) {
      const response = await plain.app.inject({
        method: sample.method,
        url: sample.url,
        headers: { ...admin, ...("payload" in sample ? { "content-type": "application/json" } : {}) },
        ...("payload" in sample ? { payload: sample.payload } : {}),
      });
      expect(response.statusCode, `${sample.method} ${sample.url}`).toBe(400);
      expect(response.json()).toEqual({
        error: expect.any(String),
        code: expect.any(String),
        request_id: expect.any(String),
      });
      expect(response.body).not.toMatch(/\bat .+\.(ts|js):\d+|node_modules|\/work\//);
    }
    // The tasks table is still there.
    expect((await plain.app.inject({ method: "GET", url: "/api/tasks", headers: admin })).statusCode).toBe(200);
  });
});

describe("request ids", () => {
  const idOf = async (headers: Record<string, string>) =>
    (await plain.app.inject({ method: "GET", url: "/api/task/999999", headers: { ...admin, ...headers } })).json()
      .request_id as string;

  it("keep a well-formed X-Request-Id from a proxy or tracer", async () => {
    for (const id of ["0af7651916cd43dd8448eb211c80319c", "Root=1-5759e988-bd862e3fe1be46a994272793", "abc.def_1:2"]) {
      expect(await idOf({ "x-request-id": id })).toBe(id);
    }
  });

  it("replace an oversized or malformed one with an id of their own, unique per request", async () => {
    const ours = /^req-[0-9a-f]{16}$/;
    for (const id of ["x".repeat(8192), "two words", "<script>", "", "-leading-dash", "é"]) {
      expect(await idOf({ "x-request-id": id }), JSON.stringify(id.slice(0, 20))).toMatch(ours);
    }
    const first = await idOf({});
    const second = await idOf({});
    expect(first).toMatch(ours);
    expect(second).not.toBe(first);
  });
});
