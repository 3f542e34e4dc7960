// Error answers carry our own codes, listed in one place (docs/errors.md).
import { readFileSync } from "node:fs";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";
import { ERROR_CODES } from "./errors.js";

const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;

beforeAll(async () => {
  testApp = await createTestApp(env);
});
afterAll(() => testApp?.close());

describe("framework refusals answer with our codes", () => {
  const cases = [
    {
      name: "body too large",
      payload: JSON.stringify({ prompt: "x".repeat(1024 * 1024) }),
      type: "application/json",
      status: 413,
      code: "BODY_TOO_LARGE",
    },
    { name: "text/plain", payload: '{"prompt":"hi"}', type: "text/plain", status: 415, code: "UNSUPPORTED_MEDIA_TYPE" },
    {
      name: "form-encoded",
      payload: "prompt=hi",
      type: "application/x-www-form-urlencoded",
      status: 415,
      code: "UNSUPPORTED_MEDIA_TYPE",
    },
    {
      name: "malformed JSON",
      payload: '{"prompt": "unterminated',
      type: "application/json",
      status: 400,
      code: "INVALID_JSON",
    },
    { name: "empty JSON body", payload: "", type: "application/json", status: 400, code: "INVALID_JSON" },
    {
      name: "__proto__ key",
      payload: '{"prompt":"hi","__proto__":{"x":1}}',
      type: "application/json",
      status: 400,
      code: "INVALID_JSON",
    },
    {
      name: "not UTF-8",
      payload: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]),
      type: "application/json",
      status: 400,
      code: "VALIDATION",
    },
  ] as const;

  it.each(cases)("$name → $status $code", async ({ payload, type, status, code }) => {
    const response = await testApp.app.inject({
      method: "POST",
      url: "/api/task",
      payload,
      headers: { "content-type": type },
    });

    expect(response.statusCode).toBe(status);
    expect(response.json()).toEqual({ error: expect.any(String), code, request_id: expect.any(String) });
    expect(response.json().code).not.toMatch(/^FST_/);
  });

  it("every code an answer carries has the status the table gives it", () => {
    for (const { status, code } of cases) expect(ERROR_CODES[code]).toBe(status);
  });
});

describe("docs/errors.md", () => {
  it("lists every error code with its status, and no other", () => {
    const page = readFileSync(new URL("../../../../docs/errors.md", import.meta.url), "utf8");
    const listed = Object.fromEntries(
      [...page.matchAll(/^\| `([A-Z_]+)` +\| (\d{3}) /gm)].map(([, code, status]) => [code, Number(status)]),
    );
    expect(listed).toEqual(ERROR_CODES);
  });
});

describe("a request that waits on someone else's lock", () => {
  it("answers 503 UNAVAILABLE after the session's lock_timeout, instead of hanging", async () => {
    const held = await testApp.sql.reserve();
    try {
      await held`begin`;
      await held`lock table tasks in exclusive mode`;
      const response = await testApp.app.inject({ method: "POST", url: "/api/task", payload: { prompt: "blocked" } });

      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ code: "UNAVAILABLE" });
    } finally {
      await held`rollback`;
      held.release();
    }
  });
});
