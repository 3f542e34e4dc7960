import { createApiKey } from "@aitasks/auth";
import { useTestEnvironment } from "@aitasks/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-123456789";
const WRONG = { authorization: "Bearer wrong-key-0000000000" };
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let redis: Redis;
/** No TRUST_PROXY: the socket's address is the client's. */
let direct: TestApp;
/** TRUST_PROXY=1: one load balancer in front, whoever it is. */
let behindOneHop: TestApp;
/** TRUST_PROXY=10.0.0.0/8: the load balancers' network. */
let behindKnownProxies: TestApp;

/** Each app counts under its own names, so that one test's requests never spend another's limits. */
const appWith = (name: string, variables: Record<string, string> = {}) =>
  createTestApp(
    env,
    { rateLimit: { perMinute: 3, redis, namespace: `${env.queuePrefix}:${name}:` } },
    { ADMIN_API_KEY: ADMIN, ...variables },
  );

beforeAll(async () => {
  redis = new Redis(env.redisUrl);
  direct = await appWith("direct");
  behindOneHop = await appWith("one-hop", { TRUST_PROXY: "1" });
  behindKnownProxies = await appWith("known-proxies", { TRUST_PROXY: "10.0.0.0/8" });
});
afterAll(async () => {
  await direct?.close();
  await behindOneHop?.close();
  await behindKnownProxies?.close();
  redis?.disconnect();
});

const from = (testApp: TestApp, remoteAddress: string, headers: Record<string, string> = {}, url = "/api/stats") =>
  testApp.app.inject({ method: "GET", url, headers, remoteAddress });

describe("requests without a valid key", () => {
  it("are counted per client address: past the limit, 429 with Retry-After", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const response = await from(direct, "203.0.113.7", i % 2 ? WRONG : {});
      statuses.push(response.statusCode);
      if (response.statusCode === 429) {
        expect(response.json()).toMatchObject({ code: "RATE_LIMITED" });
        expect(Number(response.headers["retry-after"])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([401, 401, 401, 429, 429, 429, 429, 429]);
  });

  it("do not count against other addresses, nor are requests with a valid key counted", async () => {
    expect((await from(direct, "203.0.113.8")).statusCode).toBe(401);
    await from(direct, "203.0.113.9");
    await from(direct, "203.0.113.9");
    // As many as the per-key limit allows (the admin key has one bucket), more than the failure limit.
    for (let i = 0; i < 3; i++) {
      expect((await from(direct, "203.0.113.9", { authorization: `Bearer ${ADMIN}` })).statusCode).toBe(200);
    }
    expect((await from(direct, "203.0.113.9")).statusCode).toBe(401);
  });
});

describe("a valid key from an address that sent many bad ones", () => {
  it("is never refused: user keys, the admin key and /metrics pass while bad and missing keys get 429", async () => {
    const flooded = "198.51.100.50";
    const flood: number[] = [];
    for (let i = 0; i < 20; i++)
      flood.push((await from(behindOneHop, "10.0.0.2", { ...WRONG, "x-forwarded-for": flooded })).statusCode);
    expect(flood.slice(0, 3)).toEqual([401, 401, 401]);
    expect(new Set(flood.slice(3))).toEqual(new Set([429]));

    const { key } = await createApiKey(
      { db: behindOneHop.db, principal: { role: "admin" } },
      "shares-an-address@example.com",
    );
    const viaBalancer = (headers: Record<string, string>, url?: string) =>
      from(behindOneHop, "10.0.0.2", { ...headers, "x-forwarded-for": flooded }, url);
    const asUser = await viaBalancer({ authorization: `Bearer ${key}` }, "/api/tasks");
    expect(asUser.statusCode, asUser.body).toBe(200);
    expect((await viaBalancer({ "x-api-key": key }, "/api/v1/tasks")).statusCode).toBe(200);
    expect((await viaBalancer({ authorization: `Bearer ${ADMIN}` })).statusCode).toBe(200);
    expect((await viaBalancer({ authorization: `Bearer ${ADMIN}` }, "/metrics")).statusCode).toBe(200);

    expect((await viaBalancer(WRONG)).statusCode).toBe(429);
    expect((await viaBalancer({})).statusCode).toBe(429);
    expect((await viaBalancer({ authorization: "Bearer not-a-metrics-token" }, "/metrics")).statusCode).toBe(429);
  });
});

describe("TRUST_PROXY", () => {
  it("unset: X-Forwarded-For changes nothing, every request is counted under the socket's address", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push(
        (await from(direct, "203.0.113.30", { ...WRONG, "x-forwarded-for": `198.51.100.${i}` })).statusCode,
      );
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it("a hop count: clients behind the same load balancer are counted apart, by the address it appended", async () => {
    const viaBalancer = (client: string) => from(behindOneHop, "10.0.0.3", { ...WRONG, "x-forwarded-for": client });
    const first: number[] = [];
    for (let i = 0; i < 4; i++) first.push((await viaBalancer("198.51.100.10")).statusCode);
    expect(first).toEqual([401, 401, 401, 429]);
    // What the client itself wrote comes before what the balancer appended: it is not believed.
    expect((await viaBalancer("192.0.2.99, 198.51.100.10")).statusCode).toBe(429);
    expect((await viaBalancer("198.51.100.11")).statusCode).toBe(401);
  });

  it("addresses and CIDRs: only those peers are believed; a client connecting directly is counted as itself", async () => {
    const viaProxy = (client: string) => from(behindKnownProxies, "10.1.2.3", { ...WRONG, "x-forwarded-for": client });
    for (let i = 0; i < 3; i++) expect((await viaProxy("198.51.100.20")).statusCode).toBe(401);
    expect((await viaProxy("198.51.100.20")).statusCode).toBe(429);
    expect((await viaProxy("198.51.100.21")).statusCode).toBe(401);

    const spoofing: number[] = [];
    for (let i = 0; i < 4; i++) {
      spoofing.push(
        (await from(behindKnownProxies, "203.0.113.40", { ...WRONG, "x-forwarded-for": `198.51.100.${30 + i}` }))
          .statusCode,
      );
    }
    expect(spoofing).toEqual([401, 401, 401, 429]);
  });
});
