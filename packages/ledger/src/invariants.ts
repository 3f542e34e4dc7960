import type { Executor } from "@aitasks/db";
import { type SQL, sql } from "drizzle-orm";

/**
 * The rules every state of the books obeys, whatever happened before it (SPEC "Money that
 * converges"), each a plain SQL query that returns one readable sentence per violation. They hold
 * between any two committed transactions: each rule's figures are written by the same transaction
 * (a trigger, or one statement), so the check may run while other processes work. Tests run
 * them after every scenario (createTestApp's and startTestWorker's `close()`).
 */
const MONEY_INVARIANTS = [
  /** Each user's credit balance is the sum of its credit entries. */
  "credit-balances",
  /** Each user's `held` is the sum of the holds of its unfinished (pending, processing) tasks. */
  "credit-holds",
  /** One charge per completed prepaid task, never above its hold; failed and canceled tasks none. */
  "task-charges",
  /** What a task spends of its key's budget: its sale price, never above its key hold, once completed; else nothing. */
  "key-spend",
  /** At most one `api_cost` per run of a task; a completed task has the one of the answer it completed with. */
  "api-costs",
  /** The rollups (`report_rollups`, `usage_rollups`) equal the ledger for every period no dirty day awaits. */
  "reports",
  /** The stats' counters equal the ledger and the tasks. */
  "stats",
  /** What a refund or dispute of a charge moved is booked to its payment's user, once that user is known. */
  "stripe-attribution",
  /** Per payment, the credit taken back by its refunds and disputes never exceeds what it granted. */
  "stripe-take-backs",
  /** Per charge, refunds never exceed the payment, and nothing is left booked in another currency than its payment's. */
  "stripe-charges",
] as const;
export type MoneyInvariant = (typeof MONEY_INVARIANTS)[number];

const user = (id: SQL) => sql`(select format('user %s (%s)', u.id, u.identifier) from users u where u.id = ${id})`;
// Amounts as text without the numeric's trailing zeros: `-19.99`, not `-19.990000000000`.
const amount = (value: SQL) => sql`trim_scale(coalesce(${value}, 0))::text`;
const UNFINISHED = sql`('pending', 'processing')`;
const PAYMENTS = sql`('subscription', 'micro_payment')`;
const GIVEN_BACK = sql`('refund', 'dispute')`;

const queries: Record<MoneyInvariant, SQL> = {
  "key-spend": sql`
    select format('task %s (%s, key %s): spent %s of its key''s budget, holding %s', t.id, t.status, t.api_key_id,
      ${amount(sql`t.key_spent_usd`)}, ${amount(sql`t.key_hold_usd`)}) as violation
    from tasks t
    where (t.key_spent_usd is not null) <> (t.status = 'completed' and t.api_key_id is not null)
      or t.key_spent_usd < 0 or t.key_spent_usd > t.key_hold_usd
      or (t.api_key_id is null and t.key_hold_usd is not null)`,

  "credit-balances": sql`
    with entries as (select user_id, sum(amount) as total from credit_entries group by user_id)
    select format('%s: credit balance %s, but its credit entries sum to %s',
      ${user(sql`coalesce(b.user_id, e.user_id)`)}, ${amount(sql`b.balance`)}, ${amount(sql`e.total`)}) as violation
    from credit_balances b full join entries e on e.user_id = b.user_id
    where coalesce(b.balance, 0) <> coalesce(e.total, 0)`,

  "credit-holds": sql`
    with holds as (
      select user_id, sum(hold_usd) as total, count(*) as tasks from tasks
      where status in ${UNFINISHED} and hold_usd is not null and user_id is not null group by user_id)
    select format('%s: held %s, but its %s unfinished tasks hold %s',
      ${user(sql`coalesce(b.user_id, h.user_id)`)}, ${amount(sql`b.held`)}, coalesce(h.tasks, 0),
      ${amount(sql`h.total`)}) as violation
    from credit_balances b full join holds h on h.user_id = b.user_id
    where coalesce(b.held, 0) <> coalesce(h.total, 0)`,

  "task-charges": sql`
    with charges as (
      select task_id, count(*) as entries, sum(amount) as total, array_agg(distinct user_id) as users
      from credit_entries where source = 'task' and task_id is not null group by task_id),
    charged as (
      select * from tasks where id in (select task_id from charges)
        or (status = 'completed' and user_id is not null and charged_usd is not null))
    select case
      when t.id is null then format('task %s does not exist but was charged %s', c.task_id, ${amount(sql`-c.total`)})
      when t.status <> 'completed' then format('task %s is %s but was charged %s', t.id, t.status, ${amount(sql`-c.total`)})
      when c.task_id is null then format('task %s completed with a charge of %s, but no charge is in the credit ledger',
        t.id, ${amount(sql`t.charged_usd`)})
      when c.entries > 1 then format('task %s was charged %s times', t.id, c.entries)
      when c.total <> -t.charged_usd then format('task %s was charged %s in the credit ledger, but its charged_usd is %s',
        t.id, ${amount(sql`-c.total`)}, ${amount(sql`t.charged_usd`)})
      when c.users <> array[t.user_id] then format('task %s of user %s was charged to users %s', t.id, t.user_id, c.users)
      when t.charged_usd > t.hold_usd then format('task %s was charged %s, above its hold %s',
        t.id, ${amount(sql`t.charged_usd`)}, ${amount(sql`t.hold_usd`)})
    end as violation
    from charged t full join charges c on c.task_id = t.id
    union all
    select format('a task charge of %s to %s names no task', ${amount(sql`-amount`)}, ${user(sql`user_id`)})
    from credit_entries where source = 'task' and task_id is null
    union all
    select format('task %s completed with a hold of %s but no charged_usd', id, ${amount(sql`hold_usd`)})
    from tasks where status = 'completed' and hold_usd is not null and charged_usd is null`,

  "api-costs": sql`
    with costs as (
      select task_id, count(*) as rows, count(distinct run_id) as runs, count(*) filter (where run_id is null) as without_run,
        array_agg(trim_scale(amount_usd)) as amounts, array_agg(distinct currency) as currencies
      from ledger_entries where category = 'api_cost' and task_id is not null group by task_id)
    select case
      when t.id is null then format('%s api_cost rows name task %s, which does not exist', c.rows, c.task_id)
      when c.task_id is null then format('task %s completed without an api_cost in the ledger', t.id)
      when c.rows - c.without_run > c.runs then format('task %s has two api_cost rows for one run', t.id)
      when c.without_run > 1 then format('task %s has %s api_cost rows without a run', t.id, c.without_run)
      when c.currencies <> array['usd'] then format('task %s has api_cost rows in %s', t.id, c.currencies)
      when t.status = 'completed' and t.cost_usd is not null and not (t.cost_usd = any (c.amounts))
        then format('task %s completed at a cost of %s, but none of its api_cost rows (%s) is that',
          t.id, ${amount(sql`t.cost_usd`)}, c.amounts)
    end as violation
    from (select * from tasks where status = 'completed' or id in (select task_id from costs)) t
      full join costs c on c.task_id = t.id`,

  reports: sql`
    with dirty as (select distinct day from report_dirty_days),
    booked as (
      select (occurred_at at time zone 'UTC')::date as day, kind, category, currency, sum(amount_usd) as total
      from ledger_entries group by 1, 2, 3, 4),
    periods as (
      select 'daily'::report_period as period, day as start, day, kind, category, currency, total from booked
      union all select 'weekly', date_trunc('week', day)::date, day, kind, category, currency, total from booked
      union all select 'monthly', date_trunc('month', day)::date, day, kind, category, currency, total from booked),
    expected as (select period, start, kind, category, currency, sum(total) as total from periods group by 1, 2, 3, 4, 5),
    rolled as (
      select period, period_start as start, kind, category, currency, amount_usd as total from report_rollups),
    compared as (
      select period, start, kind, category, currency, e.total as booked, r.total as rolled
      from expected e full join rolled r using (period, start, kind, category, currency))
    select format('the %s report from %s says %s %s %s, but the ledger holds %s', period, start, category, currency,
      ${amount(sql`rolled`)}, ${amount(sql`booked`)}) as violation
    from compared
    where coalesce(booked, 0) <> coalesce(rolled, 0)
      and not exists (select 1 from dirty d where case period when 'daily' then d.day
        when 'weekly' then date_trunc('week', d.day)::date else date_trunc('month', d.day)::date end = start)
    union all
    select format('the daily usage of %s on %s says %s tasks, %s tokens, %s charged, %s api_cost; the tasks and the ledger hold %s, %s, %s, %s',
      coalesce(u.provider || ' ' || u.model, f.provider || ' ' || f.model), coalesce(u.period_start, f.day),
      coalesce(u.tasks, 0), coalesce(u.tokens, 0), ${amount(sql`u.charged_usd`)}, ${amount(sql`u.api_cost_usd`)},
      coalesce(f.tasks, 0), coalesce(f.tokens, 0), ${amount(sql`f.charged`)}, ${amount(sql`f.api_cost`)})
    from (select * from usage_rollups where period = 'daily') u
      full join (
        select day, provider, model, sum(tasks) as tasks, sum(tokens) as tokens, sum(charged) as charged, sum(api_cost) as api_cost
        from (
          select (completed_at at time zone 'UTC')::date as day, provider, model, 1 as tasks, coalesce(tokens_used, 0) as tokens,
            coalesce(charged_usd, 0) as charged, 0 as api_cost
          from tasks where status = 'completed'
          union all
          select (occurred_at at time zone 'UTC')::date, provider, model, 0, 0, 0, amount_usd
          from ledger_entries where category = 'api_cost' and currency = 'usd' and task_id is not null) as facts
        group by 1, 2, 3) f
      on f.day = u.period_start and f.provider = u.provider and f.model = u.model
    where coalesce(u.period_start, f.day) not in (select day from dirty)
      and (coalesce(u.tasks, 0), coalesce(u.tokens, 0), coalesce(u.charged_usd, 0), coalesce(u.api_cost_usd, 0))
        <> (coalesce(f.tasks, 0), coalesce(f.tokens, 0), coalesce(f.charged, 0), coalesce(f.api_cost, 0))`,

  stats: sql`
    with counted as (
      select sum(users) as users, sum(completed) as completed, sum(failed) as failed, sum(canceled) as canceled,
        sum(tokens) as tokens, sum(cost_usd) as cost, sum(income) as income, sum(expenses) as expenses
      from (select users, completed, failed, canceled, tokens, cost_usd, income_usd as income, expense_usd as expenses
            from stats_counters
            union all select users, completed, failed, canceled, tokens, cost_usd, 0, 0 from stats_deltas) as rows),
    actual as (
      select (select count(*) from users) as users,
        count(*) filter (where status = 'completed') as completed, count(*) filter (where status = 'failed') as failed,
        count(*) filter (where status = 'canceled') as canceled,
        coalesce(sum(tokens_used) filter (where status = 'completed'), 0) as tokens,
        coalesce(sum(cost_usd) filter (where status = 'completed'), 0) as cost,
        (select coalesce(sum(amount_usd), 0) from ledger_entries where kind = 'income' and currency = 'usd') as income,
        (select coalesce(sum(amount_usd), 0) from ledger_entries where kind <> 'income' and currency = 'usd') as expenses
      from tasks)
    select format('the stats count %s, but the tables hold %s', c.figure, a.figure) as violation
    from (select format('users %s, completed %s, failed %s, canceled %s, tokens %s, cost %s, income %s, expenses %s',
            coalesce(users, 0), coalesce(completed, 0), coalesce(failed, 0), coalesce(canceled, 0), coalesce(tokens, 0),
            ${amount(sql`cost`)}, ${amount(sql`income`)}, ${amount(sql`expenses`)}) as figure from counted) c,
      (select format('users %s, completed %s, failed %s, canceled %s, tokens %s, cost %s, income %s, expenses %s',
            users, completed, failed, canceled, tokens, ${amount(sql`cost`)}, ${amount(sql`income`)},
            ${amount(sql`expenses`)}) as figure from actual) a
    where c.figure <> a.figure`,

  // Net per user: a row booked before the payment's user was known may stay as it is (the ledger
  // is append-only) once a correction has moved its amount to the user.
  "stripe-attribution": sql`
    with payments as (
      select stripe_charge_id, array_agg(distinct user_id) as users, string_agg(distinct stripe_object_id, ', ') as objects
      from ledger_entries
      where category in ${PAYMENTS} and stripe_charge_id is not null and user_id is not null
      group by stripe_charge_id),
    elsewhere as (
      select l.stripe_charge_id, l.category, l.currency, l.user_id, sum(l.amount_usd) as total,
        string_agg(l.stripe_object_id, ', ' order by l.id) as objects
      from ledger_entries l join payments p using (stripe_charge_id)
      where l.category in ('refund', 'dispute', 'payment_fee') and (l.user_id is null or l.user_id <> all (p.users))
      group by 1, 2, 3, 4
      having sum(l.amount_usd) <> 0)
    select format('%s %s %s of charge %s (%s) is booked to %s, but its payment %s belongs to %s', e.category,
      ${amount(sql`e.total`)}, e.currency, e.stripe_charge_id, e.objects, coalesce(${user(sql`e.user_id`)}, 'no user'),
      p.objects, ${user(sql`p.users[1]`)}) as violation
    from elsewhere e join payments p using (stripe_charge_id)`,

  // A movement of credit names its Stripe object by its source key (`re_1`, and its corrections
  // `re_1/...`); a ledger row of the same object names its charge. A dispute's charge may also be
  // read from the dispute as its event delivered it, and a charge's running refund total
  // (`ch_1/refunded/...`) names the charge itself.
  "stripe-take-backs": sql`
    with grants as (
      select source, split_part(source_key, '/', 1) as object, user_id, sum(amount) as granted
      from credit_entries where source in ('payment', 'invoice') group by 1, 2, 3),
    paid_charges as (
      select distinct split_part(stripe_object_id, '/', 1) as object, stripe_charge_id as charge from ledger_entries
      where category in ${PAYMENTS} and stripe_charge_id is not null),
    given_back_charges as (
      select distinct on (object) object, charge from (
        select split_part(stripe_object_id, '/', 1) as object, stripe_charge_id as charge, 1 as preference
        from ledger_entries where category in ${GIVEN_BACK} and stripe_charge_id is not null
        union all
        select payload -> 'data' -> 'object' ->> 'id', payload -> 'data' -> 'object' ->> 'charge', 2 from stripe_events
        where payload -> 'data' -> 'object' ->> 'object' = 'dispute') as known
      where charge is not null order by object, preference),
    taken as (
      select c.amount, coalesce(k.charge,
        case when split_part(c.source_key, '/', 2) = 'refunded' then split_part(c.source_key, '/', 1) end) as charge
      from credit_entries c left join given_back_charges k on k.object = split_part(c.source_key, '/', 1)
      where c.source in ${GIVEN_BACK}),
    taken_per_grant as (
      select g.source, g.object, g.user_id, g.granted, sum(t.amount) as taken
      from grants g join (select distinct object, charge from paid_charges) p on p.object = g.object
        join taken t on t.charge = p.charge
      group by 1, 2, 3, 4)
    select format('%s %s granted %s %s of credit, but its refunds and disputes took back %s', source, object,
      ${user(sql`user_id`)}, ${amount(sql`granted`)}, ${amount(sql`-taken`)}) as violation
    from taken_per_grant where granted + taken < 0`,

  "stripe-charges": sql`
    with paid as (
      select stripe_charge_id, currency, sum(amount_usd) as total from ledger_entries
      where category in ${PAYMENTS} and stripe_charge_id is not null group by 1, 2),
    given_back as (
      select stripe_charge_id, currency, category, sum(amount_usd) as total from ledger_entries
      where category in ${GIVEN_BACK} and stripe_charge_id is not null group by 1, 2, 3)
    select case
      when p.currency is null then format('charge %s was paid in %s, but %s %s of its %s stay booked in %s',
        g.stripe_charge_id, (select string_agg(currency, ', ') from paid where stripe_charge_id = g.stripe_charge_id),
        ${amount(sql`g.total`)}, g.currency, g.category, g.currency)
      else format('charge %s was paid %s %s but refunded %s', g.stripe_charge_id, ${amount(sql`p.total`)}, p.currency,
        ${amount(sql`-g.total`)})
    end as violation
    from given_back g left join paid p using (stripe_charge_id, currency)
    where exists (select 1 from paid where paid.stripe_charge_id = g.stripe_charge_id)
      and ((p.currency is null and g.total <> 0) or (g.category = 'refund' and p.total + g.total < 0))`,
};

/**
 * Every violation of the money invariants, as sentences naming the user, task or Stripe object:
 * none when the books are right. All rules are read in one snapshot (given a transaction, in its
 * own). `skip` leaves rules out, for a state a test builds on purpose (rows written with triggers off).
 */
export async function findMoneyViolations(
  db: Executor,
  { skip = [] }: { skip?: readonly MoneyInvariant[] } = {},
): Promise<string[]> {
  const checked = MONEY_INVARIANTS.filter((name) => !skip.includes(name));
  const check = async (tx: Executor) => {
    const found: string[] = [];
    for (const name of checked) {
      const rows = await tx.execute<{ violation: string | null }>(queries[name]);
      for (const { violation } of rows) if (violation) found.push(`${name}: ${violation}`);
    }
    return found;
  };
  if ("rollback" in db) return check(db);
  return db.transaction(check, { isolationLevel: "repeatable read", accessMode: "read only" });
}
