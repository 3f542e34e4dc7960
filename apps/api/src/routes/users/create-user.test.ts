// POST /api/users: an admin creates a user before it has a key or a task, so that prepaid credit
// can be granted to it; asking again answers the same user.
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const ADMIN = "admin-key-create-user-0123456789";
const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let open: TestApp;

beforeAll(async () => {
  t = await createTestApp(env, {}, { BILLING_MODE: "prepaid", ADMIN_API_KEY: ADMIN });
  open = await createTestApp(env);
});
afterAll(async () => {
  await t?.close();
  await open?.close();
});

const post = (url: string, payload: unknown, key: string | null = ADMIN, app = t) =>
  app.app.inject({
    method: "POST",
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), "content-type": "application/json" },
    payload: typeof payload === "string" ? payload : JSON.stringify(payload),
  });

const view = (user_id: string) => ({
  user_id,
  email: null,
  balance: 0,
  held: 0,
  available: 0,
  currency: "usd",
  created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
});

describe("POST /api/users", () => {
  it("creates the user (201), answers the same user again (200), and credit can then be granted", async () => {
    const created = await post("/api/users", { user_id: "new-buyer@example.com" });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.json()).toEqual(view("new-buyer@example.com"));

    const again = await post("/api/v1/users", { user_id: "new-buyer@example.com" });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(created.json());

    // The onboarding it is for: credit to a user that has neither a key nor a task yet.
    const granted = await post("/api/credits", { user_id: "new-buyer@example.com", amount: "5", reason: "trial" });
    expect(granted.statusCode, granted.body).toBe(201);
    const afterGrant = await post("/api/users", { user_id: "new-buyer@example.com" });
    expect(afterGrant.statusCode).toBe(200);
    expect(afterGrant.json()).toMatchObject({ balance: 5, held: 0, available: 5 });
  });

  it("answers a user created by its key or its task as it is", async () => {
    expect((await post("/api/keys", { user_id: "keyed@example.com" })).statusCode).toBe(201);
    const existing = await post("/api/users", { user_id: "keyed@example.com" });
    expect(existing.statusCode).toBe(200);
    expect(existing.json()).toEqual(view("keyed@example.com"));
  });

  it("creates one user when asked many times at once", async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, () => post("/api/users", { user_id: "racing" })));
    expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
    const rows = await t.sql<{ count: string }[]>`select count(*)::text from users where identifier = 'racing'`;
    expect(rows).toEqual([{ count: "1" }]);
  });

  it.each([
    [{}, /user_id/],
    [{ user_id: "" }, /user_id must not be empty/],
    [{ user_id: 42 }, /user_id must be a string/],
    [{ user_id: "x".repeat(321) }, /at most 320 characters/],
    [{ user_id: "a\u0000b" }, /NUL/],
    [{ user_id: "\ud800" }, /lone surrogate/],
    [[], /body must be a JSON object/],
    ["null", /body must be a JSON object/],
  ])("answers 400 for %j", async (body, message) => {
    const response = await post("/api/users", body);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toEqual({
      error: expect.stringMatching(message),
      code: "VALIDATION",
      request_id: expect.any(String),
    });
  });

  it("is an admin's: 401 without a key or with an unknown one, 403 for a user key", async () => {
    const userKey = (await post("/api/keys", { user_id: "not-an-admin@example.com" })).json().key as string;
    const refused = await post("/api/users", { user_id: "made-by-a-user" }, userKey);
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toMatchObject({ code: "FORBIDDEN", error: "creating users needs an admin API key" });
    for (const key of [null, "ak_not-a-key"]) {
      const response = await post("/api/users", { user_id: "made-by-nobody" }, key);
      expect(response.statusCode).toBe(401);
      expect(response.json()).toMatchObject({ code: "UNAUTHORIZED" });
    }
    const rows = await t.sql<{ count: string }[]>`
      select count(*)::text from users where identifier in ('made-by-a-user', 'made-by-nobody')`;
    expect(rows).toEqual([{ count: "0" }]);
  });

  it("is open in open mode, as tasks are (they create their users too)", async () => {
    const response = await post("/api/users", { user_id: "open-mode-user" }, null, open);
    expect(response.statusCode).toBe(201);
  });

  it("is in the OpenAPI document, with its answers", async () => {
    const document = (await t.app.inject({ method: "GET", url: "/openapi.json" })).json();
    const operation = Object.entries(document.paths as Record<string, Record<string, { operationId?: string }>>)
      .flatMap(([, methods]) => Object.values(methods))
      .find((candidate) => candidate.operationId === "createUser") as
      | { tags: string[]; responses: Record<string, unknown>; requestBody: unknown }
      | undefined;
    expect(operation?.tags).toEqual(["Users"]);
    expect(Object.keys(operation?.responses ?? {})).toEqual(
      expect.arrayContaining(["200", "201", "400", "401", "403"]),
    );
    expect(operation?.requestBody).toBeDefined();
    expect(document.components.schemas.User.required).toEqual(
      expect.arrayContaining(["user_id", "balance", "held", "available", "created_at"]),
    );
  });
});
