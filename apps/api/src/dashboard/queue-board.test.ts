// The queue board at /admin/queues: who may see it (a dashboard session, or open mode), that its
// page loads nothing from another origin, and that an operator retries and removes real jobs
// through it, from our own origin only.
import { createQueues, type Queues } from "@aitasks/queue";
import { freePort, useTestEnvironment } from "@aitasks/testing";
import { type Job, Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const ADMIN_KEY = "admin-key-queue-board-0123456789abcdef";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let cookie: string;
let workerConnection: Redis;
/** Task ids of the refused-change cases, one job each. */
let nextTaskId = 100;

/** Signs in through the dashboard's own form, as an operator's browser does. */
async function signIn(app: TestApp["app"]): Promise<string> {
  const response = await app.inject({
    method: "POST",
    url: "/dashboard/sign-in",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: `key=${encodeURIComponent(ADMIN_KEY)}&next=${encodeURIComponent("/admin/queues")}`,
  });
  expect(response.statusCode, response.body).toBe(303);
  const setCookie = String(response.headers["set-cookie"]);
  const session = /__Host-aitasks-session=[^;]+/.exec(setCookie)?.[0];
  expect(session, setCookie).toBeDefined();
  return session as string;
}

/** A callback job that ran once and failed: no worker runs in these tests, so it stays failed. Taken first (lifo): a retried job waits in the same list. */
async function failedJob(queues: Queues, taskId: number): Promise<Job> {
  const job = await queues.callbacks.add(
    "deliver-callback",
    { taskId },
    { jobId: `callback-${taskId}`, attempts: 1, lifo: true },
  );
  const worker = new Worker("callbacks", null, {
    connection: workerConnection,
    prefix: env.queuePrefix,
    autorun: false,
  });
  try {
    const active = await worker.getNextJob("queue-board-test");
    expect(active?.id).toBe(job.id);
    await active?.moveToFailed(new Error("the receiver answered 500"), "queue-board-test", false);
  } finally {
    await worker.close();
  }
  expect(await job.getState()).toBe("failed");
  return job;
}

const board = (method: "GET" | "PUT" | "POST", url: string, headers: Record<string, string> = {}) =>
  t.app.inject({ method, url, headers: { cookie, ...headers } });

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN_KEY });
  cookie = await signIn(t.app);
  workerConnection = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
});

afterAll(async () => {
  await workerConnection?.quit();
  await t?.close();
});

describe("without a session", () => {
  it.each(["/admin/queues", "/admin/queues/", "/admin/queues/queue/tasks", "/admin/queues/static/images/logo.svg"])(
    "GET %s answers 401 with a page that links to the sign-in",
    async (url) => {
      const response = await t.app.inject({ method: "GET", url });
      expect(response.statusCode).toBe(401);
      expect(response.headers["content-type"]).toMatch(/^text\/html/);
      expect(response.body).toContain("Sign in to the dashboard first");
      expect(response.body).toContain('href="/dashboard/sign-in?next=/admin/queues"');
      expect(response.body).not.toMatch(/Bull|__UI_CONFIG__|at .*\.ts:\d+/);
    },
  );

  it("the board's API answers 401 JSON and shows no queue", async () => {
    const response = await t.app.inject({ method: "GET", url: "/admin/queues/api/queues" });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: expect.any(String), code: "UNAUTHORIZED" });
    expect(response.body).not.toContain("callbacks");
  });

  it("a change through the API is refused with 401 and changes nothing", async () => {
    const job = await failedJob(t.queues, 1);
    const response = await t.app.inject({ method: "PUT", url: `/admin/queues/api/queues/callbacks/${job.id}/retry` });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: expect.any(String) });
    expect(await job.getState()).toBe("failed");
  });

  it("a forged or foreign session cookie is refused like none", async () => {
    const forged = `__Host-aitasks-session=${"a".repeat(43)}.${"b".repeat(43)}`;
    const tampered = cookie.replace(/.(?=\.)/, (char) => (char === "A" ? "B" : "A"));
    for (const value of [forged, tampered, "__Host-aitasks-session=garbage"]) {
      const page = await t.app.inject({ method: "GET", url: "/admin/queues", headers: { cookie: value } });
      expect(page.statusCode, value).toBe(401);
      const api = await t.app.inject({ method: "GET", url: "/admin/queues/api/queues", headers: { cookie: value } });
      expect(api.statusCode, value).toBe(401);
    }
  });

  it("an unknown path under /admin/queues answers 401 too, not whether it exists", async () => {
    const response = await t.app.inject({ method: "GET", url: "/admin/queues/no-such-page.js" });
    expect(response.statusCode).toBe(401);
  });
});

describe("signed in", () => {
  it("GET /admin/queues is the board, with every asset on our origin and nothing from Google Fonts", async () => {
    const response = await board("GET", "/admin/queues");
    expect(response.statusCode).toBe(200);
    expect(response.headers["content-type"]).toMatch(/^text\/html/);
    expect(response.body).toContain("__UI_CONFIG__");
    expect(response.body).not.toMatch(/googleapis|gstatic/);
    const urls = [...response.body.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((match) => match[1] as string);
    expect(urls.length).toBeGreaterThan(3);
    for (const url of urls) {
      expect(url, "relative or same-origin").not.toMatch(/^([a-z][\w+.-]*:|\/\/)/i);
      const absolute = new URL(url, "http://localhost/admin/queues/").pathname;
      const asset = await board("GET", absolute);
      expect(asset.statusCode, absolute).toBe(200);
    }
  });

  it("the board's answers allow scripts, styles, fonts and requests from our origin only", async () => {
    for (const url of ["/admin/queues", "/admin/queues/api/queues"]) {
      const csp = String((await board("GET", url)).headers["content-security-policy"]);
      const directives = Object.fromEntries(
        csp.split(";").map((directive) => {
          const [name = "", ...sources] = directive.trim().split(/\s+/);
          return [name, sources];
        }),
      );
      expect(directives["default-src"], csp).toEqual(["'self'"]);
      for (const name of ["script-src", "connect-src", "font-src", "style-src", "img-src"]) {
        for (const source of directives[name] ?? []) {
          expect(["'self'", "'unsafe-inline'", "data:"], `${name} in ${csp}`).toContain(source);
        }
      }
      expect(directives["script-src"], csp).toEqual(["'self'"]);
    }
  });

  it("a deep link of the board (a queue's page) is the board too", async () => {
    const response = await board("GET", "/admin/queues/queue/callbacks");
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain("__UI_CONFIG__");
  });

  it("the board's API lists every queue of the service, none read-only", async () => {
    const response = await board("GET", "/admin/queues/api/queues");
    expect(response.statusCode).toBe(200);
    const { queues } = response.json() as { queues: { name: string; readOnlyMode: boolean; allowRetries: boolean }[] };
    expect(queues.map((queue) => queue.name).sort()).toEqual(Object.keys(t.queues).sort());
    expect(queues.every((queue) => !queue.readOnlyMode && queue.allowRetries)).toBe(true);
  });

  it("retries a failed job, as the board's page sends it", async () => {
    const job = await failedJob(t.queues, 2);
    const response = await board("PUT", `/admin/queues/api/queues/callbacks/${job.id}/retry`, {
      host: "board.example:8443",
      origin: "https://board.example:8443",
      "sec-fetch-site": "same-origin",
    });
    expect(response.statusCode, response.body).toBe(204);
    expect(await job.getState()).toBe("waiting");
  });

  it("removes a job", async () => {
    const job = await failedJob(t.queues, 3);
    const response = await board("PUT", `/admin/queues/api/queues/callbacks/${job.id}/clean`);
    expect(response.statusCode, response.body).toBe(204);
    expect(await t.queues.callbacks.getJob(job.id as string)).toBeUndefined();
  });

  it.each<{ case: string; headers: Record<string, string> }>([
    { case: "an Origin of another host", headers: { host: "board.example", origin: "https://evil.example" } },
    { case: "an Origin on another port", headers: { host: "board.example", origin: "https://board.example:8443" } },
    { case: 'Origin "null"', headers: { host: "board.example", origin: "null" } },
    { case: "Sec-Fetch-Site cross-site", headers: { host: "board.example", "sec-fetch-site": "cross-site" } },
    { case: "Sec-Fetch-Site same-site", headers: { host: "board.example", "sec-fetch-site": "same-site" } },
  ])("refuses a change with $case (403) and the job stays failed", async ({ headers }) => {
    const job = await failedJob(t.queues, nextTaskId++);
    const retry = await board("PUT", `/admin/queues/api/queues/callbacks/${job.id}/retry`, headers);
    expect(retry.statusCode).toBe(403);
    expect(retry.json()).toMatchObject({ error: expect.any(String), code: "FORBIDDEN" });
    const remove = await board("PUT", `/admin/queues/api/queues/callbacks/${job.id}/clean`, headers);
    expect(remove.statusCode).toBe(403);
    expect(await job.getState()).toBe("failed");
  });

  it("a cross-site read is still answered: reads change nothing, and the cookie is SameSite=Strict", async () => {
    const response = await board("GET", "/admin/queues/api/queues", { "sec-fetch-site": "cross-site" });
    expect(response.statusCode).toBe(200);
  });

  it("a body the board cannot parse is a 400 without internals", async () => {
    const response = await board("PUT", "/admin/queues/api/queues/callbacks/concurrency", {
      "content-type": "application/json",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { key: "ERRORS.INVALID_REQUEST_BODY" } });
    expect(response.body).not.toMatch(/node_modules|at .*\.js:\d+|stack/i);
  });
});

describe("when Redis fails under the board", () => {
  let broken: TestApp;
  let deadRedis: Redis;

  beforeAll(async () => {
    // A connection to a port nobody listens on, failing every command at once.
    deadRedis = new Redis({
      port: await freePort(),
      lazyConnect: true,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    deadRedis.on("error", () => {});
    broken = await createTestApp(
      env,
      { queues: createQueues(deadRedis, env.queuePrefix, () => {}) },
      { ADMIN_API_KEY: ADMIN_KEY },
    );
  });

  afterAll(async () => {
    await broken?.close();
    deadRedis?.disconnect();
  });

  it("answers 503, as the rest of the service does when Redis is away, with no stack trace", async () => {
    const session = await signIn(broken.app);
    const response = await broken.app.inject({
      method: "GET",
      url: "/admin/queues/api/queues",
      headers: { cookie: session },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({
      error: { key: "ERRORS.INTERNAL_SERVER_ERROR" },
      message: "the queues (Redis) are unavailable; try again shortly",
    });
  });
});

describe("open mode (no ADMIN_API_KEY)", () => {
  let open: TestApp;
  beforeAll(async () => {
    open = await createTestApp(env);
  });
  afterAll(async () => {
    await open?.close();
  });

  it("the board and its API answer without a cookie, like the rest of the service", async () => {
    const page = await open.app.inject({ method: "GET", url: "/admin/queues" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("__UI_CONFIG__");
    const api = await open.app.inject({ method: "GET", url: "/admin/queues/api/queues" });
    expect(api.statusCode).toBe(200);
    expect((api.json() as { queues: { name: string }[] }).queues.map((queue) => queue.name).sort()).toEqual(
      Object.keys(open.queues).sort(),
    );
  });

  it("still refuses a change from another origin", async () => {
    const response = await open.app.inject({
      method: "PUT",
      url: "/admin/queues/api/queues/pause",
      headers: { host: "board.example", origin: "https://evil.example" },
    });
    expect(response.statusCode).toBe(403);
    expect(await open.queues.tasks.isPaused()).toBe(false);
  });
});
