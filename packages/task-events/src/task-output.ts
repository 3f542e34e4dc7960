import { batchPerTurn } from "@aitasks/batching";
import type { RedisClient } from "@aitasks/queue";

/**
 * The output of a streamed task as it is written: each run's text so far in a Redis string (kept
 * for resuming event streams), and every piece announced on a channel the API's streams listen to.
 */
const taskOutputKey = (prefix: string, taskId: number, run: number) => `${prefix}:task-output:${taskId}:${run}`;
export const taskOutputChannel = (prefix: string) => `${prefix}:task-output`;

/** How long a run's text so far is kept after its last piece; the finished task's output is in Postgres. */
const TASK_OUTPUT_RETENTION_S = 3600;

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
 * The worker's side: `append` writes a piece, the pieces appended in one event-loop turn together
 * (`batchPerTurn`), those of one run joined into one write; `flush` waits until a run's pieces are
 * written, before the task's completion is stored, so a stream sees every piece before the final
 * status. The writes of one run reach Redis in the order they were made (one connection, or one
 * node for one key). A failed write is dropped: the task's output is stored whole when it
 * completes, and that is what counts.
 */
export function createTaskOutputWriter(redis: RedisClient, prefix: string) {
  const channel = taskOutputChannel(prefix);
  const writeRun = ({ taskId, run, text }: RunText) =>
    redis
      .eval(
        APPEND_AND_ANNOUNCE,
        1,
        taskOutputKey(prefix, taskId, run),
        text,
        TASK_OUTPUT_RETENTION_S,
        channel,
        `${taskId} ${run}`,
      )
      .then(ignore, ignore);
  const write = batchPerTurn(writeRun, async (pieces: RunText[]) => {
    const byRun = new Map<string, RunText>();
    for (const piece of pieces) {
      const key = `${piece.taskId}:${piece.run}`;
      const joined = byRun.get(key);
      byRun.set(key, joined ? { ...joined, text: joined.text + piece.text } : piece);
    }
    await Promise.all([...byRun.values()].map(writeRun));
    return pieces.map(ignore);
  });
  /** Each run's last write still under way. */
  const lastWrite = new Map<string, Promise<void>>();

  return {
    append(taskId: number, run: number, text: string) {
      const key = `${taskId}:${run}`;
      const written = write({ taskId, run, text });
      lastWrite.set(key, written);
      written.then(() => {
        if (lastWrite.get(key) === written) lastWrite.delete(key);
      });
    },
    async flush(taskId: number, run: number) {
      await lastWrite.get(`${taskId}:${run}`);
    },
  };
}

interface RunText {
  taskId: number;
  run: number;
  text: string;
}

const ignore = () => {};
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
