import type { Database, Transaction } from "@aitasks/db";
import { type SQL, sql } from "drizzle-orm";

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
 * and refunds reach back in time), in one set-based statement, and upserts them. The dirty days it
 * sees are taken and summed under one snapshot, so a writer that commits meanwhile, however late,
 * leaves its days for the next run. `full` recomputes every period. One rollup runs at a time,
 * whatever the number of worker processes.
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
    // switch one to a generic plan. This one must be planned for its actual `full`: generic, the
    // branch that reads every ledger day is not pruned when it is false.
    await tx.execute(sql`set local plan_cache_mode = force_custom_plan`);
    // The dirty days come from a DELETE … RETURNING, whose row count the planner cannot know: it
    // guesses thousands, costs the statement past `jit_above_cost`, and JIT-compiles it. That took
    // 0.3 s for a statement that runs in milliseconds (docs/performance.md).
    await tx.execute(sql`set local jit = off`);

    // The days to recompute, each once (the dirty-day table holds a row per writing statement).
    const days = await tx.execute<{ day: string }>(sql`
      with taken as (delete from report_dirty_days returning day)
      select distinct day::text as day from taken
      union
      select distinct (occurred_at at time zone 'UTC')::date::text from ledger_entries where ${full}::boolean
      union
      select distinct (completed_at at time zone 'UTC')::date::text from tasks
      where ${full}::boolean and status = 'completed'`);
    const touchedDays = sql`select unnest(${`{${days.map((row) => row.day).join(",")}}`}::date[]) as day`;
    const touchedPeriods = sql`
      select 'daily'::report_period as period, day as period_start, day + 1 as period_end from touched_days
      union
      select 'weekly', date_trunc('week', day)::date, date_trunc('week', day)::date + 7 from touched_days
      union
      select 'monthly', date_trunc('month', day)::date, (date_trunc('month', day) + interval '1 month')::date
      from touched_days`;

    const written = await tx.execute(sql`
      with touched_days as (${touchedDays}), touched as (${touchedPeriods})
      insert into report_rollups (period, period_start, kind, category, currency, amount_usd, generated_at)
      select t.period, t.period_start, l.kind, l.category, l.currency, sum(l.amount_usd), now()
      from touched t
      join ledger_entries l
        on l.occurred_at >= t.period_start::timestamp at time zone 'UTC'
       and l.occurred_at < t.period_end::timestamp at time zone 'UTC'
      group by t.period, t.period_start, l.kind, l.category, l.currency
      on conflict (period, period_start, kind, category, currency)
      do update set amount_usd = excluded.amount_usd, generated_at = excluded.generated_at
      returning 1`);
    await rollupUsage(tx, touchedDays, touchedPeriods, full);

    const [finished] = await tx.execute<{ generated_at: string }>(sql`
      insert into report_rollup_state (id, last_started_at, last_finished_at) values (1, now(), clock_timestamp())
      on conflict (id) do update set last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at
      returning now()::text as generated_at`);
    return { rows: written.length, generatedAt: new Date(finished!.generated_at) };
  });
}

/**
 * The usage of the touched days, per provider and model: the tasks completed each day with
 * their tokens and charges, and the day's `api_cost` of their provider calls (every run's). A task's
 * completion and its last call's cost are one statement, so the cost's ledger row marks the
 * completion's day dirty. Weeks and months are then summed from the days.
 */
async function rollupUsage(tx: Transaction, touchedDays: SQL, touchedPeriods: SQL, full: boolean) {
  const upsert = sql`
    on conflict (period, period_start, provider, model) do update set tasks = excluded.tasks,
      tokens = excluded.tokens, api_cost_usd = excluded.api_cost_usd, charged_usd = excluded.charged_usd,
      generated_at = excluded.generated_at`;
  const dayOf = (column: SQL) => sql`(${column} at time zone 'UTC')::date`;
  const within = (column: SQL) =>
    sql`${column} >= d.day::timestamp at time zone 'UTC' and ${column} < (d.day + 1)::timestamp at time zone 'UTC'`;
  // The facts of each touched day, found by their indexes on time; a full rebuild reads every
  // day at once instead, in one pass over each table.
  const facts = full
    ? sql`
      select ${dayOf(sql`t.completed_at`)} as day, t.provider, t.model, 1 as tasks,
        coalesce(t.tokens_used, 0) as tokens, 0::numeric as api_cost, coalesce(t.charged_usd, 0) as charged
      from tasks t where t.status = 'completed'
      union all
      select ${dayOf(sql`l.occurred_at`)}, t.provider, t.model, 0, 0, l.amount_usd, 0
      from ledger_entries l join tasks t on t.id = l.task_id
      where l.category = 'api_cost' and l.currency = 'usd'`
    : sql`
      select d.day, t.provider, t.model, 1 as tasks, coalesce(t.tokens_used, 0) as tokens,
        0::numeric as api_cost, coalesce(t.charged_usd, 0) as charged
      from touched_days d join tasks t on t.status = 'completed' and ${within(sql`t.completed_at`)}
      union all
      select d.day, t.provider, t.model, 0, 0, l.amount_usd, 0
      from touched_days d
      join ledger_entries l on l.category = 'api_cost' and l.currency = 'usd' and ${within(sql`l.occurred_at`)}
      join tasks t on t.id = l.task_id`;
  await tx.execute(sql`
    with touched_days as (${touchedDays})
    insert into usage_rollups (period, period_start, provider, model, tasks, tokens, api_cost_usd, charged_usd,
                               generated_at)
    select 'daily', day, provider, model, sum(tasks), sum(tokens), sum(api_cost), sum(charged), now()
    from (${facts}) as facts
    group by day, provider, model
    ${upsert}`);
  await tx.execute(sql`
    with touched_days as (${touchedDays}), touched as (${touchedPeriods})
    insert into usage_rollups (period, period_start, provider, model, tasks, tokens, api_cost_usd, charged_usd,
                               generated_at)
    select t.period, t.period_start, u.provider, u.model, sum(u.tasks), sum(u.tokens),
      sum(u.api_cost_usd), sum(u.charged_usd), now()
    from touched t
    join usage_rollups u on u.period = 'daily' and u.period_start >= t.period_start and u.period_start < t.period_end
    where t.period <> 'daily'
    group by t.period, t.period_start, u.provider, u.model
    ${upsert}`);
}
