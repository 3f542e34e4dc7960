// The service through a real PgBouncer (Debian's 1.18) in transaction pooling, with a pool of 4
// server connections for every client: the API and the worker as an operator runs them, on
// `DATABASE_URL=…?pgbouncer=true`, migrations on the direct DATABASE_MIGRATION_URL. Prepaid money
// (holds taken under row locks, exact charges), `?wait` and the pipeline must work as on Postgres
// itself, and a pooler the configuration does not declare is refused at start-up with the reason.
import {
  type FakeChatServer,
  freePort,
  killAll,
  type RunningProcess,
  startApi,
  startFakeChatServer,
  startPgBouncer,
  startProcess,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const ADMIN = "admin-key-pgbouncer-0123456789";
let fake: FakeChatServer;
let sql: postgres.Sql;
let bouncer: Awaited<ReturnType<typeof startPgBouncer>>;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  fake = await startFakeChatServer(() => ({ kind: "ok", delayMs: 20 }));
  sql = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
  bouncer = await startPgBouncer(env.databaseUrl, { poolMode: "transaction", poolSize: 4 });
});
afterAll(async () => {
  await killAll();
  await bouncer?.close();
  await sql?.end();
  await fake?.close();
});

const database = () => new URL(env.databaseUrl).pathname.slice(1);
const pooledEnv = () => ({
  DATABASE_URL: bouncer.url(database(), "?pgbouncer=true"),
  DATABASE_MIGRATION_URL: env.databaseUrl,
  QUEUE_PREFIX: env.queuePrefix,
});

async function call(baseUrl: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("through PgBouncer in transaction pooling", () => {
  it("runs prepaid tasks with exact holds and charges, ?wait and the pipeline", async () => {
    const api = await startApi({ ...pooledEnv(), ADMIN_API_KEY: ADMIN, BILLING_MODE: "prepaid" });
    procs.push(api.proc);
    procs.push(
      startWorkerProcess(env, fake, { ...pooledEnv(), WORKER_CONCURRENCY: "20", WORKER_LOCK_DURATION_MS: "2000" }),
    );
    const key = await call(api.baseUrl, "POST", "/api/keys", { user_id: "pooled@example.com" });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const granted = await call(api.baseUrl, "POST", "/api/credits", {
      user_id: "pooled@example.com",
      amount: "1.00",
      reason: "pgbouncer test",
    });
    expect(granted.status, JSON.stringify(granted.body)).toBe(201);

    // 60 concurrent submissions: each takes its hold under the balance row's lock, on whichever
    // server connection the pooler gives its transaction.
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        call(api.baseUrl, "POST", "/api/task", {
          prompt: `pooled ${i}`,
          user_id: "pooled@example.com",
          max_tokens: 50,
        }),
      ),
    );
    expect(answers.map((answer) => answer.status)).toEqual(answers.map(() => 202));
    // The API (a pool of 10) and the worker reached Postgres through the pooler's 4 connections.
    const [backends] = await sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity
      where datname = ${database()} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
    expect(backends!.n).toBeLessThanOrEqual(4);
    const waited = await call(api.baseUrl, "POST", "/api/task?wait=20", {
      prompt: "pooled waited",
      user_id: "pooled@example.com",
      max_tokens: 50,
    });
    expect(waited.status, JSON.stringify(waited.body)).toBe(200);

    const ids = [...answers.map((answer) => answer.body.task_id as number), waited.body.task_id as number];
    await waitFor(
      async () => {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from tasks where id = any(${ids}) and status = 'completed'`;
        return row!.n === ids.length;
      },
      30_000,
      { message: "every pooled task completed" },
    );
    // Each charged once, holds all released, and the balance moved by exactly the charges.
    const [books] = await sql<{ charged: string; charges: number; held: string; balance: string }[]>`
      select (select sum(charged_usd) from tasks where id = any(${ids}))::text as charged,
        (select count(*) from credit_entries where source = 'task' and task_id = any(${ids}))::int as charges,
        b.held::text as held, b.balance::text as balance
      from credit_balances b join users u on u.id = b.user_id where u.identifier = 'pooled@example.com'`;
    expect(books!.charges).toBe(ids.length);
    expect(Number(books!.held)).toBe(0);
    // Exact: numeric arithmetic in Postgres, not floats.
    const [exact] = await sql<
      { ok: boolean }[]
    >`select 1 - ${books!.balance}::numeric = ${books!.charged}::numeric as ok`;
    expect(exact!.ok).toBe(true);
    const balance = await call(api.baseUrl, "GET", "/api/balance?user_id=pooled@example.com");
    expect(balance.body).toMatchObject({ held: 0, balance: Number(books!.balance) });
  });

  it("refuses to start when DATABASE_URL reaches PgBouncer without ?pgbouncer=true, saying what to set", async () => {
    const proc = startProcess("api", {
      ...pooledEnv(),
      DATABASE_URL: bouncer.url(database()),
      PORT: String(await freePort()),
      HOST: "127.0.0.1",
    });
    procs.push(proc);
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("DATABASE_URL: the server refused a session setting");
    expect(proc.output()).toContain("add ?pgbouncer=true");
  });

  it("refuses a pooler in session mode that the URL does not declare, the same way", async () => {
    const session = await startPgBouncer(env.databaseUrl, { poolMode: "session" });
    try {
      const proc = startProcess("worker", {
        DATABASE_URL: session.url(database()),
        DATABASE_MIGRATION_URL: env.databaseUrl,
        QUEUE_PREFIX: env.queuePrefix,
      });
      procs.push(proc);
      expect(await proc.exited).toBe(1);
      expect(proc.output()).toContain("DATABASE_URL: the server refused a session setting");
    } finally {
      await session.close();
    }
  });

  it("refuses ?pgbouncer=true without a direct DATABASE_MIGRATION_URL, and migrations through the pooler", async () => {
    const withoutMigrationUrl = startProcess("worker", {
      DATABASE_URL: bouncer.url(database(), "?pgbouncer=true"),
      QUEUE_PREFIX: env.queuePrefix,
    });
    procs.push(withoutMigrationUrl);
    expect(await withoutMigrationUrl.exited).toBe(1);
    expect(withoutMigrationUrl.output()).toContain(
      "DATABASE_MIGRATION_URL: required when DATABASE_URL goes through PgBouncer",
    );

    const migratingThroughPooler = startProcess("worker", {
      ...pooledEnv(),
      DATABASE_MIGRATION_URL: bouncer.url(database()),
    });
    procs.push(migratingThroughPooler);
    expect(await migratingThroughPooler.exited).toBe(1);
    expect(migratingThroughPooler.output()).toContain("DATABASE_MIGRATION_URL: the server refused a session setting");
  });
});
