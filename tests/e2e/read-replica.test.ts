// DATABASE_READ_URL: lists, reports, stats and the ledger read a real streaming replica (a
// primary of this file's own, and `pg_basebackup -R` of it), while a client's own task is always
// read from the primary. The replica's replay is paused to tell the two apart.
import {
  type FakeChatServer,
  killAll,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startPostgresWithReplica,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const ADMIN = "admin-key-read-replica-0123456789";
let fake: FakeChatServer;
let pair: Awaited<ReturnType<typeof startPostgresWithReplica>>;
let api: StartedApi;

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
const listedIds = async () =>
  ((await call("GET", "/api/tasks?limit=100")).body.tasks as { id: number }[]).map((task) => task.id);

beforeAll(async () => {
  fake = await startFakeChatServer(() => ({ kind: "ok", delayMs: 20 }));
  pair = await startPostgresWithReplica();
  const common = { DATABASE_URL: pair.primaryUrl, QUEUE_PREFIX: env.queuePrefix };
  api = await startApi({ ...common, DATABASE_READ_URL: pair.replicaUrl, ADMIN_API_KEY: ADMIN });
  startWorkerProcess({ databaseUrl: pair.primaryUrl, redisUrl: env.redisUrl, queuePrefix: env.queuePrefix }, fake, {
    REPORT_ROLLUP_INTERVAL_MS: "500",
  });
});
afterAll(async () => {
  await killAll();
  await pair?.close();
  await fake?.close();
});

describe("DATABASE_READ_URL", () => {
  it("reads a client's own task from the primary, and lists, stats and reports from the replica", async () => {
    const first = await call("POST", "/api/task?wait=20", { prompt: "before the pause" });
    expect(first.status).toBe(200);
    const firstId = first.body.task_id as number;
    await waitFor(async () => (await listedIds()).includes(firstId), 10_000);
    const statsBefore = (await call("GET", "/api/stats")).body;

    pair.pauseReplay();
    try {
      const second = await call("POST", "/api/task?wait=20", { prompt: "while the replica is behind" });
      expect(second.status).toBe(200);
      const secondId = second.body.task_id as number;
      // Read-your-writes: the task just created is there, from the primary.
      const own = await call("GET", `/api/task/${secondId}`);
      expect(own.status).toBe(200);
      expect(own.body).toMatchObject({ id: secondId, status: "completed" });
      // The replica has not replayed it yet: lists and stats are as they were.
      expect(await listedIds()).not.toContain(secondId);
      expect((await call("GET", "/api/stats")).body).toEqual(statsBefore);
    } finally {
      pair.resumeReplay();
    }
    await waitFor(async () => (await listedIds()).length === 2, 10_000);
    await waitFor(async () => {
      const stats = (await call("GET", "/api/stats")).body as { total_tasks?: number; tasks?: { total?: number } };
      return JSON.stringify(stats) !== JSON.stringify(statsBefore);
    }, 10_000);
    // Reports come from the rollups the worker writes on the primary, replayed to the replica.
    const today = new Date().toISOString().slice(0, 10);
    await waitFor(async () => {
      const report = (await call("GET", `/api/report/daily?date=${today}`)).body as { usage?: { api_cost?: number } };
      return (report.usage?.api_cost ?? 0) > 0;
    }, 20_000);
  });
});
