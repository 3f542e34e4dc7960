import type { AccessContext } from "@aitasks/auth";
import { ValidationError } from "@aitasks/errors";
import { getTask } from "./get-task.js";
import { FINAL_STATUSES } from "./schemas.js";
import type { TaskRecord } from "./task-record.js";

/** What the API hears about a task: its status changed (read it again), or a piece of output. */
export type TaskChange = { kind: "status" } | { kind: "output"; run: number; end: number; text: string };

/** The live changes of tasks, as this process hears them (one subscription per process). */
export interface TaskChangeFeed {
  /** Calls `onChange` for every change of the task until the returned function is called. */
  subscribe(taskId: number, onChange: (change: TaskChange) => void): () => void;
}

/** A streamed run's text so far, from byte `from` on ("" when nothing is kept). */
export interface TaskOutputSource {
  read(taskId: number, run: number, from: number): Promise<string>;
}

/** An event of a task's stream. Its `id` is where a client resumes from (`Last-Event-ID`). */
export type TaskEvent =
  | { id: string; type: "status"; task: TaskRecord }
  | { id: string; type: "delta"; text: string }
  /** Nothing happened for a while: a comment keeps proxies from closing the stream. */
  | { type: "heartbeat" };

/**
 * Where a stream stands, in event order: the task pending; run `run` started (`offset` 0) or written
 * up to byte `offset`; the task finished. Ids are these positions: `0`, `<run>.<offset>`, `end`.
 */
export type EventPosition = { phase: 0 } | { phase: 1; run: number; offset: number } | { phase: 2 };

const EVENT_ID = /^(?:0|end|([1-9]\d{0,5})\.(0|[1-9]\d{0,14}))$/;

/** A `Last-Event-ID` this stream could have sent, or a 400 (a client that made one up). */
export function parseLastEventId(value: string | undefined): EventPosition | undefined {
  // An empty id is how EventSource says it has seen none.
  if (value === undefined || value.trim() === "") return undefined;
  const match = EVENT_ID.exec(value.trim());
  if (!match) throw new ValidationError("Last-Event-ID must be the id of an event this stream sent");
  if (value.trim() === "0") return { phase: 0 };
  if (value.trim() === "end") return { phase: 2 };
  return { phase: 1, run: Number(match[1]), offset: Number(match[2]) };
}

const idOf = (position: EventPosition) =>
  position.phase === 0 ? "0" : position.phase === 2 ? "end" : `${position.run}.${position.offset}`;

const isAfter = (a: EventPosition, b: EventPosition) =>
  a.phase !== b.phase
    ? a.phase > b.phase
    : a.phase === 1 && b.phase === 1 && (a.run !== b.run ? a.run > b.run : a.offset > b.offset);

/** Where the task's status puts a stream: its run's start while it runs. */
const statusPosition = (task: TaskRecord): EventPosition =>
  FINAL_STATUSES.has(task.status)
    ? { phase: 2 }
    : task.status === "processing"
      ? { phase: 1, run: task.attempts, offset: 0 }
      : { phase: 0 };

export interface FollowTaskDeps extends AccessContext {
  changes: TaskChangeFeed;
  outputs: TaskOutputSource;
  /** How long the stream stays quiet before a heartbeat, which also reads the task again. */
  heartbeatMs: number;
}

/**
 * A task's events from `after` on (a client's `Last-Event-ID`), for whoever may see the task
 * (another user's is answered as missing, before any event): its status now, unless the client
 * saw it; a streamed run's text written since; then every change as it comes, until the task
 * ends. A retried run starts its output again with a `processing` status. Status events carry
 * the task as stored, read again at each change; a change announcement lost on the way is made
 * up at the next heartbeat, which reads the task too.
 */
export async function followTask(
  deps: FollowTaskDeps,
  taskId: number,
  after: EventPosition | undefined,
  signal: AbortSignal,
): Promise<AsyncGenerator<TaskEvent>> {
  // Listen before reading, so a change between the read and the subscription is not missed.
  const inbox = changeInbox();
  const unsubscribe = deps.changes.subscribe(taskId, inbox.push);
  let task: TaskRecord;
  try {
    task = await getTask(deps, taskId);
  } catch (error) {
    unsubscribe();
    throw error;
  }
  signal.addEventListener("abort", inbox.wake, { once: true });

  async function* events(): AsyncGenerator<TaskEvent> {
    let position = after;
    try {
      while (!signal.aborted) {
        // The task as it stands: its status if the client has not seen it, then its run's text.
        const now = statusPosition(task);
        if (!position || isAfter(now, position)) {
          yield { id: idOf(now), type: "status", task };
          position = now;
        }
        if (position.phase === 2) return;
        if (position.phase === 1 && task.stream) {
          const text = await deps.outputs.read(taskId, position.run, position.offset);
          if (text) {
            position = { ...position, offset: position.offset + Buffer.byteLength(text) };
            yield { id: idOf(position), type: "delta", text };
          }
        }
        // Then what comes: pieces that follow on are sent as they are; anything else reads again.
        let reread = false;
        while (!reread && !signal.aborted) {
          const change = await inbox.next(deps.heartbeatMs);
          if (signal.aborted) return;
          if (change === undefined) {
            yield { type: "heartbeat" };
            reread = true;
          } else if (change.kind === "status") {
            reread = true;
          } else if (
            position.phase === 1 &&
            change.run === position.run &&
            change.end - Buffer.byteLength(change.text) === position.offset
          ) {
            position = { ...position, offset: change.end };
            yield { id: idOf(position), type: "delta", text: change.text };
          } else if (!(position.phase === 1 && change.run === position.run && change.end <= position.offset)) {
            // A gap (a piece lost, or a run that started unannounced): the stored text fills it.
            reread = true;
          }
        }
        task = await getTask(deps, taskId);
      }
    } finally {
      unsubscribe();
      signal.removeEventListener("abort", inbox.wake);
    }
  }
  return events();
}

/** Changes in arrival order; `next` waits for one up to `timeoutMs` (undefined: none came). */
function changeInbox() {
  const queue: TaskChange[] = [];
  let waiting: (() => void) | undefined;
  const wake = () => {
    waiting?.();
    waiting = undefined;
  };
  return {
    push(change: TaskChange) {
      queue.push(change);
      wake();
    },
    wake,
    async next(timeoutMs: number): Promise<TaskChange | undefined> {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs);
          waiting = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      return queue.shift();
    },
  };
}
