import type { RedisClient } from "./connections.js";

/**
 * The output of a streamed task as it is written: each run's text so far in a Redis string (kept
 * for resuming event streams), and every piece announced on a channel the API's streams listen to.
 */
const taskOutputKey = (prefix: string, taskId: number, run: number) => `${prefix}:task-output:${taskId}:${run}`;
export const taskOutputChannel = (prefix: string) => `${prefix}:task-output`;

/** How long a run's text so far is kept after its last piece; the finished task's output is in Postgres. */
const TASK_OUTPUT_RETENTION_S = 3600;

/** Pieces of one task's output written within this time are published together. */
const COALESCE_MS = 20;

/** A piece of a run's output: `end` is the byte length of the run's text once it is appended. */
export interface OutputPiece {
  taskId: number;
  run: number;
  end: number;
  text: string;
}

// Appends and announces in one step, so the announcement carries the offset the append reached.
const APPEND_AND_ANNOUNCE = `
local length = redis.call('APPEND', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. length .. '\\n' .. ARGV[1])
return length`;

/** `<taskId> <run> <end>\n<text>`; undefined for a message that is not one. */
export function parseOutputPiece(message: string): OutputPiece | undefined {
  const newline = message.indexOf("\n");
  if (newline < 0) return undefined;
  const [taskId, run, end] = message.slice(0, newline).split(" ").map(Number);
  if (!Number.isSafeInteger(taskId) || !Number.isSafeInteger(run) || !Number.isSafeInteger(end)) return undefined;
  return { taskId: taskId!, run: run!, end: end!, text: message.slice(newline + 1) };
}

/**
 * The worker's side: `append` collects a task's pieces and writes them together at most every
 * 20 ms (a provider sends a piece per token or two); `flush` writes what is left, before the task's
 * completion is stored, so a stream sees every piece before the final status. A failed write is
 * dropped: the task's output is stored whole when it completes, and that is what counts.
 */
export function createTaskOutputWriter(redis: RedisClient, prefix: string) {
  const channel = taskOutputChannel(prefix);
  const pending = new Map<string, { taskId: number; run: number; text: string; timer: NodeJS.Timeout }>();
  let writes = Promise.resolve();

  const write = (key: string) => {
    const piece = pending.get(key);
    if (!piece) return writes;
    pending.delete(key);
    clearTimeout(piece.timer);
    // In order: each write waits for the one before, so offsets grow as the pieces were written.
    writes = writes.then(() =>
      redis
        .eval(
          APPEND_AND_ANNOUNCE,
          1,
          taskOutputKey(prefix, piece.taskId, piece.run),
          piece.text,
          TASK_OUTPUT_RETENTION_S,
          channel,
          `${piece.taskId} ${piece.run}`,
        )
        .then(
          () => {},
          () => {},
        ),
    );
    return writes;
  };

  return {
    append(taskId: number, run: number, text: string) {
      const key = `${taskId}:${run}`;
      const piece = pending.get(key);
      if (piece) piece.text += text;
      else pending.set(key, { taskId, run, text, timer: setTimeout(() => write(key), COALESCE_MS) });
    },
    async flush(taskId: number, run: number) {
      await write(`${taskId}:${run}`);
    },
  };
}
export type TaskOutputWriter = ReturnType<typeof createTaskOutputWriter>;

/** The API's side: a run's text from byte `from` on ("" when nothing is kept). */
export function createTaskOutputReader(redis: RedisClient, prefix: string) {
  return {
    async read(taskId: number, run: number, from: number): Promise<string> {
      const bytes = await redis.getrangeBuffer(taskOutputKey(prefix, taskId, run), from, -1);
      return bytes.toString("utf8");
    },
  };
}
