import { formatAmount } from "@aitasks/db";
import type { RunningProcess } from "@aitasks/testing";
import type { Side } from "./stack.js";
import { sleep } from "./stats.js";

/** The prompt every benchmark task carries. */
export const PROMPT = "Summarise in one sentence why a queue helps a web service.";
export const SUBMIT_BODY = JSON.stringify({ prompt: PROMPT });

/**
 * What the fake provider charges for one task with PROMPT, in pico-dollars: it reports
 * `prompt.length` input and `2 × length + 1` output tokens, and gpt-4o-mini costs $0.15 / $0.60
 * per million (150,000 / 600,000 pico-dollars a token).
 */
export const COST_PICO_PER_TASK = BigInt(PROMPT.length) * 150_000n + BigInt(2 * PROMPT.length + 1) * 600_000n;

export const usdText = (pico: bigint) => `${pico / 10n ** 12n}.${(pico % 10n ** 12n).toString().padStart(12, "0")}`;

const TABLES = {
  ours: { tasks: "tasks", ledger: "ledger_entries", ledgerFilter: "category = 'api_cost'" },
  reference: { tasks: "ref_tasks", ledger: "ref_ledger", ledgerFilter: "true" },
} as const;

// biome-ignore lint/suspicious/noExplicitAny: postgres.js's Sql has many type parameters; any instance will do.
type Sql = import("postgres").Sql<any>;

export async function maxTaskId(sql: Sql, side: Side): Promise<number> {
  const [row] = await sql.unsafe(`select coalesce(max(id), 0)::bigint::text as id from ${TABLES[side].tasks}`);
  return Number(row!.id);
}

export async function countCompleted(sql: Sql, side: Side, afterId: number): Promise<number> {
  const [row] = await sql.unsafe(
    `select count(*)::int as n from ${TABLES[side].tasks} where id > $1 and status = 'completed'`,
    [afterId],
  );
  return row!.n as number;
}

/** Waits until `expected` tasks with an id above `afterId` are completed; fails if a process dies or time runs out. */
export async function waitCompleted(
  sql: Sql,
  side: Side,
  afterId: number,
  expected: number,
  { timeoutMs, processes = [] }: { timeoutMs: number; processes?: RunningProcess[] },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let done = 0;
  for (;;) {
    done = await countCompleted(sql, side, afterId);
    if (done >= expected) return;
    const dead = processes.find((proc) => !proc.alive());
    if (dead) throw new Error(`${dead.name} died: ${dead.output().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${side}: only ${done} of ${expected} tasks completed in time`);
    await sleep(200);
  }
}

/** Seconds from the first task's creation to the last completion, among tasks with an id above `afterId`. */
export async function pipelineSeconds(sql: Sql, side: Side, afterId: number): Promise<number> {
  const [row] = await sql.unsafe(
    `select extract(epoch from max(completed_at) - min(created_at))::float8 as s from ${TABLES[side].tasks} where id > $1`,
    [afterId],
  );
  return row!.s as number;
}

/**
 * Steady-state completions per second: completions between the 10th and the 90th percentile of
 * completion times, over that span, so worker start-up and the last stragglers do not count.
 */
export async function steadyRate(sql: Sql, side: Side, afterId: number): Promise<number> {
  const rows = await sql.unsafe(
    `select (extract(epoch from completed_at) * 1000)::float8 as t from ${TABLES[side].tasks}
     where id > $1 and completed_at is not null order by completed_at`,
    [afterId],
  );
  const times = rows.map((row) => row.t as number);
  const first = Math.floor(times.length * 0.1);
  const last = Math.ceil(times.length * 0.9) - 1;
  if (last <= first) return Number.NaN;
  return ((last - first) * 1000) / (times[last]! - times[first]!);
}

export interface RoundCheck {
  ok: boolean;
  detail: string;
}

/**
 * Every task with an id above `afterId` completed exactly once: `expected` tasks, all completed,
 * one ledger row each, the ledger sum exact to the pico-dollar, and one provider call each.
 */
export async function checkRound(
  sql: Sql,
  side: Side,
  afterId: number,
  expected: number,
  providerCalls: number,
): Promise<RoundCheck> {
  const t = TABLES[side];
  const [row] = await sql.unsafe(
    `select count(*)::int as tasks, count(*) filter (where status = 'completed')::int as completed,
       (select count(*)::int from ${t.ledger} where task_id > $1 and ${t.ledgerFilter}) as ledger_rows,
       (select count(distinct task_id)::int from ${t.ledger} where task_id > $1 and ${t.ledgerFilter}) as ledger_tasks,
       (select coalesce(sum(amount_usd), 0)::numeric(30, 12)::text from ${t.ledger} where task_id > $1 and ${t.ledgerFilter}) as ledger_sum
     from ${t.tasks} where id > $1`,
    [afterId],
  );
  const expectedSum = formatAmount(COST_PICO_PER_TASK * BigInt(expected));
  const problems: string[] = [];
  if (row!.tasks !== expected) problems.push(`${row!.tasks} tasks stored, ${expected} accepted`);
  if (row!.completed !== expected) problems.push(`${row!.completed} of ${expected} completed`);
  if (row!.ledger_rows !== expected || row!.ledger_tasks !== expected) {
    problems.push(`${row!.ledger_rows} ledger rows for ${row!.ledger_tasks} tasks`);
  }
  if (row!.ledger_sum !== expectedSum) problems.push(`ledger sum ${row!.ledger_sum}, expected ${expectedSum}`);
  if (providerCalls !== expected) problems.push(`${providerCalls} provider calls for ${expected} tasks`);
  return {
    ok: problems.length === 0,
    detail:
      problems.length === 0
        ? `${side}: ${expected} tasks completed once each, ledger sum ${expectedSum} exact`
        : `${side}: ${problems.join("; ")}`,
  };
}

/**
 * Prepaid billing settled exactly: every task with an id above `afterId` was accepted with a hold
 * and charged COST_PICO_PER_TASK (the price at markup 1), booked once as a `task` credit entry of
 * that amount; and for each user in `granted` (identifier → USD granted over the API), nothing is
 * held any more and the balance is the grant minus the charges of all the user's tasks, in
 * `numeric`, to the pico-dollar. Call it once every task has finished.
 */
export async function checkCredits(
  sql: Sql,
  afterId: number,
  expected: number,
  granted: Record<string, string>,
): Promise<RoundCheck> {
  const cost = formatAmount(COST_PICO_PER_TASK);
  const [row] = await sql.unsafe(
    `select count(*)::int as tasks,
       count(*) filter (where hold_usd is null or hold_usd < $2::numeric)::int as without_hold,
       count(*) filter (where charged_usd is distinct from $2::numeric)::int as wrongly_charged,
       (select count(*)::int from credit_entries e join tasks t on t.id = e.task_id
          where t.id > $1 and e.source = 'task' and e.source_key = t.id::text and e.amount = -t.charged_usd) as entries,
       (select count(*)::int from credit_entries e where e.task_id > $1 and e.source = 'task') as all_entries
     from tasks where id > $1`,
    [afterId, cost],
  );
  const identifiers = Object.keys(granted);
  const balances = await sql.unsafe(
    `select u.identifier, b.balance::text as balance, b.held::text as held,
       b.balance = g.amount::numeric
         - coalesce((select sum(t.charged_usd) from tasks t where t.user_id = u.id), 0) as exact
     from unnest($1::text[], $2::text[]) as g (identifier, amount)
       join users u on u.identifier = g.identifier
       left join credit_balances b on b.user_id = u.id`,
    [identifiers, Object.values(granted)],
  );
  const problems: string[] = [];
  if (row!.tasks !== expected) problems.push(`${row!.tasks} tasks stored, ${expected} accepted`);
  if (row!.without_hold > 0) problems.push(`${row!.without_hold} tasks without their hold`);
  if (row!.wrongly_charged > 0) problems.push(`${row!.wrongly_charged} tasks not charged ${cost}`);
  if (row!.entries !== expected || row!.all_entries !== expected) {
    problems.push(`${row!.entries} matching charge entries (${row!.all_entries} in all) for ${expected} tasks`);
  }
  if (balances.length !== identifiers.length) problems.push(`${balances.length} of ${identifiers.length} users found`);
  for (const balance of balances) {
    if (balance.held !== "0.000000000000") problems.push(`${balance.identifier} still holds ${balance.held}`);
    if (balance.exact !== true) {
      problems.push(
        `${balance.identifier}: balance ${balance.balance} is not ${granted[balance.identifier]} − its charges`,
      );
    }
  }
  return {
    ok: problems.length === 0,
    detail:
      problems.length === 0
        ? `prepaid: ${expected} tasks held and charged ${cost} each, one entry each; ${identifiers.length} users hold 0, balance = grant − charges exactly`
        : `prepaid: ${problems.join("; ")}`,
  };
}
