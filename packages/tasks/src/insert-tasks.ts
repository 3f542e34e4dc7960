import { arrayLiteral, type Executor } from "@aitasks/db";
import { takeCreditHold } from "@aitasks/ledger";
import type { ProviderName, TaskPrice } from "@aitasks/providers";
import { type SQL, sql } from "drizzle-orm";

/**
 * The one home of the tasks table's inserts: every way a task is stored (alone, in a batch, for a
 * user on first sight, with a prepaid hold) is the statement of `insertStatement`, so a new column
 * is one edit here.
 */

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

/**
 * A task to store, with its user's id, its hold on the user's credit, the user key it was
 * submitted with and its hold on that key's budget, where it has them (amounts as numerics' text).
 */
export interface TaskToInsert {
  task: AcceptedTask;
  userId: number | null;
  hold: string | null;
  keyId: number | null;
  keyHold: string | null;
}

/**
 * Stores tasks whose user ids and holds are already settled, in one statement; their ids in the
 * items' order.
 */
export async function insertTasks(db: Executor, items: TaskToInsert[]): Promise<number[]> {
  const inserted = await db.execute<{ id: string }>(insertStatement(items));
  // Rows are inserted, and their serial ids drawn, in the items' order (`insertStatement`).
  return inserted.map((row) => Number(row.id)).sort((a, b) => a - b);
}

/**
 * Stores a task for user `identifier` in one round trip, creating the user on first sight, unless
 * the user already has `maxPending` unfinished tasks (0: no quota): undefined then. Concurrent
 * submissions may pass the quota together by a few: it bounds a runaway client, it is not a
 * billing limit.
 */
export async function insertTaskForUser(
  db: Executor,
  item: TaskToInsert,
  identifier: string,
  maxPending: number,
): Promise<number | undefined> {
  const taskUser = sql`(select id from task_user)`;
  const [row] = await db.execute<{ id: string; user_id: string | null }>(
    insertStatement([item], {
      before: sql`new_user as (
        insert into users (identifier) values (${identifier}) on conflict (identifier) do nothing returning id
      ), task_user as (
        select id from new_user union all select id from users where identifier = ${identifier} limit 1
      )`,
      userId: taskUser,
      where: underQuota(taskUser, maxPending),
    }),
  );
  if (!row) return undefined;
  const id = Number(row.id);
  if (row.user_id === null) {
    // Another request created the same user while this statement ran, after its snapshot was taken.
    await db.execute(
      sql`update tasks set user_id = (select id from users where identifier = ${identifier}) where id = ${id}`,
    );
  }
  return id;
}

/**
 * Prepaid: the hold and the task in one statement. The hold is taken on the user's credit by the
 * ledger's rule (`takeCreditHold`: never more than the available credit, however many submissions
 * race); nothing is stored, and undefined returned, when it does not fit or the user already has
 * `maxPending` unfinished tasks.
 */
export async function insertHeldTask(
  db: Executor,
  item: TaskToInsert & { hold: string },
  identifier: string,
  maxPending: number,
): Promise<number | undefined> {
  const { hold } = item;
  const user = sql`(select id from users where identifier = ${identifier})`;
  const [row] = await db.execute<{ id: string }>(
    insertStatement([item], {
      before: sql`held as (${takeCreditHold(user, hold, underQuota(sql`b.user_id`, maxPending))})`,
      userId: sql`(select user_id from held)`,
      where: sql`exists (select 1 from held)`,
    }),
  );
  return row ? Number(row.id) : undefined;
}

/** The user's unfinished tasks are fewer than `maxPending` (0: no quota). */
const underQuota = (userId: SQL, maxPending: number) => sql`(${maxPending}::int = 0 or (
  select count(*) from tasks where user_id = ${userId} and status in ('pending', 'processing')
) < ${maxPending}::int)`;

/**
 * The insert of `items`, one array per column: Postgres reads arrays far faster than one JSON
 * document of rows, and `unnest` of several arrays yields their elements in order, `with
 * ordinality` numbering them, so rows are inserted (and their serial ids drawn) in the items'
 * order. Tasks mostly share their provider, model and price, so those go once per kind and each
 * task names its kind; the numbers go as array literals (`arrayLiteral`). `user` gives the CTEs a
 * submission's user comes from, its id, and the condition for storing the task at all.
 */
function insertStatement(items: TaskToInsert[], user?: { before: SQL; userId: SQL; where: SQL }): SQL {
  const rows = columnsOf(items);
  const { kinds } = rows;
  return sql`
    with kind as (
      select position, provider::provider_name as provider, model, price::jsonb as price
      from unnest(${sql.param(kinds.provider)}::text[], ${sql.param(kinds.model)}::text[],
        ${sql.param(kinds.price)}::text[]) with ordinality as kind(provider, model, price, position)
    )${user ? sql`, ${user.before}` : sql``}
    insert into tasks (provider, model, input, max_output_tokens, price, priority, stream, callback_url, user_id,
      hold_usd, api_key_id, key_hold_usd)
    select kind.provider, kind.model, item.input, item.max_output_tokens, kind.price, item.priority, item.stream,
      item.callback_url, ${user?.userId ?? sql`item.user_id`}, item.hold_usd, item.api_key_id, item.key_hold_usd
    from unnest(${arrayLiteral(rows.kind)}::int[], ${sql.param(rows.input)}::text[],
      ${arrayLiteral(rows.maxOutputTokens)}::int[], ${arrayLiteral(rows.priority)}::smallint[],
      ${arrayLiteral(rows.stream)}::boolean[], ${sql.param(rows.callbackUrl)}::text[],
      ${arrayLiteral(rows.userId)}::bigint[], ${arrayLiteral(rows.hold)}::numeric[],
      ${arrayLiteral(rows.keyId)}::bigint[], ${arrayLiteral(rows.keyHold)}::numeric[])
      with ordinality as item(kind, input, max_output_tokens, priority, stream, callback_url, user_id, hold_usd,
        api_key_id, key_hold_usd, position)
    join kind on kind.position = item.kind
    ${user ? sql`where ${user.where}` : sql``}
    order by item.position
    returning id${user ? sql`, user_id` : sql``}`;
}

interface TaskColumns {
  kinds: { provider: string[]; model: string[]; price: string[] };
  kind: number[];
  input: string[];
  maxOutputTokens: (number | null)[];
  priority: number[];
  stream: boolean[];
  callbackUrl: (string | null)[];
  userId: (number | null)[];
  hold: (string | null)[];
  keyId: (number | null)[];
  keyHold: (string | null)[];
}

function columnsOf(items: TaskToInsert[]): TaskColumns {
  const columns: TaskColumns = {
    kinds: { provider: [], model: [], price: [] },
    kind: [],
    input: [],
    maxOutputTokens: [],
    priority: [],
    stream: [],
    callbackUrl: [],
    userId: [],
    hold: [],
    keyId: [],
    keyHold: [],
  };
  // A model's TaskPrice is one object per process (`taskPrice` caches it), so it keys the kinds.
  const kindOf = new Map<AcceptedTask["price"], Map<string, number>>();
  for (const { task, userId, hold, keyId, keyHold } of items) {
    let ofPrice = kindOf.get(task.price);
    if (!ofPrice) {
      ofPrice = new Map();
      kindOf.set(task.price, ofPrice);
    }
    const model = `${task.provider}/${task.model}`;
    let kind = ofPrice.get(model);
    if (kind === undefined) {
      columns.kinds.provider.push(task.provider);
      columns.kinds.model.push(task.model);
      columns.kinds.price.push(JSON.stringify(task.price));
      kind = columns.kinds.price.length;
      ofPrice.set(model, kind);
    }
    columns.kind.push(kind);
    columns.input.push(task.prompt);
    columns.maxOutputTokens.push(task.maxOutputTokens);
    columns.priority.push(task.priority);
    columns.stream.push(task.stream);
    columns.callbackUrl.push(task.callbackUrl);
    columns.userId.push(userId);
    columns.hold.push(hold);
    columns.keyId.push(keyId);
    columns.keyHold.push(keyHold);
  }
  return columns;
}
