import type { AccessContext } from "@aitasks/auth";
import { arrayLiteral, directStatement, type Executor, preparedPerDatabase, tasks, users } from "@aitasks/db";
import { NotFoundError } from "@aitasks/errors";
import { eq, getTableColumns, sql } from "drizzle-orm";
import { coalescePerTurn } from "./coalesce-per-turn.js";
import type { TaskRecord } from "./task-record.js";
import { cachedUserIdentifier, userIdentifierOf } from "./user-identifiers.js";

export const taskWithUser = { ...getTableColumns(tasks), userIdentifier: users.identifier };

const findTaskStatement = directStatement(getTableColumns(tasks), (db, columns) =>
  db
    .select(columns)
    .from(tasks)
    .where(eq(tasks.id, sql.placeholder("taskId"))),
);

const findTasksStatement = directStatement(getTableColumns(tasks), (db, columns) =>
  db
    .select(columns)
    .from(tasks)
    .where(sql`${tasks.id} = any(${sql.placeholder("taskIds")}::bigint[])`),
);

type TaskRow = Awaited<ReturnType<typeof findTaskStatement>>[number];

/**
 * The reads of one turn of the event loop in one statement (`coalescePerTurn`): under load, polls
 * that arrive together cost Postgres about what one does.
 */
const findingTogether = preparedPerDatabase((db) =>
  coalescePerTurn(
    async (taskId: number): Promise<TaskRow | undefined> => (await findTaskStatement(db, { taskId }))[0],
    async (taskIds: number[]) => {
      const rows = await findTasksStatement(db, { taskIds: arrayLiteral(taskIds) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      const given = new Set<number>();
      return taskIds.map((taskId) => {
        const row = byId.get(taskId);
        if (row === undefined || !given.has(taskId)) {
          given.add(taskId);
          return row;
        }
        // The same task twice in one turn: the second caller gets a copy, as findTask adds to its row.
        return { ...row };
      });
    },
  ),
);

/** The task with its user's identifier (from the cache of identifiers: no join per read). */
export async function findTask(db: Executor, taskId: number): Promise<TaskRecord | undefined> {
  const task = await findingTogether(db)(taskId);
  if (!task) return undefined;
  // Added to the row in place: on Node 20, `{ ...task, userIdentifier }` takes V8's slow path.
  const userIdentifier =
    task.userId === null ? null : (cachedUserIdentifier(db, task.userId) ?? (await userIdentifierOf(db, task.userId)));
  return Object.assign(task, { userIdentifier });
}

/**
 * The task, for whoever may see it: an admin or open mode sees every task, a user key its own
 * only. Another user's task is answered exactly like a missing one, so ids reveal nothing.
 */
export async function getTask({ db, principal }: AccessContext, taskId: number): Promise<TaskRecord> {
  const task = await findTask(db, taskId);
  if (!task || (principal.role === "user" && task.userId !== principal.userId)) {
    throw new NotFoundError(`task ${taskId} not found`);
  }
  return task;
}
