// A known path asked with a method it does not serve answers 405 with Allow; an unknown path 404.
import { useTestEnvironment } from "@aitasks/testing";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";
import { collectAllowedMethods } from "./allowed-methods.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-allowed-methods-01234";
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let withCors: TestApp;
let session: string;

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN });
  withCors = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN, CORS_ORIGINS: "https://app.example.com" });
  const signIn = await t.app.inject({
    method: "POST",
    url: "/dashboard/sign-in",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ key: ADMIN, next: "/dashboard" }).toString(),
  });
  session = String(signIn.headers["set-cookie"]).split(";")[0] ?? "";
});
afterAll(async () => {
  await t?.close();
  await withCors?.close();
});

type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

describe("a method the path does not serve", () => {
  it.each([
    ["DELETE", "/api/task/123", "GET, HEAD"],
    ["DELETE", "/api/v1/task/123", "GET, HEAD"],
    ["PUT", "/api/task/123/cancel", "POST"],
    ["GET", "/api/task", "POST"],
    ["GET", "/api/v1/tasks/batch", "POST"],
    ["PUT", "/api/keys", "GET, HEAD, POST"],
    ["PUT", "/api/v1/keys/7", "DELETE, PATCH"],
    ["DELETE", "/api/report/daily?date=2026-01-01", "GET, HEAD"],
    ["POST", "/health", "GET, HEAD"],
    ["POST", "/metrics", "GET, HEAD"],
    ["PUT", "/openapi.json", "GET, HEAD"],
    ["GET", "/api/webhook/stripe", "POST"],
  ] as const)("%s %s → 405, Allow: %s", async (method, url, allow) => {
    const response = await t.app.inject({ method, url });
    expect(response.statusCode, response.body).toBe(405);
    expect(response.headers.allow).toBe(allow);
    expect(response.json()).toEqual({
      error: expect.stringContaining(`${method} is not served`),
      code: "METHOD_NOT_ALLOWED",
      request_id: response.headers["x-request-id"],
    });
  });

  it("answers a HEAD without a body", async () => {
    const response = await t.app.inject({ method: "HEAD", url: "/api/task" });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe("POST");
    expect(response.body).toBe("");
  });

  it("on the dashboard, once signed in (the sign-in comes first, as for its other pages)", async () => {
    const cases: [Method, string, string][] = [
      ["PUT", "/dashboard/users", "GET, HEAD"],
      ["POST", "/dashboard/tasks/12", "GET, HEAD"],
      ["GET", "/dashboard/sign-out", "POST"],
      ["DELETE", "/dashboard/sign-in", "GET, HEAD, POST"],
    ];
    for (const [method, url, allow] of cases) {
      const response = await t.app.inject({ method, url, headers: { cookie: session } });
      expect(response.statusCode, `${method} ${url}`).toBe(405);
      expect(response.headers.allow).toBe(allow);
    }
    expect((await t.app.inject({ method: "PUT", url: "/dashboard/users" })).statusCode).toBe(401);
  });

  it("lists OPTIONS where CORS answers it, and still answers 404 for unknown paths", async () => {
    const response = await withCors.app.inject({ method: "DELETE", url: "/api/task/1" });
    expect(response.statusCode).toBe(405);
    expect(response.headers.allow).toBe("GET, HEAD, OPTIONS");
    expect((await withCors.app.inject({ method: "DELETE", url: "/api/nowhere" })).statusCode).toBe(404);
  });
});

describe("an unknown path", () => {
  it.each([
    ["GET", "/nowhere"],
    ["DELETE", "/api/nowhere"],
    ["GET", "/api/task/1/nowhere"],
    ["POST", "/health/"],
    ["GET", "/api/v2/tasks"],
  ] as const)("%s %s → 404 NOT_FOUND, without Allow", async (method, url) => {
    const response = await t.app.inject({ method, url });
    expect(response.statusCode).toBe(404);
    expect(response.headers.allow).toBeUndefined();
    expect(response.json()).toMatchObject({ code: "NOT_FOUND" });
  });

  it("a missing task on a served method is still the route's own 404", async () => {
    const response = await t.app.inject({ method: "GET", url: "/api/task/999999", headers: { "x-api-key": ADMIN } });
    expect(response.statusCode).toBe(404);
    expect(response.headers.allow).toBeUndefined();
  });
});

describe("collectAllowedMethods", () => {
  it("knows the paths Fastify routes: parameters, regular expressions, wildcards, escaped colons, prefixes", async () => {
    const app = Fastify();
    const allowedMethodsOf = collectAllowedMethods(app);
    const ok = async () => "ok";
    app.get("/files/:id(^\\d+$)", ok);
    app.get("/range/:from-:to", ok);
    app.put("/static/*", ok);
    app.get("/time/12::30", ok);
    await app.register(
      async (scoped) => {
        scoped.get("/", ok);
        scoped.post("/items/:id/move", ok);
      },
      { prefix: "/scoped" },
    );
    await app.ready();
    const paths = [
      "/files/12",
      "/files/abc",
      "/range/1-5",
      "/range/15",
      "/static/a/b.css",
      "/static",
      "/time/12:30",
      "/scoped",
      "/scoped/",
      "/scoped/items/9/move",
      "/scoped/items/9",
      "/nowhere",
    ];
    // Whatever Fastify serves at a path is what the lookup says, and nothing else.
    for (const path of paths) {
      const served: string[] = [];
      for (const method of ["GET", "HEAD", "POST", "PUT"] as const) {
        if ((await app.inject({ method, url: path })).statusCode !== 404) served.push(method);
      }
      expect(allowedMethodsOf(path) ?? [], path).toEqual(served);
    }
    await app.close();
  });
});
