// End to end, logs: one task followed through the real API and worker processes by its `task_id`,
// from the request that created it to the worker that ran it and the callback it sent. Every JSON
// log line about the task (its URL, its jobs, its id) must carry `task_id`, so one grep finds all.
import { randomBytes } from "node:crypto";
import {
  type CallbackReceiver,
  type FakeChatServer,
  killAll,
  type RunningProcess,
  type StartedApi,
  startApi,
  startCallbackReceiver,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

const env = useTestEnvironment();
const logging = {
  LOG_LEVEL: "info",
  CALLBACK_SIGNING_SECRET: `whsec_${randomBytes(32).toString("base64")}`,
  CALLBACK_ALLOW_PRIVATE_NETWORKS: "true",
};
let fake: FakeChatServer;
let receiver: CallbackReceiver;
let api: StartedApi;
let worker: RunningProcess;

beforeAll(async () => {
  fake = await startFakeChatServer();
  receiver = await startCallbackReceiver();
  worker = startWorkerProcess(env, fake, logging);
  api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ...logging,
  });
}, 60_000);
afterAll(async () => {
  await killAll();
  await receiver?.close();
  await fake?.close();
});

type LogLine = Record<string, unknown> & { msg?: string; task_id?: unknown };

/** The JSON lines a process wrote (anything else it printed is not a log line). */
function jsonLines(output: string): LogLine[] {
  return output
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as LogLine);
}

it("puts task_id on every line about a task, in the API and in the worker", async () => {
  const created = await fetch(`${api.baseUrl}/api/task?wait=20`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "follow me through the logs", callback_url: `${receiver.url}/logs` }),
  });
  expect(created.status).toBe(200);
  const id = ((await created.json()) as { task_id: number }).task_id;
  for (const path of [`/api/task/${id}`, `/api/v1/task/${id}`, `/api/task/${id}/callbacks`]) {
    expect((await fetch(`${api.baseUrl}${path}`)).status, path).toBe(200);
  }
  await waitFor(() => receiver.received.length > 0, 20_000, { message: "the callback" });
  await waitFor(() => worker.output().includes("callback attempt ended"), 10_000, {
    message: () => `the worker's callback line:\n${worker.output()}`,
  });
  // Both stopped, so every line is written.
  expect(await Promise.all([api.proc.stop("SIGTERM"), worker.stop("SIGTERM")])).toEqual([0, 0]);

  const lines = [...jsonLines(api.proc.output()), ...jsonLines(worker.output())];
  // A line is about the task if it names it anywhere: its URL, one of its jobs, or its id.
  const mentions = new RegExp(`/task/${id}\\b|"(task|callback)-${id}"|"task_?[iI]d":${id}\\b`);
  const about = lines.filter((line) => mentions.test(JSON.stringify(line)));
  const without = about.filter((line) => line.task_id !== id);
  expect(without, JSON.stringify(without, null, 1)).toEqual([]);

  const messages = about.map((line) => line.msg);
  // The API: the creating request's answer (bound once the id was known), and each request by URL.
  expect(messages.filter((msg) => msg === "incoming request").length).toBe(3);
  expect(messages.filter((msg) => msg === "request completed").length).toBe(4);
  // The worker: its run and its callback.
  expect(messages).toContain("task run ended");
  expect(messages).toContain("callback attempt ended");
  const run = about.find((line) => line.msg === "task run ended");
  expect(run).toMatchObject({ job_id: `task-${id}`, outcome: "completed", task_id: id });
});
