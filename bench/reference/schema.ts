/**
 * Tables of the bare-stack reference: the same columns as ours, and only the keys the work needs
 * (primary keys, one ledger row per task). No enums, triggers, counters or secondary indexes:
 * those are ours, and their cost is part of what the benchmark measures.
 */
export const referenceSchema = `
  create table if not exists ref_tasks (
    id bigserial primary key,
    status text not null default 'pending',
    provider text not null default 'openai',
    model text not null default 'gpt-4o-mini',
    input text not null,
    output text,
    prompt_tokens integer,
    completion_tokens integer,
    tokens_used integer,
    cost_usd numeric(20, 12),
    user_id bigint,
    attempts integer not null default 0,
    error text,
    created_at timestamptz(3) not null default now(),
    started_at timestamptz(3),
    completed_at timestamptz(3),
    updated_at timestamptz(3) not null default now()
  );
  create table if not exists ref_ledger (
    id bigserial primary key,
    task_id bigint not null unique,
    amount_usd numeric(24, 12) not null,
    occurred_at timestamptz(3) not null,
    created_at timestamptz(3) not null default now()
  );
`;
