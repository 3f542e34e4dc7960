import { once } from "node:events";
import { PassThrough } from "node:stream";
import { followTask, getTask, parseLastEventId, type TaskEvent, TaskIdParams, toTaskView } from "@aitasks/tasks";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { parseInput } from "../../http/parse-input.js";
import { contract } from "../../http/route-contract.js";

/** One Server-Sent Event (its data is one line of JSON, so needs no splitting). */
function serverSentEvent(event: TaskEvent): string {
  if (event.type === "heartbeat") return ": heartbeat\n\n";
  const data = event.type === "status" ? toTaskView(event.task) : { text: event.text };
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * GET /api/task/:id/events: the task's Server-Sent Events, `status` (the task view) at once and at
 * each change, `delta` (`{"text"}`) for each piece of a streamed output, until the task ends.
 * `Last-Event-ID` resumes after that event, on this API process or any other; after the last one
 * (`end`), the stream has nothing more to send: 204, which tells an EventSource not to reconnect.
 */
export function taskEventsRoute(app: FastifyInstance, deps: Pick<AppDeps, "db" | "taskEvents">) {
  const open = new Set<AbortController>();
  // A stream would hold a closing server open until its task ends: closing ends them all.
  app.addHook("preClose", async () => {
    for (const stream of open) stream.abort();
  });

  app.get(
    "/task/:id/events",
    contract({
      id: "streamTaskEvents",
      tag: "Tasks",
      summary: "Follow a task (Server-Sent Events)",
      description:
        '`event: status` (data: the Task) at once and at every change, `event: delta` (data: `{"text"}`) for each piece of a streamed output, each with an `id`; the stream ends after the final status (id `end`), and a reconnect with `Last-Event-ID: end` is answered 204, so that an EventSource stops.',
      params: TaskIdParams,
      headers: ["Last-Event-ID"],
      responses: {
        200: { description: "the stream of events", content: { "text/event-stream": undefined }, streamed: true },
        204: {
          description:
            "the stream has ended: Last-Event-ID is its last event (`end`); an EventSource does not reconnect",
        },
        400: "the input is not valid, or Last-Event-ID is not an id of this stream",
        404: "no such task (or another user's)",
      },
    }),
    async (request, reply) => {
      const { id } = parseInput(TaskIdParams, request.params);
      const header = request.headers["last-event-id"];
      const after = parseLastEventId(Array.isArray(header) ? header.at(-1) : header);
      // The client saw the last event. A new 200 with nothing in it would have an EventSource
      // reconnect forever (each reconnect counted against the key's rate limit); the standard
      // answer to "do not reconnect" is 204. Access is checked all the same: 404 for another's task.
      if (after?.phase === 2) {
        await getTask({ db: deps.db, principal: request.principal }, id);
        return reply.code(204).send();
      }
      const closed = new AbortController();
      // Access is checked here, before any byte is sent: another user's task is a 404 like a missing one.
      const events = await followTask(
        { db: deps.db, principal: request.principal, ...deps.taskEvents },
        id,
        after,
        closed.signal,
      );
      open.add(closed);
      const body = new PassThrough();
      reply.raw.once("close", () => closed.abort());
      void (async () => {
        try {
          // How long the client waits before reconnecting, if the connection drops.
          body.write("retry: 1000\n\n");
          for await (const event of events) {
            if (!body.write(serverSentEvent(event))) await once(body, "drain", { signal: closed.signal });
          }
        } catch (error) {
          if (!closed.signal.aborted) request.log.warn({ err: error, task_id: id }, "task event stream failed");
        } finally {
          open.delete(closed);
          body.end();
        }
      })();
      return reply
        .header("content-type", "text/event-stream; charset=utf-8")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .send(body);
    },
  );
}
