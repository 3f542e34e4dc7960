import { createDatabase, ledgerEntries, parseAmount } from "@aitasks/db";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { getReport, periodOf } from "./get-report.js";
import { foldStatsDeltas, getStats } from "./get-stats.js";
import { rollupReports } from "./rollup-reports.js";

const env = useTestEnvironment();
let database: ReturnType<typeof createDatabase>;
/** An exact amount, as reports and stats return them. */
const usd = (amount: string | number) => parseAmount(String(amount));
const asAdmin = () => ({ db: database.db, principal: { role: "admin" } as const });

beforeAll(() => {
  database = createDatabase(env.databaseUrl, { max: 3 });
});
afterAll(() => database.close());
beforeEach(async () => {
  await database.sql`truncate ledger_entries, report_rollups, report_rollup_state, report_dirty_days, stats_counters, stats_deltas, tasks, users cascade`;
});

let objectSequence = 0;
type Category = "subscription" | "micro_payment" | "refund" | "api_cost";
function book(category: Category, amount: string, occurredAt: string) {
  return database.db.insert(ledgerEntries).values({
    kind: category === "api_cost" ? "expense" : "income",
    category,
    amountUsd: amount,
    occurredAt: new Date(occurredAt),
    stripeObjectId: `obj_${++objectSequence}`,
  });
}

describe("periodOf", () => {
  it("uses UTC days, ISO weeks from Monday, and calendar months", () => {
    expect(periodOf("daily", "2025-01-15")).toEqual({ start: "2025-01-15", end: "2025-01-15" });
    expect(periodOf("weekly", "2025-01-15")).toEqual({ start: "2025-01-13", end: "2025-01-19" });
    expect(periodOf("weekly", "2025-01-19")).toEqual({ start: "2025-01-13", end: "2025-01-19" });
    expect(periodOf("weekly", "2026-01-01")).toEqual({ start: "2025-12-29", end: "2026-01-04" });
    expect(periodOf("monthly", "2024-02-10")).toEqual({ start: "2024-02-01", end: "2024-02-29" });
    expect(periodOf("monthly", "2025-12-31")).toEqual({ start: "2025-12-01", end: "2025-12-31" });
  });
});

describe("report rollup", () => {
  it("splits entries at UTC day, ISO week, month and year boundaries", async () => {
    await book("subscription", "10.00", "2025-12-31T23:59:59.999Z"); // Wednesday, last instant of 2025
    await book("micro_payment", "1.00", "2026-01-01T00:00:00.000Z"); // Thursday, same ISO week
    await book("api_cost", "0.25", "2026-01-05T00:00:00.000Z"); // Monday: the next week
    await book("micro_payment", "2.00", "2026-03-31T12:00:00Z"); // a week spanning March and April
    await book("micro_payment", "3.00", "2026-04-02T12:00:00Z");

    await rollupReports(database.db);

    expect(await getReport(asAdmin(), "daily", "2025-12-31")).toMatchObject({
      start: "2025-12-31",
      income: usd(10),
      expenses: 0n,
      profit: usd(10),
    });
    expect(await getReport(asAdmin(), "daily", "2026-01-01")).toMatchObject({ income: usd(1) });
    expect(await getReport(asAdmin(), "weekly", "2026-01-02")).toMatchObject({
      start: "2025-12-29",
      end: "2026-01-04",
      income: usd(11),
      expenses: 0n,
      byCategory: {
        subscription: usd(10),
        micro_payment: usd(1),
        refund: 0n,
        dispute: 0n,
        api_cost: 0n,
        payment_fee: 0n,
      },
    });
    expect(await getReport(asAdmin(), "weekly", "2026-01-05")).toMatchObject({
      income: 0n,
      expenses: usd(0.25),
      profit: usd(-0.25),
    });
    expect(await getReport(asAdmin(), "monthly", "2025-12-15")).toMatchObject({
      start: "2025-12-01",
      end: "2025-12-31",
      income: usd(10),
    });
    expect(await getReport(asAdmin(), "monthly", "2026-01-31")).toMatchObject({
      income: usd(1),
      expenses: usd(0.25),
      profit: usd(0.75),
    });
    expect(await getReport(asAdmin(), "weekly", "2026-04-05")).toMatchObject({ start: "2026-03-30", income: usd(5) });
    expect(await getReport(asAdmin(), "monthly", "2026-03-01")).toMatchObject({ income: usd(2) });
    expect(await getReport(asAdmin(), "monthly", "2026-04-30")).toMatchObject({ income: usd(3) });
  });

  it("answers zeros for a period with nothing booked, and says when it was generated", async () => {
    const before = await getReport(asAdmin(), "daily", "2030-06-01");
    expect(before).toMatchObject({ income: 0n, expenses: 0n, profit: 0n, generatedAt: null });

    const { generatedAt } = await rollupReports(database.db);
    const after = await getReport(asAdmin(), "monthly", "2030-06-01");
    expect(after).toMatchObject({ start: "2030-06-01", end: "2030-06-30", income: 0n, expenses: 0n, profit: 0n });
    expect(after.generatedAt!.getTime()).toBeGreaterThanOrEqual(generatedAt.getTime());
  });

  it("nets refunds against income", async () => {
    await book("micro_payment", "5.00", "2026-02-10T10:00:00Z");
    await book("refund", "-2.50", "2026-02-11T10:00:00Z");
    await rollupReports(database.db);

    expect(await getReport(asAdmin(), "monthly", "2026-02-01")).toMatchObject({
      income: usd(2.5),
      byCategory: { micro_payment: usd(5), refund: usd("-2.5") },
    });
  });

  it("updates a past period when a late entry arrives after it was rolled up", async () => {
    await book("subscription", "20.00", "2026-05-05T10:00:00Z");
    await rollupReports(database.db);
    expect(await getReport(asAdmin(), "monthly", "2026-05-01")).toMatchObject({ income: usd(20) });

    // A refund for May booked in July, and a late webhook for May itself.
    await book("refund", "-5.00", "2026-05-20T00:00:00Z");
    await book("subscription", "7.25", "2026-05-31T23:00:00Z");
    const second = await rollupReports(database.db);

    expect(second.rows).toBeGreaterThan(0);
    expect(await getReport(asAdmin(), "monthly", "2026-05-01")).toMatchObject({ income: usd(22.25) });
    expect(await getReport(asAdmin(), "weekly", "2026-05-05")).toMatchObject({ income: usd(20) });
    expect(await getReport(asAdmin(), "daily", "2026-05-31")).toMatchObject({ income: usd(7.25) });
  });

  it("rolls up a writer that commits long after the rollups that ran while it was open", async () => {
    await book("subscription", "1.00", "2026-11-02T10:00:00Z");
    await rollupReports(database.db);

    // A transaction that started an hour ago (held behind a lock, say) and commits only now: its
    // rows carry that start as created_at, far behind the rollups that ran meanwhile.
    const writer = await database.sql.reserve();
    try {
      await writer`begin`;
      await writer`
        insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id, created_at)
        values ('income', 'micro_payment', 42, '2026-11-15T12:00:00Z', 'obj_late_writer', now() - interval '1 hour')`;
      await rollupReports(database.db);
      expect(await getReport(asAdmin(), "monthly", "2026-11-15")).toMatchObject({ income: usd(1) });
      await writer`commit`;
    } finally {
      writer.release();
    }
    await rollupReports(database.db);

    expect(await getReport(asAdmin(), "monthly", "2026-11-15")).toMatchObject({ income: usd(43) });
    expect(await getReport(asAdmin(), "weekly", "2026-11-15")).toMatchObject({ income: usd(42) });
    expect(await getReport(asAdmin(), "daily", "2026-11-15")).toMatchObject({ income: usd(42) });
  });

  it("leaves nothing dirty once rolled up, and recomputes nothing on the next run", async () => {
    await book("subscription", "3.00", "2026-08-02T10:00:00Z");
    expect((await rollupReports(database.db)).rows).toBeGreaterThan(0);
    expect(await database.sql`select day from report_dirty_days`).toHaveLength(0);
    expect((await rollupReports(database.db)).rows).toBe(0);
  });

  it("matches a straight SQL sum of the ledger, to the last digit, for every period", async () => {
    const amounts = ["0.000123", "19.99", "0.000000000001", "-3.333333333333", "1234567.891011121314"];
    for (let i = 0; i < 60; i++) {
      const day = new Date(Date.UTC(2025, 10, 1) + i * 37 * 3_600_000).toISOString();
      await book(
        i % 7 === 0 ? "api_cost" : i % 5 === 0 ? "refund" : "micro_payment",
        amounts[i % amounts.length]!,
        day,
      );
    }
    await rollupReports(database.db);

    const mismatches = await database.sql`
      with expected as (
        select p.period, p.start, l.kind, l.category, sum(l.amount_usd) as amount
        from ledger_entries l
        cross join lateral (values
          ('daily'::report_period, (l.occurred_at at time zone 'UTC')::date),
          ('weekly', date_trunc('week', l.occurred_at at time zone 'UTC')::date),
          ('monthly', date_trunc('month', l.occurred_at at time zone 'UTC')::date)
        ) as p(period, start)
        group by 1, 2, 3, 4
      )
      select * from expected e
      full join report_rollups r
        on r.period = e.period and r.period_start = e.start and r.kind = e.kind and r.category = e.category
      where r.amount_usd is distinct from e.amount`;
    expect(mismatches).toEqual([]);
    expect((await database.sql`select count(*)::int as n from report_rollups`)[0]!.n).toBeGreaterThan(60);
  });

  it("sums 10,000 task costs of $0.000123 to exactly $1.23 in reports and stats", async () => {
    await database.sql`
      with inserted as (
        insert into tasks (status, provider, model, input, output, prompt_tokens, completion_tokens, tokens_used,
                           cost_usd, completed_at)
        select 'completed', 'openai', 'gpt-4o-mini', 'p' || n, 'a', 100, 200, 300, 0.000123,
               timestamptz '2026-07-15 12:00:00+00' + n * interval '1 second'
        from generate_series(1, 10000) as n
        returning id, cost_usd, completed_at
      )
      insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
      select 'expense', 'api_cost', cost_usd, completed_at, id from inserted`;
    await rollupReports(database.db);

    const report = await getReport(asAdmin(), "monthly", "2026-07-01");
    expect(report).toMatchObject({
      expenses: usd(1.23),
      profit: usd(-1.23),
      byCategory: { api_cost: usd("1.23") },
    });
    const stats = await getStats(asAdmin());
    expect(stats.tasks).toMatchObject({ total: 10_000, completed: 10_000, tokens: 3_000_000, cost: usd("1.23") });
    expect(stats.financials).toEqual({ currency: "usd", income: 0n, expenses: usd("1.23"), profit: usd(-1.23) });
    // What adding the costs as floats would have given instead.
    expect(Array.from({ length: 10_000 }, () => 0.000123).reduce((a, b) => a + b, 0)).not.toBe(1.23);
  });

  it("drops a group whose rows are gone, from its day, week and month, incrementally or in full", async () => {
    await book("micro_payment", "5.00", "2026-06-10T10:00:00Z");
    await book("refund", "-2.00", "2026-06-10T11:00:00Z");
    await rollupReports(database.db);
    await database.sql`delete from ledger_entries where category = 'refund'`;
    const refundRows = () => database.sql`select period from report_rollups where category = 'refund'`;
    const periods = ["daily", "weekly", "monthly"] as const;

    await rollupReports(database.db);
    expect(await refundRows()).toEqual([]);
    for (const period of periods) {
      expect(await getReport(asAdmin(), period, "2026-06-10")).toMatchObject({ income: usd(5) });
    }
    await database.sql`insert into report_rollups (period, period_start, kind, category, currency, amount_usd, generated_at)
      values ('weekly', '2026-06-08', 'income', 'refund', 'usd', -2, now())`;
    expect((await rollupReports(database.db, { full: true })).rows).toBe(3);
    expect(await refundRows()).toEqual([]);
  });

  it("sums api_cost by its task's provider and model, copied onto the row by whichever writer", async () => {
    const [openai, mistral] = await database.sql<{ id: string }[]>`
      insert into tasks (status, provider, model, input, tokens_used, cost_usd, completed_at)
      values ('completed', 'openai', 'gpt-4o-mini', 'a', 10, 0.25, '2026-09-01T10:00:00Z'),
             ('completed', 'mistral', 'mistral-small-latest', 'b', 20, 0.5, '2026-09-01T11:00:00Z')
      returning id`;
    // Without provider and model: the trigger of migration 0009 copies them from the task.
    await database.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
      values ('expense', 'api_cost', 0.25, '2026-09-01T10:00:00Z', ${openai!.id}),
             ('expense', 'api_cost', 0.5, '2026-09-01T11:00:00Z', ${mistral!.id})`;
    expect(await database.sql`select provider, model from ledger_entries order by id`).toEqual([
      { provider: "openai", model: "gpt-4o-mini" },
      { provider: "mistral", model: "mistral-small-latest" },
    ]);
    // A load with triggers off must name them itself.
    await expect(
      database.sql.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
          values ('expense', 'api_cost', 1, now(), ${openai!.id})`;
      }),
    ).rejects.toThrow(/ledger_entries_api_cost_model_check/);

    for (const full of [false, true]) {
      await rollupReports(database.db, { full });
      const report = await getReport(asAdmin(), "monthly", "2026-09-01", "model");
      expect(report.groups!.map((group) => [group.key, group.tasks, group.apiCost])).toEqual([
        ["mistral-small-latest", 1, usd("0.5")],
        ["gpt-4o-mini", 1, usd("0.25")],
      ]);
    }
  });

  it("rebuilds every period on a full rollup", async () => {
    await book("micro_payment", "4.00", "2024-03-03T03:03:03Z");
    await rollupReports(database.db);
    await database.sql`delete from report_rollups`;

    expect((await rollupReports(database.db, { full: true })).rows).toBe(3);
    expect(await getReport(asAdmin(), "weekly", "2024-03-03")).toMatchObject({ start: "2024-02-26", income: usd(4) });
  });
});

describe("stats", () => {
  it("counts tasks by status, users, active subscriptions and ledger totals", async () => {
    await database.sql`insert into users (identifier) values ('a'), ('b'), ('c')`;
    await database.sql`insert into tasks (provider, model, input) select 'openai', 'gpt-4o-mini', 'x' from generate_series(1, 5)`;
    await database.sql`update tasks set status = 'processing' where id in (select id from tasks order by id limit 3)`;
    await database.sql`update tasks set status = 'failed' where id in (select id from tasks order by id limit 1)`;
    await database.sql`update tasks set status = 'completed', tokens_used = 10, cost_usd = 0.5 where id in (select id from tasks order by id offset 1 limit 2)`;
    await database.sql`insert into subscriptions (id, status, state_at) values ('sub_1', 'active', now()), ('sub_2', 'canceled', now()), ('sub_3', 'trialing', now())`;
    await book("subscription", "30.00", "2026-01-01T00:00:00Z");
    await book("refund", "-0.01", "2026-01-02T00:00:00Z");
    await book("api_cost", "1.00", "2026-01-02T00:00:00Z");

    expect(await getStats(asAdmin())).toEqual({
      tasks: { total: 5, pending: 2, processing: 0, completed: 2, failed: 1, canceled: 0, tokens: 20, cost: usd(1) },
      users: { total: 3, subscriptions: 2 },
      financials: { currency: "usd", income: usd("29.99"), expenses: usd(1), profit: usd(28.99) },
    });
  });

  it("stays equal to a recount under concurrent writers, deletes, and a bulk load with triggers off", async () => {
    // Sixteen connections writing at once: each connection's trigger writes its own shard row.
    const writers = createDatabase(env.databaseUrl, { max: 16 });
    try {
      await Promise.all(
        Array.from({ length: 16 }, (_, writer) =>
          writers.sql.begin(async (tx) => {
            await tx`insert into users (identifier) values (${`writer-${writer}`})`;
            for (let task = 0; task < 20; task++) {
              const [row] =
                await tx`insert into tasks (provider, model, input) values ('openai', 'm', 'x') returning id`;
              await tx`update tasks set status = 'processing', attempts = attempts + 1 where id = ${row!.id}`;
              if (task % 5 === 0) {
                await tx`update tasks set status = 'failed', error = 'boom' where id = ${row!.id}`;
                continue;
              }
              await tx`update tasks set status = 'completed', tokens_used = 7, cost_usd = 0.000001 where id = ${row!.id}`;
              await tx`insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
                values ('expense', 'api_cost', 0.000001, now(), ${row!.id})`;
            }
          }),
        ),
      );
    } finally {
      await writers.close();
    }
    await database.sql`delete from ledger_entries where task_id in (select id from tasks order by id limit 4)`;
    await database.sql`delete from tasks where id in (select id from tasks order by id limit 4)`;
    const live = await getStats(asAdmin());
    const [counted] = await database.sql`
      select count(*)::int as total, count(*) filter (where status = 'completed')::int as completed,
        count(*) filter (where status = 'failed')::int as failed,
        coalesce(sum(tokens_used) filter (where status = 'completed'), 0)::int as tokens,
        (select sum(amount_usd)::text from ledger_entries) as expenses
      from tasks`;
    // 320 tasks were written, 64 of them failed; four were deleted.
    expect(counted).toMatchObject({ total: 316 });
    expect(live).toEqual({
      tasks: {
        total: 316,
        pending: 0,
        processing: 0,
        completed: counted!.completed,
        failed: counted!.failed,
        canceled: 0,
        tokens: counted!.tokens,
        cost: usd(counted!.expenses),
      },
      users: { total: 16, subscriptions: 0 },
      financials: {
        currency: "usd",
        income: 0n,
        expenses: usd(counted!.expenses),
        profit: -usd(counted!.expenses),
      },
    });

    // What the benchmark does: rows loaded with triggers off, then recounted from the tables.
    await database.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`insert into tasks (provider, model, input, status, tokens_used, cost_usd)
        select 'openai', 'm', 'bulk', 'completed', 3, 0.5 from generate_series(1, 1000)`;
    });
    expect((await getStats(asAdmin())).tasks.total).toBe(316);
    await database.sql`select recount_stats()`;
    expect((await getStats(asAdmin())).tasks).toEqual({
      ...live.tasks,
      total: 1316,
      completed: live.tasks.completed + 1000,
      tokens: live.tasks.tokens + 3000,
      cost: live.tasks.cost + usd(500),
    });
  });

  it("counts statements that write many rows at once, as a recount would", async () => {
    const stats = () => getStats(asAdmin());
    await database.sql`insert into users (identifier) select 'many-' || g from generate_series(1, 50) g`;
    await database.sql`insert into tasks (provider, model, input) select 'openai', 'm', 'x' from generate_series(1, 3000)`;
    await database.sql`update tasks set status = 'processing' where id % 3 = 0`;
    await database.sql`update tasks set status = 'completed', tokens_used = 61, cost_usd = 0.0000276 where id % 6 = 0`;
    await database.sql`update tasks set status = 'failed', error = 'boom' where id % 5 = 0 and status = 'pending'`;
    await database.sql`update tasks set attempts = attempts + 1`; // changes nothing counted
    await database.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, task_id)
      select 'expense', 'api_cost', cost_usd, now(), id from tasks where status = 'completed'`;
    await database.sql`
      insert into ledger_entries (kind, category, amount_usd, occurred_at, stripe_object_id)
      select 'income', 'micro_payment', 1.25, now(), 'many_' || g from generate_series(1, 40) g`;
    await database.sql`update ledger_entries set amount_usd = 2.50 where kind = 'income' and stripe_object_id like 'many_1%'`;
    await database.sql`delete from ledger_entries where task_id % 12 = 0`;
    await database.sql`delete from tasks where id % 12 = 0`;
    await database.sql`delete from users where identifier like 'many-1%'`;
    const live = await stats();
    expect(live.tasks.total).toBe(2750);

    await database.sql`select recount_stats()`;
    expect(await stats()).toEqual(live);
  });

  it("reads the same before and after the counted changes are folded into the counters", async () => {
    const stats = () => getStats(asAdmin());
    const waiting = async () => {
      const [row] = await database.sql<{ rows: number }[]>`select count(*)::int as rows from stats_deltas`;
      return row!.rows;
    };
    await database.sql`insert into users (identifier) values ('fold-a'), ('fold-b')`;
    await database.sql`insert into tasks (provider, model, input) select 'openai', 'm', 'x' from generate_series(1, 30)`;
    await database.sql`update tasks set status = 'completed', tokens_used = 9, cost_usd = 0.000123 where id % 3 = 0`;
    await database.sql`update tasks set status = 'canceled' where id % 3 = 1`;
    // Storing and claiming tasks is not counted: only users and finished tasks wait to be folded.
    await database.sql`update tasks set status = 'processing' where id % 3 = 2`;
    expect(await waiting()).toBe(2 + 10 + 10);
    const before = await stats();
    expect(before.tasks).toEqual({
      total: 30,
      pending: 0,
      processing: 10,
      completed: 10,
      failed: 0,
      canceled: 10,
      tokens: 90,
      cost: usd("0.00123"),
    });
    expect(before.users.total).toBe(2);

    await foldStatsDeltas(database.db);
    expect(await waiting()).toBe(0);
    expect(await stats()).toEqual(before);
  });
});
