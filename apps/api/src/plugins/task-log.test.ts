import { Writable } from "node:stream";
import Fastify from "fastify";
import pino from "pino";
import { expect, it } from "vitest";
import { bindTaskToLog, taskChildLogger } from "./task-log.js";

/** An app logging at `level` into `lines`, with a route that writes one line at each level. */
function appLoggingAt(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const app = Fastify({ loggerInstance: pino({ level }, sink), childLoggerFactory: taskChildLogger });
  app.post("/api/task", async (request) => {
    bindTaskToLog(request, 7);
    request.log.info("stored");
    request.log.warn({ detail: 1 }, "queued late");
    return { ok: true };
  });
  app.get("/api/v1/task/:id", async (request) => {
    request.log.debug("read");
    request.log.error(new Error("boom"), "read failed");
    return { ok: true };
  });
  return { app, lines };
}

it("writes the lines of enabled levels only, each with the request's id and its task's", async () => {
  const { app, lines } = appLoggingAt("warn");
  await app.inject({ method: "POST", url: "/api/task", payload: {} });
  await app.inject({ method: "GET", url: "/api/v1/task/42" });

  expect(lines.map((line) => line.msg)).toEqual(["queued late", "read failed"]);
  const [queued, failed] = lines;
  expect(queued).toMatchObject({ level: 40, task_id: 7, detail: 1, reqId: expect.any(String) });
  expect(failed).toMatchObject({ level: 50, task_id: 42, err: { message: "boom" }, reqId: expect.any(String) });
  expect(failed!.reqId).not.toEqual(queued!.reqId);
});

it("at info writes Fastify's request lines too, the submission's with the task it created", async () => {
  const { app, lines } = appLoggingAt("info");
  await app.inject({ method: "POST", url: "/api/task", payload: {} });

  expect(lines.map((line) => line.msg)).toEqual(["incoming request", "stored", "queued late", "request completed"]);
  expect(lines[0]!.task_id).toBeUndefined();
  for (const line of lines.slice(1)) expect(line.task_id).toBe(7);
  expect(new Set(lines.map((line) => line.reqId)).size).toBe(1);
});
