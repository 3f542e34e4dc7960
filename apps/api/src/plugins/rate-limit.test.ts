import { adminKeyDigests } from "@aitasks/auth";
import { useTestEnvironment } from "@aitasks/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let testApp: TestApp;
let redis: Redis;

beforeAll(async () => {
  redis = new Redis(env.redisUrl);
  testApp = await createTestApp(env, {
    adminKeyDigests: adminKeyDigests([ADMIN]),
    rateLimit: { perMinute: 3, redis, namespace: `${env.queuePrefix}:rate-limit:` },
  });
});
afterAll(async () => {
  await testApp?.close();
  redis?.disconnect();
});

const from = (remoteAddress: string, headers: Record<string, string> = {}) =>
  testApp.app.inject({ method: "GET", url: "/api/stats", headers, remoteAddress });

describe("requests without a valid key", () => {
  it("are limited per client address before any key lookup: past the limit, 429 with Retry-After", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await from("203.0.113.7", i % 2 ? { authorization: "Bearer wrong-key-0000000000" } : {});
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        expect(response.json()).toMatchObject({ code: "RATE_LIMITED" });
        expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
  });

  it("do not count against other addresses, nor are requests with a valid key counted", async () => {
    expect((await from("203.0.113.8")).statusCode).toBe(401);
    await from("203.0.113.9");
    await from("203.0.113.9");
    // As many as the per-key limit allows (the admin key has one bucket), more than the failure limit.
    for (let i = 0; i < 3; i++) {
      expect((await from("203.0.113.9", { authorization: `Bearer ${ADMIN}` })).statusCode).toBe(200);
    }
    expect((await from("203.0.113.9")).statusCode).toBe(401);
  });
});
