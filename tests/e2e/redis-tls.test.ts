// `rediss://`: the service on a Redis that speaks only TLS, with a certificate of a CA of this
// file's own. The API and the worker trust it through NODE_EXTRA_CA_CERTS, as an operator gives a
// private CA to Node; without it the certificate is refused, and the API says Redis is down.
import {
  type FakeChatServer,
  killAll,
  makeTestCertificates,
  startApi,
  startFakeChatServer,
  startRedisServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;
let certificates: ReturnType<typeof makeTestCertificates>;
let redisUrl: string;

beforeAll(async () => {
  fake = await startFakeChatServer();
  certificates = makeTestCertificates();
  const server = await startRedisServer("redis-tls", [], undefined, certificates);
  redisUrl = `rediss://127.0.0.1:${server.port}`;
});
afterAll(async () => {
  await killAll();
  await fake?.close();
  certificates?.remove();
});

describe("Redis over TLS (rediss://)", () => {
  it("runs tasks through a Redis that speaks only TLS, trusting its CA", async () => {
    const trusted = { REDIS_URL: redisUrl, NODE_EXTRA_CA_CERTS: certificates.caFile };
    const api = await startApi({ DATABASE_URL: env.databaseUrl, QUEUE_PREFIX: env.queuePrefix, ...trusted });
    startWorkerProcess({ ...env, redisUrl }, fake, { NODE_EXTRA_CA_CERTS: certificates.caFile });
    const response = await fetch(`${api.baseUrl}/api/task?wait=20`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "over TLS" }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: "completed", response: "answer to: over TLS" });
  });

  it("refuses a certificate it does not trust: health 503, not a connection in the clear", async () => {
    const api = await startApi(
      { DATABASE_URL: env.databaseUrl, QUEUE_PREFIX: env.queuePrefix, REDIS_URL: redisUrl },
      { healthy: false },
    );
    const health = await fetch(`${api.baseUrl}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ checks: { redis: "down" } });
  });
});
