import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const env = useTestEnvironment();

describe("GET /health", () => {
  let testApp: Awaited<ReturnType<typeof createTestApp>>;
  beforeAll(async () => {
    testApp = await createTestApp(env);
  });
  afterAll(() => testApp.close());

  it("reports healthy with both dependencies up", async () => {
    const response = await testApp.app.inject({ method: "GET", url: "/health" });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ status: "healthy", checks: { database: "ok", redis: "ok" } });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  });

  it("answers 503 unhealthy, naming the dependency that is down", async () => {
    const broken = await createTestApp(env, {
      healthChecks: { database: () => Promise.reject(new Error("ECONNREFUSED")), redis: async () => "PONG" },
    });
    try {
      const response = await broken.app.inject({ method: "GET", url: "/health" });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ status: "unhealthy", checks: { database: "down", redis: "ok" } });
    } finally {
      await broken.close();
    }
  });
});
