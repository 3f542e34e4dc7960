// The service on a real Redis Cluster (3 masters, 3 replicas) and a real Sentinel set (a master, a
// replica, 3 sentinels), started by this file on free ports of 127.0.0.1: the API and worker
// processes as an operator runs them, the queue, the `?wait` and cancel channels, the event streams
// and their stored output, all through the cluster's or the sentinels' master.
import {
  type FakeChatServer,
  freePort,
  killAll,
  openEventStream,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startProcess,
  startRedisCluster,
  startRedisSentinels,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { Redis } from "ioredis";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let fake: FakeChatServer;
let sql: postgres.Sql;

beforeAll(async () => {
  fake = await startFakeChatServer((request) =>
    request.prompt.startsWith("hang") ? { kind: "hang" } : { kind: "ok", delayMs: 50 },
  );
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await killAll();
  await sql?.end();
  await fake?.close();
});

async function keysOnDefaultServer(prefix: string) {
  const client = new Redis(env.redisUrl);
  const keys = await client.keys(`${prefix}:*`);
  client.disconnect();
  return keys;
}

async function post(api: StartedApi, path: string, body: unknown) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * The same flows on any Redis: 20 tasks through the queue, one answered by `?wait`, one streamed
 * and followed over SSE, one canceled while its provider call hangs; every accepted task ends,
 * and each completed one has exactly one api_cost booking.
 */
async function runFlows(api: StartedApi, tag: string) {
  const ids: number[] = [];
  for (let i = 0; i < 20; i++) {
    const answer = await post(api, "/api/task", { prompt: `${tag} task ${i}` });
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    ids.push(answer.body.task_id as number);
  }
  const waited = await post(api, "/api/task?wait=20", { prompt: `${tag} waited` });
  expect(waited.status, JSON.stringify(waited.body)).toBe(200);
  expect(waited.body).toMatchObject({ status: "completed", response: `answer to: ${tag} waited` });

  const streamed = await post(api, "/api/task", { prompt: `${tag} streamed`, stream: true });
  const events = await openEventStream(`${api.baseUrl}/api/task/${streamed.body.task_id}/events`);
  expect(await events.finished(20_000)).toBe(true);
  const deltas = events.events.filter((event) => event.event === "delta");
  expect(deltas.map((event) => (event.data as { text: string }).text).join("")).toBe(`answer to: ${tag} streamed`);

  const hanging = await post(api, "/api/task", { prompt: `hang ${tag}` });
  const hangingId = hanging.body.task_id as number;
  await waitFor(
    async () => (await sql`select status from tasks where id = ${hangingId}`)[0]?.status === "processing",
    20_000,
  );
  const canceled = await post(api, `/api/task/${hangingId}/cancel`, {});
  expect(canceled.status).toBe(200);
  await waitFor(() => fake.abandoned.some((request) => request.prompt === `hang ${tag}`), 20_000);

  const all = [...ids, waited.body.task_id as number, streamed.body.task_id as number];
  await waitFor(
    async () => {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from tasks where id = any(${all}) and status = 'completed'`;
      return row!.n === all.length;
    },
    30_000,
    { message: `all ${all.length} ${tag} tasks completed` },
  );
  const bookings = await sql<{ task_id: string; n: number }[]>`
    select task_id, count(*)::int as n from ledger_entries
    where category = 'api_cost' and task_id = any(${all}) group by task_id`;
  expect(bookings).toHaveLength(all.length);
  expect(bookings.every((booking) => booking.n === 1)).toBe(true);
}

describe("on a Redis Cluster", () => {
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  const procs: RunningProcess[] = [];
  const clusterEnv = () => ({
    DATABASE_URL: env.databaseUrl,
    REDIS_CLUSTER_NODES: cluster.nodeList,
    QUEUE_PREFIX: `{${env.queuePrefix}}`,
    // The rate limiter's counters live in Redis too: on, high enough never to refuse here.
    RATE_LIMIT_PER_MINUTE: "100000",
  });
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => {
    await Promise.all(procs.map((proc) => proc.kill9()));
    await cluster?.close();
  });

  it("runs the pipeline, ?wait, events and cancel through the cluster", async () => {
    const api = await startApi(clusterEnv());
    procs.push(api.proc);
    procs.push(
      startWorkerProcess(
        { databaseUrl: env.databaseUrl, redisUrl: "redis://127.0.0.1:6379", queuePrefix: `{${env.queuePrefix}}` },
        fake,
        { REDIS_CLUSTER_NODES: cluster.nodeList, WORKER_LOCK_DURATION_MS: "2000" },
      ),
    );
    await runFlows(api, "cluster");
    // The queue lives on the cluster, in one slot, and nothing went to the default server.
    const prefix = `{${env.queuePrefix}}`;
    const slots = new Set<number>();
    for (const node of cluster.nodes) {
      const client = new Redis({ port: node.port, host: "127.0.0.1" });
      for (const key of await client.keys(`${prefix}:*`)) slots.add(Number(await client.cluster("KEYSLOT", key)));
      client.disconnect();
    }
    expect(slots.size).toBe(1);
    // The rate limiter counted on the cluster (it lets requests through when Redis fails).
    const limited = await fetch(`${api.baseUrl}/api/tasks`);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("100000");
    expect(Number(limited.headers.get("x-ratelimit-remaining"))).toBeLessThan(100000);
    expect(await keysOnDefaultServer(prefix)).toEqual([]);
  });

  it("refuses a queue prefix without a hash tag, naming QUEUE_PREFIX", async () => {
    const proc = startProcess("api", { ...clusterEnv(), QUEUE_PREFIX: "plain", PORT: String(await freePort()) });
    procs.push(proc);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("QUEUE_PREFIX: on Redis Cluster it must hold a {hash tag}");
  });

  it("answers health 503 while the cluster is still forming, then 200 once it is, and runs tasks", async () => {
    const forming = await startRedisCluster({ form: false });
    try {
      const api = await startApi({ ...clusterEnv(), REDIS_CLUSTER_NODES: forming.nodeList }, { healthy: false });
      procs.push(api.proc);
      expect((await fetch(`${api.baseUrl}/health`)).status).toBe(503);
      await forming.form();
      await waitFor(async () => (await fetch(`${api.baseUrl}/health`)).status === 200, 20_000);
      procs.push(
        startWorkerProcess(
          { databaseUrl: env.databaseUrl, redisUrl: env.redisUrl, queuePrefix: `{${env.queuePrefix}}` },
          fake,
          { REDIS_CLUSTER_NODES: forming.nodeList },
        ),
      );
      const waited = await post(api, "/api/task?wait=20", { prompt: "after the cluster formed" });
      expect(waited.status, JSON.stringify(waited.body)).toBe(200);
    } finally {
      await forming.close();
    }
  });

  it("answers health 503 while the cluster is unreachable, without hanging", async () => {
    const unreachable = `127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`;
    const api = await startApi({ ...clusterEnv(), REDIS_CLUSTER_NODES: unreachable }, { healthy: false });
    procs.push(api.proc);
    const started = Date.now();
    const health = await fetch(`${api.baseUrl}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ checks: { database: "ok", redis: "down" } });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe("through Redis Sentinel", () => {
  let set: Awaited<ReturnType<typeof startRedisSentinels>>;
  const procs: RunningProcess[] = [];
  beforeAll(async () => {
    set = await startRedisSentinels();
  });
  afterAll(async () => {
    await Promise.all(procs.map((proc) => proc.kill9()));
    await set?.close();
  });

  it("runs the pipeline, ?wait, events and cancel on the master the sentinels name", async () => {
    const sentinelEnv = { REDIS_SENTINELS: set.sentinelList, REDIS_SENTINEL_NAME: set.name };
    const prefix = `${env.queuePrefix}-sentinel`;
    const api = await startApi({
      DATABASE_URL: env.databaseUrl,
      QUEUE_PREFIX: prefix,
      RATE_LIMIT_PER_MINUTE: "100000",
      ...sentinelEnv,
    });
    procs.push(api.proc);
    procs.push(
      startWorkerProcess(
        { databaseUrl: env.databaseUrl, redisUrl: "redis://127.0.0.1:6379", queuePrefix: prefix },
        fake,
        { ...sentinelEnv, WORKER_LOCK_DURATION_MS: "2000" },
      ),
    );
    await runFlows(api, "sentinel");
    const master = new Redis({ port: set.master.port, host: "127.0.0.1" });
    expect((await master.keys(`${prefix}:*`)).length).toBeGreaterThan(0);
    master.disconnect();
    expect(await keysOnDefaultServer(prefix)).toEqual([]);
  });

  it("answers health 503 for a master name the sentinels do not know, without hanging", async () => {
    const api = await startApi(
      {
        DATABASE_URL: env.databaseUrl,
        QUEUE_PREFIX: `${env.queuePrefix}-unknown`,
        REDIS_SENTINELS: set.sentinelList,
        REDIS_SENTINEL_NAME: "no-such-master",
      },
      { healthy: false },
    );
    procs.push(api.proc);
    const started = Date.now();
    const health = await fetch(`${api.baseUrl}/health`);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ checks: { database: "ok", redis: "down" } });
    // A submission is still stored (the reconciler queues it once Redis is there), and answers at once.
    const submitted = await post(api, "/api/task", { prompt: "while Redis is unknown" });
    expect(submitted.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(8000);
  });

  it("refuses to start without the master's name, naming REDIS_SENTINEL_NAME", async () => {
    const proc = startProcess("api", {
      DATABASE_URL: env.databaseUrl,
      REDIS_SENTINELS: set.sentinelList,
      PORT: String(await freePort()),
    });
    procs.push(proc);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("REDIS_SENTINEL_NAME: required with REDIS_SENTINELS");
  });
});
