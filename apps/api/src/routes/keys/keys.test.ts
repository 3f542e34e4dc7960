import { createHash } from "node:crypto";
import { adminKeyDigests } from "@aitasks/auth";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";

type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp(env, { adminKeyDigests: adminKeyDigests([ADMIN]) });
});
afterAll(() => testApp.close());

type Via = "bearer" | "x-api-key";
interface Call {
  key?: string | undefined;
  via?: Via;
  payload?: unknown;
}

function call(method: "GET" | "POST" | "DELETE", url: string, { key, via = "bearer", payload }: Call = {}) {
  const headers: Record<string, string> = {};
  if (key !== undefined) {
    if (via === "bearer") headers.authorization = `Bearer ${key}`;
    else headers["x-api-key"] = key;
  }
  if (payload !== undefined) headers["content-type"] = "application/json";
  return testApp.app.inject({
    method,
    url,
    headers,
    ...(payload !== undefined ? { payload: typeof payload === "string" ? payload : JSON.stringify(payload) } : {}),
  });
}

interface CreatedKey {
  id: number;
  user_id: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
  key: string;
}

async function createKey(userId: string, url = "/api/keys"): Promise<CreatedKey> {
  const response = await call("POST", url, { key: ADMIN, payload: { user_id: userId } });
  expect(response.statusCode, response.body).toBe(201);
  return response.json();
}

const sha256Hex = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** Every error is `{error, code, request_id}`: words a client can act on, nothing internal. */
function expectErrorBody(body: unknown, code?: string) {
  expect(body).toEqual({ error: expect.any(String), code: code ?? expect.any(String), request_id: expect.any(String) });
  expect((body as { error: string }).error.length).toBeGreaterThan(0);
}

async function keyCount() {
  const [row] = await testApp.sql<{ n: number }[]>`select count(*)::int as n from api_keys`;
  return row!.n;
}

describe("POST /api/keys", () => {
  it("creates a key for a new user, shown once, with the ak_ prefix", async () => {
    const response = await call("POST", "/api/keys", { key: ADMIN, payload: { user_id: "ada@example.com" } });

    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body).toEqual({
      id: expect.any(Number),
      user_id: "ada@example.com",
      prefix: expect.any(String),
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      revoked_at: null,
      budget: null,
      key: expect.any(String),
    });
    // ak_ + 32 random bytes in base64url (43 characters).
    expect(body.key).toMatch(/^ak_[A-Za-z0-9_-]{43}$/);
    expect(body.key.startsWith(body.prefix)).toBe(true);
    expect(body.prefix.length).toBeLessThan(body.key.length / 2);
    expect(Math.abs(Date.parse(body.created_at) - Date.now())).toBeLessThan(60_000);

    const users = await testApp.sql`select id from users where identifier = ${"ada@example.com"}`;
    expect(users).toHaveLength(1);
  });

  it("gives every key a different value, also for the same user, and reuses the user", async () => {
    const first = await createKey("twice@example.com");
    const second = await createKey("twice@example.com");

    expect(second.key).not.toBe(first.key);
    expect(second.id).not.toBe(first.id);
    const users = await testApp.sql`select id from users where identifier = ${"twice@example.com"}`;
    expect(users).toHaveLength(1);
    const keys = await testApp.sql`select id from api_keys where user_id = ${users[0]!.id}`;
    expect(keys).toHaveLength(2);
  });

  it("is served the same under /api/v1/keys", async () => {
    const created = await createKey("versioned@example.com", "/api/v1/keys");
    expect(created.key).toMatch(/^ak_/);
    const me = await call("GET", "/api/v1/tasks", { key: created.key });
    expect(me.statusCode).toBe(200);
  });

  it("never shows the key again: GET /api/keys lists id, user_id, prefix, created_at, revoked_at, budget only", async () => {
    const created = await createKey("listed@example.com");

    const response = await call("GET", "/api/keys", { key: ADMIN });
    expect(response.statusCode).toBe(200);
    const { keys } = response.json() as { keys: Record<string, unknown>[] };
    const listed = keys.find((key) => key.id === created.id);
    expect(listed).toEqual({
      id: created.id,
      user_id: "listed@example.com",
      prefix: created.prefix,
      created_at: created.created_at,
      revoked_at: null,
      budget: null,
    });
    for (const key of keys) {
      expect(Object.keys(key).sort()).toEqual(["budget", "created_at", "id", "prefix", "revoked_at", "user_id"]);
    }
    // Neither the key, nor its secret part, nor its hash appear anywhere in the listing.
    expect(response.body).not.toContain(created.key);
    expect(response.body).not.toContain(created.key.slice(created.prefix.length));
    expect(response.body).not.toContain(sha256Hex(created.key));
    // Newest first.
    const ids = keys.map((key) => key.id as number);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
  });

  describe("refuses bad input with 400 and creates nothing", () => {
    const cases: [string, unknown][] = [
      ["no user_id", {}],
      ["an empty user_id", { user_id: "" }],
      ["a numeric user_id", { user_id: 7 }],
      ["a user_id over 320 characters", { user_id: "u".repeat(321) }],
      ["a user_id containing NUL", { user_id: "a\u0000b" }],
      ["a user_id containing a lone surrogate", '{"user_id":"a\\ud800b"}'],
      ["a JSON array", "[]"],
      ["JSON null", "null"],
    ];
    it.each(cases)("%s", async (_name, payload) => {
      const before = await keyCount();
      const response = await call("POST", "/api/keys", { key: ADMIN, payload });

      expect(response.statusCode, response.body).toBe(400);
      expectErrorBody(response.json(), "VALIDATION");
      expect(await keyCount()).toBe(before);
    });
  });
});

describe("at rest", () => {
  it("the database holds the key's SHA-256 only, never the key itself", async () => {
    const created = await createKey("hashed@example.com");
    const secretPart = created.key.slice(created.prefix.length);

    const rows = await testApp.sql<Record<string, unknown>[]>`select * from api_keys`;
    expect(rows.length).toBeGreaterThan(0);
    const row = rows.find((r) => Number(r.id) === created.id);
    expect(row).toBeDefined();
    expect(row!.key_hash).toBe(sha256Hex(created.key));
    expect(row!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row!.prefix).toBe(created.prefix);

    for (const stored of rows) {
      for (const [column, value] of Object.entries(stored)) {
        const text = value instanceof Date ? value.toISOString() : String(value);
        expect(text, `api_keys.${column}`).not.toContain(created.key);
        expect(text, `api_keys.${column}`).not.toContain(secretPart);
      }
    }
    // The whole row as Postgres renders it, and every other table, hold no trace of it either.
    const everywhere = await testApp.sql<{ text: string }[]>`
      select t::text as text from api_keys t
      union all select u::text from users u
      union all select t::text from tasks t`;
    for (const { text } of everywhere) {
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(secretPart);
    }
  });
});

describe("using a key", () => {
  it("reads X-API-Key when Authorization carries another scheme, and refuses a Bearer header without a key", async () => {
    const created = await createKey("behind-a-proxy@example.com");
    const withBasic = await testApp.app.inject({
      method: "GET",
      url: "/api/tasks",
      headers: { authorization: "Basic cHJveHk6c2VjcmV0", "x-api-key": created.key },
    });
    expect(withBasic.statusCode).toBe(200);

    const emptyBearer = await testApp.app.inject({
      method: "GET",
      url: "/api/tasks",
      headers: { authorization: "Bearer ", "x-api-key": created.key },
    });
    expect(emptyBearer.statusCode).toBe(401);
    expectErrorBody(emptyBearer.json(), "UNAUTHORIZED");
  });

  it("works as Authorization: Bearer and as X-API-Key, and acts as its user", async () => {
    const created = await createKey("worker-bee@example.com");

    for (const via of ["bearer", "x-api-key"] as const) {
      const submitted = await call("POST", "/api/task", {
        key: created.key,
        via,
        payload: { prompt: `via ${via}`, user_id: "somebody-else" },
      });
      expect(submitted.statusCode, `${via}: ${submitted.body}`).toBe(202);
      const read = await call("GET", `/api/task/${submitted.json().task_id}`, { key: created.key, via });
      expect(read.statusCode).toBe(200);
      expect(read.json()).toMatchObject({ input: `via ${via}`, user_id: "worker-bee@example.com" });
    }
  });

  it("accepts the scheme in any case and surrounding spaces", async () => {
    const created = await createKey("spaces@example.com");
    for (const authorization of [`bearer ${created.key}`, `BEARER  ${created.key} `]) {
      const response = await testApp.app.inject({ method: "GET", url: "/api/tasks", headers: { authorization } });
      expect(response.statusCode, authorization).toBe(200);
    }
  });
});

describe("DELETE /api/keys/:id", () => {
  it("revokes a key: the very next request with it gets 401, by either header", async () => {
    const created = await createKey("revoked@example.com");
    const sibling = await createKey("revoked@example.com");
    expect((await call("GET", "/api/tasks", { key: created.key })).statusCode).toBe(200);

    const response = await call("DELETE", `/api/keys/${created.id}`, { key: ADMIN });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toEqual({
      id: created.id,
      user_id: "revoked@example.com",
      prefix: created.prefix,
      created_at: created.created_at,
      revoked_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      budget: null,
    });
    expect(JSON.stringify(body)).not.toContain(created.key);

    for (const via of ["bearer", "x-api-key"] as const) {
      const refused = await call("GET", "/api/tasks", { key: created.key, via });
      expect(refused.statusCode, via).toBe(401);
      expectErrorBody(refused.json(), "UNAUTHORIZED");
      expect(refused.headers["www-authenticate"]).toMatch(/^Bearer /);
    }
    const refusedWrite = await call("POST", "/api/task", { key: created.key, payload: { prompt: "after revoke" } });
    expect(refusedWrite.statusCode).toBe(401);
    const stored = await testApp.sql`select id from tasks where input = ${"after revoke"}`;
    expect(stored).toHaveLength(0);

    // The user's other key is untouched, and the listing shows which one was revoked.
    expect((await call("GET", "/api/tasks", { key: sibling.key })).statusCode).toBe(200);
    const listed = (await call("GET", "/api/keys", { key: ADMIN })).json().keys as CreatedKey[];
    expect(listed.find((key) => key.id === created.id)?.revoked_at).toBe(body.revoked_at);
    expect(listed.find((key) => key.id === sibling.id)?.revoked_at).toBeNull();
  });

  it("is harmless twice: 200 both times, and the first revocation time is kept", async () => {
    const created = await createKey("twice-revoked@example.com");
    const first = await call("DELETE", `/api/keys/${created.id}`, { key: ADMIN });
    const second = await call("DELETE", `/api/v1/keys/${created.id}`, { key: ADMIN });

    expect(first.statusCode).toBe(200);
    expect(second.statusCode).toBe(200);
    expect(second.json().revoked_at).toBe(first.json().revoked_at);
    expect((await call("GET", "/api/tasks", { key: created.key })).statusCode).toBe(401);
  });

  it("answers 404 for an unknown key id", async () => {
    const response = await call("DELETE", "/api/keys/999999999", { key: ADMIN });
    expect(response.statusCode).toBe(404);
    expectErrorBody(response.json(), "NOT_FOUND");
  });

  it.each(["abc", "0", "-1", "1.5", "1e3", "01", "9999999999999999"])("answers 400 for the id %s", async (id) => {
    const response = await call("DELETE", `/api/keys/${id}`, { key: ADMIN });
    expect(response.statusCode).toBe(400);
    expectErrorBody(response.json(), "VALIDATION");
  });
});

describe("key management is admin-only", () => {
  it("answers 403 to a user key on all three routes, and changes nothing", async () => {
    const user = await createKey("nosy@example.com");
    const target = await createKey("target@example.com");
    const before = await keyCount();

    const routes = [
      ["POST", "/api/keys", { user_id: "nosy-second@example.com" }],
      ["GET", "/api/keys", undefined],
      ["DELETE", `/api/keys/${target.id}`, undefined],
      ["DELETE", `/api/keys/${user.id}`, undefined],
      ["POST", "/api/v1/keys", { user_id: "nosy-third@example.com" }],
      ["GET", "/api/v1/keys", undefined],
    ] as const;
    for (const [method, url, payload] of routes) {
      for (const via of ["bearer", "x-api-key"] as const) {
        const response = await call(method, url, { key: user.key, via, payload });
        expect(response.statusCode, `${method} ${url} via ${via}`).toBe(403);
        expectErrorBody(response.json(), "FORBIDDEN");
        expect(response.body).not.toContain(target.prefix);
      }
    }
    expect(await keyCount()).toBe(before);
    expect(await testApp.sql`select id from users where identifier like 'nosy-%'`).toHaveLength(0);
    // Neither key was revoked.
    expect((await call("GET", "/api/tasks", { key: target.key })).statusCode).toBe(200);
    expect((await call("GET", "/api/tasks", { key: user.key })).statusCode).toBe(200);
  });

  it("answers 401 with WWW-Authenticate without a key or with a wrong one, and changes nothing", async () => {
    const target = await createKey("untouchable@example.com");
    const before = await keyCount();
    const routes = [
      ["POST", "/api/keys", { user_id: "anonymous@example.com" }],
      ["GET", "/api/keys", undefined],
      ["DELETE", `/api/keys/${target.id}`, undefined],
    ] as const;
    for (const [method, url, payload] of routes) {
      const none = await call(method, url, { payload });
      expect(none.statusCode, `${method} ${url} without a key`).toBe(401);
      expectErrorBody(none.json(), "UNAUTHORIZED");
      expect(none.headers["www-authenticate"]).toBe('Bearer realm="api"');

      const wrong = await call(method, url, { key: `${ADMIN}x`, payload });
      expect(wrong.statusCode, `${method} ${url} with a wrong key`).toBe(401);
      expectErrorBody(wrong.json(), "UNAUTHORIZED");
      expect(wrong.headers["www-authenticate"]).toMatch(/error="invalid_token"/);
    }
    expect(await keyCount()).toBe(before);
    expect((await call("GET", "/api/tasks", { key: target.key })).statusCode).toBe(200);
  });
});
