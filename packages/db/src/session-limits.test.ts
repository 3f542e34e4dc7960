// Someone else's long transaction never stalls our writers: counter rows are never waited for, and
// any other wait of our sessions is bounded.
import { useTestEnvironment } from "@aitasks/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, SESSION_LIMITS } from "./client.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
let outsider: postgres.Sql;

beforeAll(async () => {
  // Short limits, so that a writer that waits fails the test quickly instead of passing slowly.
  database = createDatabase(env.databaseUrl, { max: 1, sessionLimits: { lock_timeout: 500 } });
  outsider = postgres(env.databaseUrl, { max: 2, onnotice: () => {} });
  await outsider`insert into stats_counters (shard) select generate_series(0, 31) on conflict do nothing`;
});
afterAll(async () => {
  await database?.close();
  await outsider?.end();
});

describe("our sessions", () => {
  it("run with the service's limits on waits, statements and idle transactions", async () => {
    const database = createDatabase(env.databaseUrl, { max: 1 });
    try {
      const [limits] = await database.sql<{ lock: string; statement: string; idle: string }[]>`
        select current_setting('lock_timeout') as lock, current_setting('statement_timeout') as statement,
          current_setting('idle_in_transaction_session_timeout') as idle`;
      expect(limits).toEqual({ lock: "5s", statement: "30s", idle: "15s" });
      expect(SESSION_LIMITS).toEqual({
        lock_timeout: 5_000,
        statement_timeout: 30_000,
        idle_in_transaction_session_timeout: 15_000,
      });
    } finally {
      await database.close();
    }
  });

  it("never wait on a stats counter row held by another open transaction", async () => {
    const [row] = await database.sql<{ pid: number }[]>`select pg_backend_pid() as pid`;
    const pid = row!.pid;
    // Another transaction holds every counter row but one, and not the one this connection's pid
    // maps to: a writer that always used its connection's row (as before) would wait.
    const free = ((pid % 32) + 1) % 32;
    const held = await outsider.reserve();
    try {
      await held`begin`;
      await held`select shard from stats_counters where shard <> ${free} for update`;
      // Users are counted through deltas, ledger amounts straight into a counter row, and the fold
      // moves the deltas into one: none of them may wait.
      for (let i = 0; i < 10; i++) {
        await database.sql`insert into users (identifier) values (${`shard-test-${i}-${Math.random()}`})`;
        await database.sql`insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
          values ('income', 'micro_payment', 1.25, now(), ${`shard-test-${i}-${Math.random()}`})`;
      }
      await database.sql`select fold_stats_deltas()`;
      const [total] = await database.sql<{ users: number; income: string }[]>`
        select sum(users)::int as users, sum(income_usd)::numeric(30, 12)::text as income from stats_counters`;
      const [counted] = await database.sql<{ users: number; income: string }[]>`
        select (select count(*)::int from users) as users,
          (select sum(amount_usd)::numeric(30, 12)::text from ledger_entries where kind = 'income') as income`;
      expect(total).toEqual(counted);
    } finally {
      await held`rollback`;
      held.release();
    }
  });

  it("give up waiting on any other lock after lock_timeout, with an error rather than a hang", async () => {
    const held = await outsider.reserve();
    try {
      await held`begin`;
      await held`lock table tasks in exclusive mode`;
      await expect(
        database.sql`insert into tasks (provider, model, input) values ('openai', 'gpt-4o-mini', 'blocked')`,
      ).rejects.toMatchObject({ code: "55P03" });
    } finally {
      await held`rollback`;
      held.release();
    }
  });
});
