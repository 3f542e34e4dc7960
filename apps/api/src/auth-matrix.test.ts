// Who may call what: every endpoint × {no key, bad key, user key, other user's key, admin key},
// then the per-user isolation rules behind the statuses, then open (local) mode.
import { createHash, randomBytes } from "node:crypto";
import { adminKeyDigests } from "@aitasks/auth";
import { createStripeClient } from "@aitasks/billing";
import {
  type FakeStripeServer,
  signStripeEvent,
  startFakeStripeServer,
  stripeEvent,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp } from "./testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";
const WEBHOOK_SECRET = "whsec_test";
const CHECKOUT = {
  subscriptionPriceId: "price_123",
  microPaymentAmountCents: 100,
  currency: "usd",
  publicBaseUrl: "https://tasks.example.com",
};

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let fake: FakeStripeServer;
let secured: TestApp;
let open: TestApp;

type Who = "none" | "bad" | "user" | "other" | "admin";
const WHO: Who[] = ["none", "bad", "user", "other", "admin"];
type Via = "bearer" | "x-api-key";

interface Key {
  id: number;
  key: string;
  userId: number;
  identifier: string;
}
/** alice owns the resources the matrix reaches for; bob is "another user"; spare is there to be revoked. */
const keys = {} as { alice: Key; bob: Key; spare: Key };
const tasks = {} as { alice: number; bob: number };
const UNKNOWN_KEY = `ak_${randomBytes(32).toString("base64url")}`;

function keyOf(who: Who): string | undefined {
  switch (who) {
    case "none":
      return undefined;
    case "bad":
      return UNKNOWN_KEY;
    case "user":
      return keys.alice.key;
    case "other":
      return keys.bob.key;
    case "admin":
      return ADMIN;
  }
}

interface Request {
  method: "GET" | "POST" | "DELETE";
  url: string;
  key?: string | undefined;
  via?: Via;
  payload?: unknown;
  headers?: Record<string, string>;
}

function send(app: TestApp, { method, url, key, via = "bearer", payload, headers = {} }: Request) {
  const all: Record<string, string> = { ...headers };
  if (key !== undefined) {
    if (via === "bearer") all.authorization = `Bearer ${key}`;
    else all["x-api-key"] = key;
  }
  if (payload !== undefined && !all["content-type"]) all["content-type"] = "application/json";
  return app.app.inject({
    method,
    url,
    headers: all,
    ...(payload !== undefined ? { payload: typeof payload === "string" ? payload : JSON.stringify(payload) } : {}),
  });
}

async function createKey(identifier: string): Promise<Key> {
  const response = await send(secured, {
    method: "POST",
    url: "/api/keys",
    key: ADMIN,
    payload: { user_id: identifier },
  });
  expect(response.statusCode, response.body).toBe(201);
  const [user] = await secured.sql<{ id: number }[]>`select id::int as id from users where identifier = ${identifier}`;
  return { id: response.json().id, key: response.json().key, userId: user!.id, identifier };
}

async function submitAs(key: string | undefined, prompt: string, userId?: string | null, app = secured) {
  const payload: Record<string, unknown> = { prompt };
  if (userId !== undefined) payload.user_id = userId;
  const response = await send(app, { method: "POST", url: "/api/task", key, payload });
  expect(response.statusCode, response.body).toBe(202);
  return response.json().task_id as number;
}

async function ownerOf(taskId: number): Promise<string | null> {
  const [row] = await secured.sql<{ identifier: string | null }[]>`
    select u.identifier from tasks t left join users u on u.id = t.user_id where t.id = ${taskId}`;
  return row ? row.identifier : "<no such task>";
}

/** What a refused request must leave untouched. */
async function snapshot() {
  const [row] = await secured.sql`
    select (select count(*)::int from tasks) as tasks, (select count(*)::int from users) as users,
      (select count(*)::int from api_keys) as keys,
      (select count(*)::int from api_keys where revoked_at is not null) as revoked,
      (select count(*)::int from stripe_events) as events`;
  return { ...row, stripeCalls: fake.requests.length };
}

function expectErrorBody(body: unknown, code: string) {
  expect(body).toEqual({ error: expect.any(String), code, request_id: expect.any(String) });
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
}

beforeAll(async () => {
  fake = await startFakeStripeServer();
  const deps = {
    stripe: createStripeClient({ secretKey: "sk_test_123", apiBaseUrl: fake.url }),
    stripeWebhookSecret: WEBHOOK_SECRET,
    checkout: CHECKOUT,
  };
  secured = await createTestApp(env, { ...deps, adminKeyDigests: adminKeyDigests([ADMIN]) });
  open = await createTestApp(env, deps);
  keys.alice = await createKey("alice@example.com");
  keys.bob = await createKey("bob@example.com");
  keys.spare = await createKey("spare@example.com");
  tasks.alice = await submitAs(keys.alice.key, "alice's first prompt");
  tasks.bob = await submitAs(keys.bob.key, "bob's first prompt");
});
afterAll(async () => {
  await secured?.close();
  await open?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.fail(undefined);
});

type Expected = [none: number, bad: number, user: number, other: number, admin: number];
interface Row {
  method: Request["method"];
  /** Lazy: ids are known once beforeAll has run. */
  url: () => string;
  payload?: () => unknown;
  expected: Expected;
}

const all = (status: number): Expected => [status, status, status, status, status];
const adminOnly = (ok: number): Expected => [401, 401, 403, 403, ok];
const own = (ok: number, otherUser: number): Expected => [401, 401, ok, otherUser, ok];

const MATRIX: [string, Row][] = [
  [
    "POST /api/task",
    { method: "POST", url: () => "/api/task", payload: () => ({ prompt: "matrix" }), expected: own(202, 202) },
  ],
  [
    "POST /api/v1/task",
    { method: "POST", url: () => "/api/v1/task", payload: () => ({ prompt: "matrix v1" }), expected: own(202, 202) },
  ],
  ["GET /api/task/:alice's", { method: "GET", url: () => `/api/task/${tasks.alice}`, expected: own(200, 404) }],
  ["GET /api/v1/task/:alice's", { method: "GET", url: () => `/api/v1/task/${tasks.alice}`, expected: own(200, 404) }],
  ["GET /api/task/:unknown", { method: "GET", url: () => "/api/task/999999999", expected: own(404, 404) }],
  [
    "GET /api/task/:alice's/callbacks",
    { method: "GET", url: () => `/api/task/${tasks.alice}/callbacks`, expected: own(200, 404) },
  ],
  [
    "GET /api/v1/task/:alice's/callbacks",
    { method: "GET", url: () => `/api/v1/task/${tasks.alice}/callbacks`, expected: own(200, 404) },
  ],
  ["GET /api/tasks", { method: "GET", url: () => "/api/tasks", expected: own(200, 200) }],
  ["GET /api/v1/tasks", { method: "GET", url: () => "/api/v1/tasks", expected: own(200, 200) }],
  [
    "GET /api/tasks?user_id=alice",
    { method: "GET", url: () => "/api/tasks?user_id=alice%40example.com", expected: own(200, 403) },
  ],
  ["GET /api/report/daily", { method: "GET", url: () => "/api/report/daily", expected: adminOnly(200) }],
  ["GET /api/report/monthly", { method: "GET", url: () => "/api/report/monthly", expected: adminOnly(200) }],
  ["GET /api/v1/report/weekly", { method: "GET", url: () => "/api/v1/report/weekly", expected: adminOnly(200) }],
  ["GET /api/stats", { method: "GET", url: () => "/api/stats", expected: adminOnly(200) }],
  ["GET /api/v1/stats", { method: "GET", url: () => "/api/v1/stats", expected: adminOnly(200) }],
  [
    "POST /api/payment/subscription for alice",
    {
      method: "POST",
      url: () => "/api/payment/subscription",
      payload: () => ({ email: "alice@example.com" }),
      expected: own(200, 403),
    },
  ],
  [
    "POST /api/payment/micro for alice (identifier)",
    {
      method: "POST",
      url: () => "/api/payment/micro",
      payload: () => ({ user_id: "alice@example.com" }),
      expected: own(200, 403),
    },
  ],
  [
    "POST /api/payment/micro for alice (numeric id)",
    {
      method: "POST",
      url: () => "/api/payment/micro",
      payload: () => ({ user_id: keys.alice.userId }),
      expected: own(200, 403),
    },
  ],
  [
    "POST /api/v1/payment/micro for alice",
    {
      method: "POST",
      url: () => "/api/v1/payment/micro",
      payload: () => ({ user_id: "alice@example.com" }),
      expected: own(200, 403),
    },
  ],
  [
    "POST /api/keys",
    {
      method: "POST",
      url: () => "/api/keys",
      payload: () => ({ user_id: "carol@example.com" }),
      expected: adminOnly(201),
    },
  ],
  [
    "POST /api/v1/keys",
    {
      method: "POST",
      url: () => "/api/v1/keys",
      payload: () => ({ user_id: "dave@example.com" }),
      expected: adminOnly(201),
    },
  ],
  ["GET /api/keys", { method: "GET", url: () => "/api/keys", expected: adminOnly(200) }],
  ["GET /api/v1/keys", { method: "GET", url: () => "/api/v1/keys", expected: adminOnly(200) }],
  ["DELETE /api/keys/:spare", { method: "DELETE", url: () => `/api/keys/${keys.spare.id}`, expected: adminOnly(200) }],
  [
    "DELETE /api/v1/keys/:spare",
    { method: "DELETE", url: () => `/api/v1/keys/${keys.spare.id}`, expected: adminOnly(200) },
  ],
  [
    "POST /api/task/:unknown/cancel",
    { method: "POST", url: () => "/api/task/999999999/cancel", expected: own(404, 404) },
  ],
  [
    "GET /api/balance of alice",
    { method: "GET", url: () => "/api/balance?user_id=alice%40example.com", expected: own(200, 403) },
  ],
  ["GET /api/ledger", { method: "GET", url: () => "/api/ledger", expected: adminOnly(200) }],
  [
    "POST /api/credits for alice",
    {
      method: "POST",
      url: () => "/api/credits",
      payload: () => ({ user_id: "alice@example.com", amount: "0.5", reason: "matrix" }),
      expected: adminOnly(201),
    },
  ],
  ["GET /health", { method: "GET", url: () => "/health", expected: all(200) }],
  // The webhook authenticates with Stripe's signature, never an API key: unsigned is a 400, whoever calls.
  [
    "POST /api/webhook/stripe unsigned",
    { method: "POST", url: () => "/api/webhook/stripe", payload: () => ({}), expected: all(400) },
  ],
  [
    "POST /api/v1/webhook/stripe unsigned",
    { method: "POST", url: () => "/api/v1/webhook/stripe", payload: () => ({}), expected: all(400) },
  ],
];

describe.each(["bearer", "x-api-key"] as const)("the matrix, keys sent as %s", (via) => {
  describe.each(MATRIX)("%s", (_name, row) => {
    it.each(WHO.map((who, i) => [who, row.expected[i]!] as const))("%s key → %i", async (who, status) => {
      const before = await snapshot();
      const response = await send(secured, {
        method: row.method,
        url: row.url(),
        key: keyOf(who),
        via,
        payload: row.payload?.(),
      });

      expect(response.statusCode, response.body).toBe(status);
      expect(response.headers["content-type"]).toMatch(/^application\/json/);
      if (status === 401) {
        expectErrorBody(response.json(), "UNAUTHORIZED");
        expect(response.headers["www-authenticate"]).toMatch(/^Bearer realm="api"/);
      }
      if (status === 403) expectErrorBody(response.json(), "FORBIDDEN");
      if (status === 404) expectErrorBody(response.json(), "NOT_FOUND");
      if (status === 400) expectErrorBody(response.json(), "VALIDATION");
      // A refusal changes nothing: no task, user or key written, no key revoked, nothing sent to Stripe.
      if (status >= 400) expect(await snapshot()).toEqual(before);
    });
  });
});

describe("wrong keys", () => {
  it("answers 401 to every kind of wrong key, and the admin key is matched exactly", async () => {
    const aliceHash = createHash("sha256").update(keys.alice.key).digest("hex");
    const wrongAuthorizations = [
      `Bearer ${ADMIN}x`,
      `Bearer ${ADMIN.slice(0, -1)}`,
      `Bearer ${ADMIN.slice(0, -1)}0`,
      `Bearer ${ADMIN.toUpperCase()}`,
      `Bearer ${ADMIN} ${ADMIN}`,
      `Bearer ${keys.alice.key}x`,
      `Bearer ${keys.alice.key.slice(0, -1)}`,
      `Bearer ${keys.alice.key.slice(0, 10)}`,
      // The stored hash is not a key.
      `Bearer ${aliceHash}`,
      "Bearer",
      "Bearer ",
      `Basic ${Buffer.from(`admin:${ADMIN}`).toString("base64")}`,
      ADMIN,
      keys.alice.key,
    ];
    for (const authorization of wrongAuthorizations) {
      for (const url of ["/api/tasks", "/api/stats"]) {
        const response = await secured.app.inject({ method: "GET", url, headers: { authorization } });
        expect(response.statusCode, `${url} with Authorization: ${authorization}`).toBe(401);
        expectErrorBody(response.json(), "UNAUTHORIZED");
      }
    }
    for (const key of ["", " ", `${ADMIN}x`, aliceHash, keys.alice.key.toUpperCase()]) {
      const response = await secured.app.inject({ method: "GET", url: "/api/stats", headers: { "x-api-key": key } });
      expect(response.statusCode, `X-API-Key: ${JSON.stringify(key)}`).toBe(401);
    }
  });

  it("answers 401 on routes that would otherwise be 404 or 400, so nothing is learnt without a key", async () => {
    for (const [method, url] of [
      ["GET", "/api/task/999999999"],
      ["GET", "/api/task/not-a-number"],
      ["GET", "/api/report/yearly"],
      ["DELETE", "/api/keys/abc"],
    ] as const) {
      const response = await secured.app.inject({ method, url });
      expect(response.statusCode, `${method} ${url}`).toBe(401);
    }
  });
});

describe("HEAD, which Fastify adds to every GET route", () => {
  it("is guarded exactly like the GET", async () => {
    const cases: [string, Who, number][] = [
      ["/api/stats", "none", 401],
      ["/api/stats", "bad", 401],
      ["/api/stats", "user", 403],
      ["/api/stats", "admin", 200],
      ["/api/keys", "user", 403],
      ["/api/v1/report/daily", "other", 403],
      ["/api/tasks?user_id=alice%40example.com", "other", 403],
    ];
    for (const [url, who, status] of cases) {
      const key = keyOf(who);
      const response = await secured.app.inject({
        method: "HEAD",
        url,
        headers: key ? { authorization: `Bearer ${key}` } : {},
      });
      expect(response.statusCode, `HEAD ${url} as ${who}`).toBe(status);
    }
    const other = await secured.app.inject({
      method: "HEAD",
      url: `/api/task/${tasks.alice}`,
      headers: { authorization: `Bearer ${keys.bob.key}` },
    });
    expect(other.statusCode).toBe(404);
  });
});

describe("a user key acts as its own user only", () => {
  it("creates tasks as its own user, whatever user_id the body says", async () => {
    const cases: [string, string | null | undefined][] = [
      ["bob's user_id", "bob@example.com"],
      ["a new user_id", "mallory@example.com"],
      ["user_id null", null],
      ["no user_id", undefined],
    ];
    for (const [name, userId] of cases) {
      const id = await submitAs(keys.alice.key, `alice as ${name}`, userId);
      expect(await ownerOf(id), name).toBe("alice@example.com");
      const asBob = await send(secured, { method: "GET", url: `/api/task/${id}`, key: keys.bob.key });
      expect(asBob.statusCode).toBe(404);
    }
    expect(await secured.sql`select id from users where identifier = ${"mallory@example.com"}`).toHaveLength(0);

    // The admin key may submit for anyone, or for no one.
    expect(await ownerOf(await submitAs(ADMIN, "admin for bob", "bob@example.com"))).toBe("bob@example.com");
    expect(await ownerOf(await submitAs(ADMIN, "admin for nobody"))).toBeNull();
  });

  it("reads only its own tasks: guessing every id finds exactly its own, the rest answer like missing ones", async () => {
    await submitAs(keys.alice.key, "alice guess 1");
    await submitAs(keys.bob.key, "bob guess 1");
    await submitAs(ADMIN, "nobody's guess");
    await submitAs(keys.alice.key, "alice guess 2");
    const rows = await secured.sql<{ id: number; identifier: string | null }[]>`
      select t.id::int as id, u.identifier from tasks t left join users u on u.id = t.user_id order by t.id`;
    const maxId = rows.at(-1)!.id;

    for (const owner of ["alice", "bob"] as const) {
      const key = keys[owner];
      const expected = rows.filter((row) => row.identifier === key.identifier).map((row) => row.id);
      expect(expected.length).toBeGreaterThan(1);
      const seen: number[] = [];
      for (let id = 1; id <= maxId + 3; id++) {
        const url = id % 2 === 0 ? `/api/task/${id}` : `/api/v1/task/${id}`;
        const response = await send(secured, { method: "GET", url, key: key.key });
        if (response.statusCode === 200) {
          expect(response.json().user_id).toBe(key.identifier);
          seen.push(id);
        } else {
          expect(response.statusCode, `${owner} GET ${url}`).toBe(404);
          // Word for word what a task that does not exist gets.
          expect(response.json().error).toBe(`task ${id} not found`);
          expect(response.body).not.toContain("prompt");
        }
      }
      expect(seen, owner).toEqual(expected);
    }
  });

  it("lists only its own tasks: filtered, paged, with user_id, and with cursors from an admin's listing", async () => {
    const rows = await secured.sql<{ id: number; identifier: string | null }[]>`
      select t.id::int as id, u.identifier from tasks t left join users u on u.id = t.user_id order by t.id desc`;
    const aliceIds = rows.filter((row) => row.identifier === "alice@example.com").map((row) => row.id);
    expect(aliceIds.length).toBeGreaterThan(2);
    expect(rows.length).toBeGreaterThan(aliceIds.length);

    const list = async (query: string, key = keys.alice.key) => {
      const response = await send(secured, { method: "GET", url: `/api/tasks${query}`, key });
      expect(response.statusCode, `GET /api/tasks${query}: ${response.body}`).toBe(200);
      return response.json() as { tasks: { id: number; user_id: string | null }[]; next_cursor: string | null };
    };

    const everything = await list("?limit=1000");
    expect(everything.tasks.map((task) => task.id)).toEqual(aliceIds);
    expect(new Set(everything.tasks.map((task) => task.user_id))).toEqual(new Set(["alice@example.com"]));
    expect((await list("?limit=1000&user_id=alice%40example.com")).tasks.map((task) => task.id)).toEqual(aliceIds);
    expect((await list("?status=pending&limit=1000")).tasks.every((task) => aliceIds.includes(task.id))).toBe(true);

    // Page by page, one at a time: the same tasks, nobody else's.
    const paged: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await list(`?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      paged.push(...page.tasks.map((task) => task.id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(paged).toEqual(aliceIds);

    // Asking for another user's tasks is refused, and reveals none of them.
    for (const other of ["bob@example.com", "spare@example.com", "nobody@example.com"]) {
      const response = await send(secured, {
        method: "GET",
        url: `/api/tasks?user_id=${encodeURIComponent(other)}`,
        key: keys.alice.key,
      });
      expect(response.statusCode).toBe(403);
      expectErrorBody(response.json(), "FORBIDDEN");
      expect(response.body).not.toContain('"tasks"');
    }

    // Every cursor of an admin's listing (which runs over everyone's tasks) leads a user to its own tasks only.
    let adminCursor: string | null = null;
    const adminCursors: [afterId: number, cursor: string][] = [];
    do {
      const page = await list(`?limit=1${adminCursor ? `&cursor=${adminCursor}` : ""}`, ADMIN);
      adminCursor = page.next_cursor;
      if (adminCursor) adminCursors.push([page.tasks[0]!.id, adminCursor]);
    } while (adminCursor);
    expect(adminCursors.length).toBe(rows.length - 1);
    for (const [afterId, adminPageCursor] of adminCursors) {
      const page = await list(`?limit=1000&cursor=${adminPageCursor}`);
      expect(page.tasks.map((task) => task.id)).toEqual(aliceIds.filter((id) => id < afterId));
      const filtered = await list(`?limit=1000&cursor=${adminPageCursor}&user_id=alice%40example.com`);
      expect(filtered.tasks.every((task) => task.user_id === "alice@example.com")).toBe(true);
    }
  });

  it("starts payments for its own user only", async () => {
    const sessions = () => fake.requests.filter((request) => request.path === "/v1/checkout/sessions");
    const post = (url: string, payload: unknown, key = keys.alice.key) =>
      send(secured, { method: "POST", url, key, payload });

    const refusals: [string, unknown][] = [
      ["/api/payment/subscription", { email: "bob@example.com" }],
      ["/api/payment/subscription", { email: "someone-new@example.com" }],
      ["/api/payment/micro", { user_id: "bob@example.com" }],
      ["/api/payment/micro", { user_id: keys.bob.userId }],
      ["/api/payment/micro", { user_id: "someone-new@example.com" }],
    ];
    for (const [url, payload] of refusals) {
      const before = await snapshot();
      const response = await post(url, payload);
      expect(response.statusCode, `${url} ${JSON.stringify(payload)}`).toBe(403);
      expectErrorBody(response.json(), "FORBIDDEN");
      expect(await snapshot()).toEqual(before);
    }

    // Its own: the session Stripe is asked for names alice's user.
    for (const [url, payload] of [
      ["/api/payment/subscription", { email: "alice@example.com" }],
      ["/api/payment/subscription", { email: "ALICE@Example.com" }],
      ["/api/payment/micro", { user_id: "alice@example.com" }],
      ["/api/payment/micro", { user_id: keys.alice.userId }],
    ] as const) {
      const count = sessions().length;
      const response = await post(url, payload);
      expect(response.statusCode, `${url} ${JSON.stringify(payload)}: ${response.body}`).toBe(200);
      expect(response.json().checkout_url).toMatch(/^https:\/\/checkout\.stripe\.com\//);
      expect(sessions()).toHaveLength(count + 1);
      expect(sessions().at(-1)!.form.client_reference_id).toBe(String(keys.alice.userId));
    }

    // The admin key may start a payment for anyone.
    const forBob = await post("/api/payment/micro", { user_id: keys.bob.userId }, ADMIN);
    expect(forBob.statusCode).toBe(200);
    expect(sessions().at(-1)!.form.client_reference_id).toBe(String(keys.bob.userId));
  });

  it("never starts a subscription for another user row than its own, whatever the email's case", async () => {
    // Subscriptions are kept under the lower-cased email: for a user whose identifier has capitals,
    // that is another user row (perhaps someone else's), so its key must not reach it.
    const mixed = await createKey("Mixed.Case@Example.com");
    const before = await snapshot();
    for (const email of ["mixed.case@example.com", "Mixed.Case@Example.com"]) {
      const response = await send(secured, {
        method: "POST",
        url: "/api/payment/subscription",
        key: mixed.key,
        payload: { email },
      });
      const session = fake.requests.filter((request) => request.path === "/v1/checkout/sessions").at(-1);
      expect(
        {
          status: response.statusCode,
          session: response.statusCode === 200 ? session?.form.client_reference_id : null,
        },
        email,
      ).toEqual({ status: 403, session: null });
    }
    expect(await snapshot()).toEqual(before);
    expect(await secured.sql`select id from users where identifier = ${"mixed.case@example.com"}`).toHaveLength(0);
  });
});

describe("the Stripe webhook", () => {
  it("takes a signed event without any API key", async () => {
    const { payload, headers } = signStripeEvent(stripeEvent("customer.created", { id: "cus_x" }), WEBHOOK_SECRET);
    for (const url of ["/api/webhook/stripe", "/api/v1/webhook/stripe"]) {
      const response = await secured.app.inject({ method: "POST", url, payload, headers });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.json()).toEqual({ status: "success" });
    }
  });

  it("is refused with 400, not 401, when the signature is wrong, even with the admin key", async () => {
    const { payload, headers } = signStripeEvent(stripeEvent("customer.created", { id: "cus_y" }), "whsec_wrong");
    const response = await secured.app.inject({
      method: "POST",
      url: "/api/webhook/stripe",
      payload,
      headers: { ...headers, authorization: `Bearer ${ADMIN}` },
    });
    expect(response.statusCode).toBe(400);
    expectErrorBody(response.json(), "VALIDATION");
  });
});

describe("open mode (no ADMIN_API_KEY)", () => {
  const OPEN_MATRIX: [string, Request["method"], () => string, (() => unknown) | undefined, number][] = [
    ["POST /api/task", "POST", () => "/api/task", () => ({ prompt: "open", user_id: "olive@example.com" }), 202],
    ["GET /api/task/:id", "GET", () => `/api/task/${tasks.bob}`, undefined, 200],
    ["GET /api/v1/task/:id", "GET", () => `/api/v1/task/${tasks.alice}`, undefined, 200],
    ["GET /api/tasks?user_id=bob", "GET", () => "/api/tasks?user_id=bob%40example.com", undefined, 200],
    ["GET /api/report/daily", "GET", () => "/api/report/daily", undefined, 200],
    ["GET /api/stats", "GET", () => "/api/stats", undefined, 200],
    [
      "POST /api/payment/subscription",
      "POST",
      () => "/api/payment/subscription",
      () => ({ email: "bob@example.com" }),
      200,
    ],
    ["POST /api/payment/micro", "POST", () => "/api/payment/micro", () => ({ user_id: keys.bob.userId }), 200],
    // A key minted in open mode would outlive it: key management needs ADMIN_API_KEY.
    ["POST /api/keys", "POST", () => "/api/keys", () => ({ user_id: "olive@example.com" }), 403],
    ["GET /api/keys", "GET", () => "/api/keys", undefined, 403],
    ["DELETE /api/keys/:id", "DELETE", () => `/api/keys/${keys.spare.id}`, undefined, 403],
    ["GET /health", "GET", () => "/health", undefined, 200],
    ["POST /api/webhook/stripe unsigned", "POST", () => "/api/webhook/stripe", () => ({}), 400],
  ];

  it.each(OPEN_MATRIX)(
    "%s is reachable without a key, and a key sent is ignored",
    async (_name, method, url, payload, status) => {
      for (const key of [undefined, UNKNOWN_KEY, keys.alice.key]) {
        const response = await send(open, { method, url: url(), key, payload: payload?.() });
        expect(response.statusCode, `${key ?? "no key"}: ${response.body}`).toBe(status);
        expect(response.headers["www-authenticate"]).toBeUndefined();
        if (status === 403) expect(response.json().error).toMatch(/ADMIN_API_KEY/);
      }
    },
  );

  it("does not narrow anything to a user: a user_id in the body is kept, and every task is listed", async () => {
    const id = await submitAs(keys.alice.key, "open for bob", "bob@example.com", open);
    expect(await ownerOf(id)).toBe("bob@example.com");
    const listed = await send(open, { method: "GET", url: "/api/tasks?limit=1000" });
    const identifiers = new Set((listed.json().tasks as { user_id: string | null }[]).map((task) => task.user_id));
    expect([...identifiers]).toEqual(expect.arrayContaining(["alice@example.com", "bob@example.com", null]));
  });
});
