// End to end, callbacks: the real API and worker processes, a receiver on 127.0.0.1 (allowed by
// CALLBACK_ALLOW_PRIVATE_NETWORKS=true), driven over HTTP with the typed client. A finished task's view arrives signed;
// retries are BullMQ jobs, so a worker killed between two attempts leaves the next one to another.
import { randomBytes } from "node:crypto";
import { type Client, createClient } from "@aitasks/client";
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
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
let fake: FakeChatServer;
let receiver: CallbackReceiver;
let api: StartedApi;
let worker: RunningProcess;
let client: Client;

const callbackEnv = {
  CALLBACK_SIGNING_SECRET: SECRET,
  CALLBACK_ALLOW_PRIVATE_NETWORKS: "true",
  // Long enough to kill the worker between two attempts.
  CALLBACK_RETRY_BASE_MS: "1500",
  WORKER_LOCK_DURATION_MS: "2000",
};
const startWorker = () => startWorkerProcess(env, fake, callbackEnv);

beforeAll(async () => {
  fake = await startFakeChatServer((request) =>
    request.prompt.startsWith("hang") ? { kind: "hang" } : { kind: "ok" },
  );
  receiver = await startCallbackReceiver();
  worker = startWorker();
  api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ...callbackEnv,
  });
  client = createClient({ baseUrl: api.baseUrl });
});
afterAll(async () => {
  await killAll();
  await receiver?.close();
  await fake?.close();
});

const outputs = () => `--- worker ---\n${worker.output()}\n--- api ---\n${api.proc.output()}`;
const callbacksOf = (id: number) => client.listCallbacks(id);
const submit = async (body: { prompt: string; callback_url: string }) => {
  const answer = await client.submitTask(body);
  expect(answer.status).toBe("pending");
  return answer.task_id;
};
const untilDelivered = (id: number) =>
  waitFor(async () => (await callbacksOf(id)).state === "delivered", 30_000, {
    intervalMs: 100,
    message: () => `task ${id}'s callback delivered\n${outputs()}`,
  });

describe("callbacks between the real processes", () => {
  it("POSTs a completed task's view, signed, and lists the attempt", async () => {
    const id = await submit({ prompt: "e2e callback", callback_url: `${receiver.url}/done` });
    await untilDelivered(id);

    const callback = receiver.received.find((received) => received.headers["webhook-id"] === `task_${id}_completed`)!;
    const verified = new Webhook(SECRET).verify(callback.body, callback.headers as Record<string, string>);
    expect(verified).toEqual(await client.getTask(id));
    expect(await callbacksOf(id)).toMatchObject({
      state: "delivered",
      attempts: [{ attempt: 1, status_code: 200, error: null }],
    });
  });

  it("POSTs a canceled task's view", async () => {
    const id = await submit({ prompt: "hang until canceled", callback_url: `${receiver.url}/c` });
    await waitFor(() => fake.requests.some((request) => request.prompt === "hang until canceled"), 20_000);
    expect(await client.cancelTask(id)).toMatchObject({ id, status: "canceled" });
    await untilDelivered(id);

    const callback = receiver.received.find((received) => received.headers["webhook-id"] === `task_${id}_canceled`)!;
    expect(JSON.parse(callback.body)).toMatchObject({ id, status: "canceled", error: "canceled by the client" });
  });

  it("makes the next attempt after the worker was killed between two attempts", async () => {
    receiver.setReply((callback) => ({ kind: "status", status: callback.path === "/flaky" ? 500 : 200 }));
    const id = await submit({ prompt: "across a crash", callback_url: `${receiver.url}/flaky` });
    await waitFor(async () => (await callbacksOf(id)).attempts[0]?.status_code === 500, 30_000, {
      message: () => `a first attempt\n${outputs()}`,
    });
    expect(await worker.kill9()).toBe(137);

    receiver.setReply(() => ({ kind: "status", status: 200 }));
    worker = startWorker();
    await untilDelivered(id);
    expect((await callbacksOf(id)).attempts.map((attempt) => attempt.status_code)).toEqual([500, 200]);
  });
});
