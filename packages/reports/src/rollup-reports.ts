import type { Database, Transaction } from "@aitasks/db";
import { type SQL, sql } from "drizzle-orm";
import { foldStatsDeltas } from "./get-stats.js";

// Any constant shared by every process; it names the lock that keeps rollups one at a time.
const ROLLUP_LOCK_ID = 727_274_002;

export interface RollupResult {
  /** Rollup rows written (one per period, kind and category touched). */
  rows: number;
  generatedAt: Date;
}

/**
 * Recomputes the daily, weekly (ISO, from Monday) and monthly sums, per category and currency, of every period with a dirty
 * day (`report_dirty_days`: days whose ledger rows changed since the last rollup; late webhooks
 * and refunds reach back in time), and the usage of the same periods. The dirty days it sees are
 * taken and summed in one transaction, so a writer that commits meanwhile, however late, leaves its
 * days for the next run. `full` recomputes every period. One rollup runs at a time, whatever the
 * number of worker processes.
 *
 * Each period's rows are replaced, not upserted, so a group whose rows are gone goes too. Days are
 * summed from the rows (by their indexes on time; a full rebuild in one pass over each table), weeks
 * and months from the days: exact (numeric sums), and the cost of a run follows its dirty days' rows,
 * not their months'.
 */
export async function rollupReports(db: Database, { full = false }: { full?: boolean } = {}): Promise<RollupResult> {
  return db.transaction(async (tx) => {
    // A full rollup of a large ledger may take longer than our sessions' limits (packages/db), and
    // may wait for a scheduled one; the scheduled ones stay bounded (one that times out is retried
    // by the next run, and leaves the dirty days where they are).
    if (full) {
      await tx.execute(sql`set local statement_timeout = 0`);
      await tx.execute(sql`set local lock_timeout = 0`);
    }
    await tx.execute(sql`select pg_advisory_xact_lock(${ROLLUP_LOCK_ID})`);
    // Statements are prepared once per connection (packages/db), and after five runs Postgres may
    // switch one to a generic plan, which knows neither how many days are touched nor where they fall.
    await tx.execute(sql`set local plan_cache_mode = force_custom_plan`);
    // The dirty days come from a DELETE … RETURNING, whose row count the planner cannot know: it
    // guesses thousands, costs the statement past `jit_above_cost`, and JIT-compiles it. That took
    // 0.3 s for a statement that runs in milliseconds (docs/performance.md).
    await tx.execute(sql`set local jit = off`);
    // The planner cannot know how few groups a day's rows make (a day, a provider, a model), guesses
    // one in ten rows, and with the default 4 MB would sort the day's rows on disk to group them
    // instead of hashing them: three times slower for a busy day (docs/performance.md).
    await tx.execute(sql`set local work_mem = '64MB'`);

    // The days to recompute, each once (the dirty-day table holds a row per writing statement).
    const taken = await tx.execute<{ day: string }>(sql`
      with taken as (delete from report_dirty_days returning day)
      select distinct day::text as day from taken`);
    const days = full ? everyDay : touched(taken.map((row) => row.day));
    const rows = await rollupMoney(tx, days);
    await rollupUsage(tx, days);

    const [finished] = await tx.execute<{ generated_at: string }>(sql`
      insert into report_rollup_state (id, last_started_at, last_finished_at) values (1, now(), clock_timestamp())
      on conflict (id) do update set last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at
      returning now()::text as generated_at`);
    return { rows, generatedAt: new Date(finished!.generated_at) };
  });
}

/** What a rollup recomputes: the rows of some days, and the periods (day, week, month) they fall in. */
interface Days {
  /** A FROM item of the days' rows of `table`, as `alias`, by their `column` of time. */
  rowsOf(table: SQL, alias: SQL, column: SQL): SQL;
  /** Whether the period `(period, start)` is one of the days, or the week or month of one. */
  hasPeriod(period: SQL, start: SQL): SQL;
}

const everyDay: Days = {
  rowsOf: (table, alias) => sql`${table} as ${alias}`,
  hasPeriod: () => sql`true`,
};

function touched(days: string[]): Days {
  const list = sql`unnest(${`{${days.join(",")}}`}::date[]) as d (day)`;
  return {
    // A half-open range per day, so that each day's rows are found by the index on their time.
    rowsOf: (table, alias, column) => sql`${list} join ${table} as ${alias}
      on ${column} >= d.day::timestamp at time zone 'UTC' and ${column} < (d.day + 1)::timestamp at time zone 'UTC'`,
    hasPeriod: (period, start) => sql`(${period}, ${start}) in (
      select 'daily'::report_period, d.day from ${list}
      union select 'weekly', date_trunc('week', d.day)::date from ${list}
      union select 'monthly', date_trunc('month', d.day)::date from ${list})`,
  };
}

const dayOf = (column: SQL) => sql`(${column} at time zone 'UTC')::date`;
// The week and the month of a daily rollup row `r`, to sum the days into.
const weekAndMonth = sql`cross join lateral (values ('weekly'::report_period, date_trunc('week', r.period_start)::date),
  ('monthly', date_trunc('month', r.period_start)::date)) as p (period, period_start)`;

async function rollupMoney(tx: Transaction, days: Days): Promise<number> {
  await tx.execute(sql`delete from report_rollups r where ${days.hasPeriod(sql`r.period`, sql`r.period_start`)}`);
  const daily = await tx.execute(sql`
    insert into report_rollups (period, period_start, kind, category, currency, amount_usd, generated_at)
    select 'daily', ${dayOf(sql`l.occurred_at`)}, l.kind, l.category, l.currency, sum(l.amount_usd), now()
    from ${days.rowsOf(sql`ledger_entries`, sql`l`, sql`l.occurred_at`)}
    group by 2, l.kind, l.category, l.currency
    returning 1`);
  const longer = await tx.execute(sql`
    insert into report_rollups (period, period_start, kind, category, currency, amount_usd, generated_at)
    select p.period, p.period_start, r.kind, r.category, r.currency, sum(r.amount_usd), now()
    from report_rollups r ${weekAndMonth}
    where r.period = 'daily' and ${days.hasPeriod(sql`p.period`, sql`p.period_start`)}
    group by p.period, p.period_start, r.kind, r.category, r.currency
    returning 1`);
  return daily.length + longer.length;
}

/**
 * The usage of the days, per provider and model: the tasks completed each day with their tokens
 * and charges, and the day's `api_cost` of their provider calls (every run's), which carry their
 * task's provider and model (migration 0009: no join to the tasks). A task's completion and its last
 * call's cost are one statement, so the cost's ledger row marks the completion's day dirty.
 */
async function rollupUsage(tx: Transaction, days: Days) {
  const columns = sql`(period, period_start, provider, model, tasks, tokens, api_cost_usd, charged_usd, generated_at)`;
  await tx.execute(sql`delete from usage_rollups r where ${days.hasPeriod(sql`r.period`, sql`r.period_start`)}`);
  await tx.execute(sql`
    insert into usage_rollups ${columns}
    select 'daily', day, provider, model, sum(tasks), sum(tokens), sum(api_cost), sum(charged), now()
    from (
      select ${dayOf(sql`t.completed_at`)} as day, t.provider, t.model, 1 as tasks,
        coalesce(t.tokens_used, 0) as tokens, 0::numeric as api_cost, coalesce(t.charged_usd, 0) as charged
      from ${days.rowsOf(sql`tasks`, sql`t`, sql`t.completed_at`)}
      where t.status = 'completed'
      union all
      select ${dayOf(sql`l.occurred_at`)}, l.provider, l.model, 0, 0, l.amount_usd, 0
      from ${days.rowsOf(sql`ledger_entries`, sql`l`, sql`l.occurred_at`)}
      where l.category = 'api_cost' and l.currency = 'usd' and l.task_id is not null
    ) as facts
    group by day, provider, model`);
  await tx.execute(sql`
    insert into usage_rollups ${columns}
    select p.period, p.period_start, r.provider, r.model, sum(r.tasks), sum(r.tokens), sum(r.api_cost_usd),
      sum(r.charged_usd), now()
    from usage_rollups r ${weekAndMonth}
    where r.period = 'daily' and ${days.hasPeriod(sql`p.period`, sql`p.period_start`)}
    group by p.period, p.period_start, r.provider, r.model`);
}

/**
 * The scheduled rollup job, also run by `npm run reports:rollup`: the reports, then the stats'
 * deltas folded into their counters (the figures read the same before and after).
 */
export async function rollupReportsAndStats(db: Database, options: { full?: boolean } = {}): Promise<RollupResult> {
  const result = await rollupReports(db, options);
  await foldStatsDeltas(db);
  return result;
}
