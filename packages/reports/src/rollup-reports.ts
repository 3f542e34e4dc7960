import type { Database } from "@aitasks/db";
import { sql } from "drizzle-orm";

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

    const written = await tx.execute(sql`
      with taken as (
        delete from report_dirty_days returning day
      ), touched_days as (
        select day from taken
        union
        select (occurred_at at time zone 'UTC')::date from ledger_entries where ${full}::boolean
      ), touched as (
        select 'daily'::report_period as period, day as period_start, day + 1 as period_end from touched_days
        union
        select 'weekly', date_trunc('week', day)::date, date_trunc('week', day)::date + 7 from touched_days
        union
        select 'monthly', date_trunc('month', day)::date, (date_trunc('month', day) + interval '1 month')::date
        from touched_days
      )
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

    const [finished] = await tx.execute<{ generated_at: string }>(sql`
      insert into report_rollup_state (id, last_started_at, last_finished_at) values (1, now(), clock_timestamp())
      on conflict (id) do update set last_started_at = excluded.last_started_at, last_finished_at = excluded.last_finished_at
      returning now()::text as generated_at`);
    return { rows: written.length, generatedAt: new Date(finished!.generated_at) };
  });
}
