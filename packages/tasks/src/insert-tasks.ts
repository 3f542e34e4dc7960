import { arrayLiteral, directStatement, type Executor, isRefusedData, preparedPerDatabase, tasks } from "@aitasks/db";
import type { ProviderName, TaskPrice } from "@aitasks/providers";
import { sql } from "drizzle-orm";
import { coalescePerTurn } from "./coalesce-per-turn.js";

/** What is stored for an accepted task. */
export interface AcceptedTask {
  provider: ProviderName;
  model: string;
  prompt: string;
  maxOutputTokens: number | null;
  price: TaskPrice;
  priority: number;
  stream: boolean;
  callbackUrl: string | null;
}

/** The task without a user: the statement is built once per database handle, only its values bound. */
const insertTaskStatement = directStatement({ id: tasks.id }, (db, columns) =>
  db
    .insert(tasks)
    .values({
      provider: sql.placeholder("provider"),
      model: sql.placeholder("model"),
      input: sql.placeholder("input"),
      maxOutputTokens: sql.placeholder("maxOutputTokens"),
      price: sql`${sql.placeholder("price")}::jsonb`,
      priority: sql.placeholder("priority"),
      stream: sql.placeholder("stream"),
      callbackUrl: sql.placeholder("callbackUrl"),
    })
    .returning(columns),
);

async function insertTask(db: Executor, task: AcceptedTask): Promise<number> {
  const [row] = await insertTaskStatement(db, {
    provider: task.provider,
    model: task.model,
    input: task.prompt,
    maxOutputTokens: task.maxOutputTokens,
    price: JSON.stringify(task.price),
    priority: task.priority,
    stream: task.stream,
    callbackUrl: task.callbackUrl,
  });
  return row!.id;
}

/**
 * Stores a task without a user, in one statement with the others submitted in the same turn of the
 * event loop (`coalescePerTurn`): under load, single submissions then cost Postgres about what a
 * batch's tasks do (docs/performance.md). Values Postgres refuses fail only their own submission:
 * the statement is tried again for each task alone.
 */
export const insertTaskWithOthers = (db: Executor, task: AcceptedTask): Promise<number> => insertingTogether(db)(task);

const insertingTogether = preparedPerDatabase((db) =>
  coalescePerTurn(
    (task: AcceptedTask) => insertTask(db, task),
    (many: AcceptedTask[]) => insertBatch(db, batchRows(many.map((task) => ({ task, userId: null, hold: null })))),
    isRefusedData,
  ),
);

/**
 * A batch's columns, one array each: Postgres reads arrays far faster than one JSON document of
 * rows. A batch's tasks mostly share their provider, model and price, so those are sent once per
 * kind, and each task names its kind; the numbers go as array literals (`arrayLiteral`).
 */
interface BatchRows {
  kinds: { provider: string[]; model: string[]; price: string[] };
  kind: number[];
  input: string[];
  maxOutputTokens: (number | null)[];
  priority: number[];
  stream: boolean[];
  callbackUrl: (string | null)[];
  userId: (number | null)[];
  hold: (string | null)[];
}

export function batchRows(items: { task: AcceptedTask; userId: number | null; hold: string | null }[]): BatchRows {
  const rows: BatchRows = {
    kinds: { provider: [], model: [], price: [] },
    kind: [],
    input: [],
    maxOutputTokens: [],
    priority: [],
    stream: [],
    callbackUrl: [],
    userId: [],
    hold: [],
  };
  // A model's TaskPrice is one object per process (`taskPrice` caches it), so it keys the kinds.
  const kindOf = new Map<AcceptedTask["price"], Map<string, number>>();
  for (const { task, userId, hold } of items) {
    let ofPrice = kindOf.get(task.price);
    if (!ofPrice) {
      ofPrice = new Map();
      kindOf.set(task.price, ofPrice);
    }
    const model = `${task.provider}/${task.model}`;
    let kind = ofPrice.get(model);
    if (kind === undefined) {
      rows.kinds.provider.push(task.provider);
      rows.kinds.model.push(task.model);
      rows.kinds.price.push(JSON.stringify(task.price));
      kind = rows.kinds.price.length;
      ofPrice.set(model, kind);
    }
    rows.kind.push(kind);
    rows.input.push(task.prompt);
    rows.maxOutputTokens.push(task.maxOutputTokens);
    rows.priority.push(task.priority);
    rows.stream.push(task.stream);
    rows.callbackUrl.push(task.callbackUrl);
    rows.userId.push(userId);
    rows.hold.push(hold);
  }
  return rows;
}

/**
 * One statement for the whole batch, its ids in the items' order: `unnest` of several arrays
 * yields their elements in order, `with ordinality` numbers them, and the rows are inserted (and
 * their serial ids drawn) in that order.
 */
export async function insertBatch(db: Executor, rows: BatchRows): Promise<number[]> {
  const { kinds } = rows;
  const inserted = await db.execute<{ id: string }>(sql`
    with kind as (
      select position, provider::provider_name as provider, model, price::jsonb as price
      from unnest(${sql.param(kinds.provider)}::text[], ${sql.param(kinds.model)}::text[],
        ${sql.param(kinds.price)}::text[]) with ordinality as kind(provider, model, price, position)
    )
    insert into tasks (provider, model, input, max_output_tokens, price, priority, stream, callback_url, user_id,
      hold_usd)
    select kind.provider, kind.model, item.input, item.max_output_tokens, kind.price, item.priority, item.stream,
      item.callback_url, item.user_id, item.hold_usd
    from unnest(${arrayLiteral(rows.kind)}::int[], ${sql.param(rows.input)}::text[],
      ${arrayLiteral(rows.maxOutputTokens)}::int[], ${arrayLiteral(rows.priority)}::smallint[],
      ${arrayLiteral(rows.stream)}::boolean[], ${sql.param(rows.callbackUrl)}::text[],
      ${arrayLiteral(rows.userId)}::bigint[], ${arrayLiteral(rows.hold)}::numeric[])
      with ordinality as item(kind, input, max_output_tokens, priority, stream, callback_url, user_id, hold_usd,
        position)
    join kind on kind.position = item.kind
    order by item.position
    returning id`);
  return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
}
