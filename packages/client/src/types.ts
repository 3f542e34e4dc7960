import type { TaskView } from "./api-types.js";

/**
 * An event of a task's stream: `status` with the task's view at once and at every change, `delta`
 * with a piece of streamed output. A `processing` status of a new attempt starts the output again:
 * drop the pieces before it. `id` is where the stream stands (`Last-Event-ID` to resume).
 */
export type TaskEvent = { type: "status"; id: string; task: TaskView } | { type: "delta"; id: string; text: string };
