// A Redis that may evict keys loses BullMQ's jobs and locks silently: the API and the worker refuse
// to run on one, unless REDIS_ALLOW_EVICTION=true. A Redis server of the test's own, on a free
// port, stands for the operator's misconfigured one.
import { once } from "node:events";
import { guardEvictionPolicy, readEvictionPolicy } from "@aitasks/queue";
import {
  exitWithin,
  freePort,
  killAll,
  type RunningProcess,
  spawnCommand,
  startApi,
  startProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let server: RunningProcess;
let redisUrl: string;
let admin: Redis;

beforeAll(async () => {
  const port = await freePort();
  server = spawnCommand(
    "redis-server",
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--maxmemory-policy",
      "allkeys-lru",
    ],
    {},
  );
  redisUrl = `redis://127.0.0.1:${port}`;
  await waitFor(() => server.output().includes("Ready to accept connections"), 10_000);
  admin = new Redis(redisUrl);
});
afterAll(async () => {
  admin?.disconnect();
  await killAll();
});

const processEnv = () => ({ DATABASE_URL: env.databaseUrl, REDIS_URL: redisUrl, QUEUE_PREFIX: env.queuePrefix });

describe("Redis's eviction policy", () => {
  it("is read from INFO, as managed services that disable CONFIG still answer it", async () => {
    expect(await readEvictionPolicy(admin)).toBe("allkeys-lru");
  });

  it.each(["api", "worker"] as const)(
    "the %s refuses to start on a Redis that evicts, and says what to do",
    async (role) => {
      const proc = startProcess(role, { ...processEnv(), PORT: String(await freePort()), HOST: "127.0.0.1" });
      expect(await exitWithin(proc, 20_000), proc.output()).toBe(1);
      expect(proc.output()).toContain("maxmemory-policy is allkeys-lru");
      expect(proc.output()).toContain("maxmemory-policy noeviction");
      expect(proc.output()).toContain("REDIS_ALLOW_EVICTION=true");
    },
  );

  it("REDIS_ALLOW_EVICTION=true runs anyway, with a warning", async () => {
    const api = await startApi({ ...processEnv(), REDIS_ALLOW_EVICTION: "true" });
    await waitFor(() => api.proc.output().includes("Running anyway because REDIS_ALLOW_EVICTION=true"), 10_000);
    expect((await fetch(`${api.baseUrl}/health`)).status).toBe(200);
    await api.proc.stop();
  });

  it("is checked again after a reconnect: a Redis switched to evicting is refused then", async () => {
    await admin.config("SET", "maxmemory-policy", "noeviction");
    const client = new Redis(redisUrl, { retryStrategy: () => 50 });
    const refused: string[] = [];
    const warnings: string[] = [];
    guardEvictionPolicy(client, {
      allowEviction: false,
      onRefused: (reason) => refused.push(reason),
      onWarning: (message) => warnings.push(message),
    });
    await once(client, "ready");
    // Give the first check its round trip: it passes.
    await client.ping();
    expect(refused).toEqual([]);

    // A failover to a replica configured otherwise looks like this: the same address, a reconnect.
    await admin.config("SET", "maxmemory-policy", "volatile-ttl");
    await admin.client("KILL", "TYPE", "normal", "SKIPME", "yes");
    await waitFor(() => refused.length > 0, 10_000);
    expect(refused[0]).toContain("maxmemory-policy is volatile-ttl");
    expect(warnings).toEqual([]);
    client.disconnect();
    await admin.config("SET", "maxmemory-policy", "allkeys-lru");
  });
});
