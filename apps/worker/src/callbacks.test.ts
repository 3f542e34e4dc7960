// Callbacks, from the worker's side: a finished task's view POSTed to a real HTTP receiver on
// 127.0.0.1, signed, retried, stopped, capped and refused as docs/api.md ("Callbacks") says.
import { randomBytes } from "node:crypto";
import { createCallbackUrlCheck, type ResolveHost, resolveWithSystem } from "@aitasks/callbacks";
import { callbackAttempts, callbackDeliveries, tasks } from "@aitasks/db";
import { buildPricing } from "@aitasks/providers";
import { enqueue, runTaskJobOptions } from "@aitasks/queue";
import { DEFAULT_PRIORITY, findTask, OPEN_BILLING, submitTask, toTaskView } from "@aitasks/tasks";
import {
  type CallbackReceiver,
  type FakeChatServer,
  fakeAnswer,
  type ReceivedCallback,
  startCallbackReceiver,
  startFakeChatServer,
  useTestEnvironment,
  waitFor,
} from "@aitasks/testing";
import { asc, eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { reconcileTasks } from "./handlers/reconcile-tasks.js";
import { startTestWorker } from "./testing/start-test-worker.js";

const env = useTestEnvironment();
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
type TestWorker = Awaited<ReturnType<typeof startTestWorker>>;
let fake: FakeChatServer;
let receiver: CallbackReceiver;
let worker: TestWorker | undefined;

beforeAll(async () => {
  fake = await startFakeChatServer();
  receiver = await startCallbackReceiver();
});
afterAll(async () => {
  await fake?.close();
  await receiver?.close();
});
afterEach(async () => {
  await worker?.close();
  worker = undefined;
  receiver.received.length = 0;
  receiver.setReply(() => ({ kind: "status", status: 200 }));
});

/** A worker whose callbacks may reach 127.0.0.1 (the receiver), retried from 50 ms. */
function startWorker(variables: Record<string, string> = {}, resolveHost?: ResolveHost) {
  return startTestWorker(env, fake, {
    callbacks: {
      variables: {
        CALLBACK_SIGNING_SECRET: SECRET,
        CALLBACK_ALLOW_PRIVATE_NETWORKS: "true",
        CALLBACK_RETRY_BASE_MS: "50",
        ...variables,
      },
      resolveHost,
    },
  });
}

/** Submits a task as the API does (the callback_url's host checked by `resolveHost`), and queues it. */
async function submit(running: TestWorker, prompt: string, callbackUrl: string, resolveHost = resolveWithSystem) {
  const task = await submitTask(
    {
      db: running.db,
      principal: { role: "admin" },
      pricing: buildPricing(),
      defaultModels: { openai: "gpt-4o-mini", mistral: "mistral-small-latest" },
      limits: { maxPromptChars: 100_000, maxPendingTasksPerUser: 0 },
      billing: OPEN_BILLING,
      checkCallbackUrl: createCallbackUrlCheck({ allowPrivateNetworks: false, resolveHost }),
      enqueueTask: (taskId) => enqueue(running.queues, "run-task", { taskId }, runTaskJobOptions(3, DEFAULT_PRIORITY)),
      onEnqueueFailed: (_id, error) => {
        throw error;
      },
    },
    { prompt, provider: "openai", callback_url: callbackUrl },
  );
  return task.id;
}

// Submit-time checks refuse 127.0.0.1; these tests stand the receiver behind a public-looking name
// that the worker, allowed private networks, resolves to it.
const receiverHost = "hooks.example";
const publicResolver: ResolveHost = async () => [{ address: "93.184.215.14", family: 4 }];
const toReceiver: ResolveHost = async () => [{ address: "127.0.0.1", family: 4 }];
const receiverUrl = (path = "/hook") => `http://${receiverHost}:${receiver.port}${path}`;
const submitToReceiver = (running: TestWorker, prompt: string, path?: string) =>
  submit(running, prompt, receiverUrl(path), publicResolver);

const attemptsOf = (running: TestWorker, taskId: number) =>
  running.db
    .select()
    .from(callbackAttempts)
    .where(eq(callbackAttempts.taskId, taskId))
    .orderBy(asc(callbackAttempts.attempt));
const deliveryOf = async (running: TestWorker, taskId: number) =>
  (await running.db.select().from(callbackDeliveries).where(eq(callbackDeliveries.taskId, taskId)))[0];
const untilState = (running: TestWorker, taskId: number, state: string) =>
  waitFor(async () => (await deliveryOf(running, taskId))?.state === state, 20_000, {
    intervalMs: 25,
    message: `delivery of task ${taskId} ${state}`,
  });
const headersOf = (callback: ReceivedCallback) => callback.headers as Record<string, string>;

describe("callback delivery", () => {
  it("POSTs the finished task's view once, signed per Standard Webhooks, to the address it checked", async () => {
    worker = await startWorker({}, toReceiver);
    const id = await submitToReceiver(worker, "callback me");
    await untilState(worker, id, "delivered");

    expect(receiver.received).toHaveLength(1);
    const [callback] = receiver.received as [ReceivedCallback];
    // An independent implementation of the scheme verifies the signature over the exact bytes.
    const verified = new Webhook(SECRET).verify(callback.body, headersOf(callback));
    expect(verified).toMatchObject({ id, status: "completed", output: fakeAnswer("callback me") });
    // The body is the task's view, as GET /api/task/:id shows it, byte for byte.
    expect(callback.body).toBe(JSON.stringify(toTaskView((await findTask(worker.db, id))!)));
    expect(callback.headers).toMatchObject({
      "content-type": "application/json",
      "webhook-id": `task_${id}_completed`,
      host: `${receiverHost}:${receiver.port}`,
    });
    expect(Math.abs(Number(callback.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(callback.path).toBe("/hook");
    const attempts = await attemptsOf(worker, id);
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 200, error: null, durationMs: expect.any(Number) }),
    ]);
  });

  it("retries with growing delays until a 2xx, the same message each time, and never sends it after", async () => {
    worker = await startWorker({}, toReceiver);
    receiver.setReply((_callback, index) => ({ kind: "status", status: [500, 503][index] ?? 204 }));
    const id = await submitToReceiver(worker, "retry me");
    await untilState(worker, id, "delivered");

    expect(receiver.received).toHaveLength(3);
    const [first, second, third] = receiver.received as [ReceivedCallback, ReceivedCallback, ReceivedCallback];
    for (const callback of receiver.received) {
      expect(callback.headers["webhook-id"]).toBe(`task_${id}_completed`);
      expect(() => new Webhook(SECRET).verify(callback.body, headersOf(callback))).not.toThrow();
    }
    // CALLBACK_RETRY_BASE_MS 50: 50 ms after the first failure, 150 ms after the second.
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(45);
    expect(third.receivedAt - second.receivedAt).toBeGreaterThanOrEqual(140);
    expect((await attemptsOf(worker, id)).map((a) => [a.attempt, a.statusCode, a.error])).toEqual([
      [1, 500, "the receiver answered 500"],
      [2, 503, "the receiver answered 503"],
      [3, 204, null],
    ]);

    // Its job delivered again (or queued again by hand): the delivered message is not sent again.
    const job = await worker.queues.callbacks.getJob(`callback-${id}`);
    expect(await job?.getState()).toBe("completed");
    await job!.remove();
    await worker.deps.enqueueCallback(id);
    await waitFor(async () => (await worker!.queues.callbacks.getJob(`callback-${id}`))?.isCompleted(), 10_000);
    expect(receiver.received).toHaveLength(3);
    expect(await attemptsOf(worker, id)).toHaveLength(3);
  });

  it("stops at a 410 Gone", async () => {
    worker = await startWorker({}, toReceiver);
    receiver.setReply(() => ({ kind: "status", status: 410 }));
    const id = await submitToReceiver(worker, "gone");
    await untilState(worker, id, "stopped");

    expect(await attemptsOf(worker, id)).toEqual([
      expect.objectContaining({
        attempt: 1,
        statusCode: 410,
        error: "the receiver answered 410 Gone: no more attempts",
      }),
    ]);
    await waitFor(async () => (await worker!.queues.callbacks.getJob(`callback-${id}`))?.isCompleted(), 10_000);
    expect(receiver.received).toHaveLength(1);
  });

  it("gives up after CALLBACK_MAX_ATTEMPTS attempts", async () => {
    worker = await startWorker({ CALLBACK_MAX_ATTEMPTS: "3" }, toReceiver);
    receiver.setReply(() => ({ kind: "status", status: 500 }));
    const id = await submitToReceiver(worker, "never accepted");
    await untilState(worker, id, "failed");

    expect((await attemptsOf(worker, id)).map((a) => a.statusCode)).toEqual([500, 500, 500]);
    expect(receiver.received).toHaveLength(3);
    await waitFor(async () => (await worker!.queues.callbacks.getJob(`callback-${id}`))?.isFailed(), 10_000);
    // A failed delivery is over: the reconciler does not bring it back.
    const reconciled = await reconcileTasks({
      ...worker.deps,
      config: { ...worker.deps.config, RECONCILE_AFTER_MS: 1 },
    });
    expect(reconciled.callbacksRequeued).toBe(0);
  });

  it("records a receiver that does not answer within CALLBACK_TIMEOUT_MS, closes on it, and tries again", async () => {
    worker = await startWorker({ CALLBACK_TIMEOUT_MS: "300" }, toReceiver);
    receiver.setReply((_callback, index) => (index === 0 ? { kind: "hang" } : { kind: "status", status: 200 }));
    const id = await submitToReceiver(worker, "slow receiver");
    await untilState(worker, id, "delivered");

    expect((await attemptsOf(worker, id)).map((a) => [a.statusCode, a.error])).toEqual([
      [null, "no answer within 300 ms"],
      [200, null],
    ]);
    await receiver.received[0]!.closed;
  });

  it("reads at most 64 KiB of an answer's body, then closes the connection; the status counts", async () => {
    worker = await startWorker({}, toReceiver);
    receiver.setReply(() => ({ kind: "endless", status: 200 }));
    const id = await submitToReceiver(worker, "endless answer");
    await untilState(worker, id, "delivered");

    const written = await receiver.received[0]!.closed;
    // What the receiver wrote until the sender hung up: the cap plus what the socket buffers held.
    expect(written).toBeGreaterThanOrEqual(64 * 1024);
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(await attemptsOf(worker, id)).toEqual([expect.objectContaining({ statusCode: 200, error: null })]);
  });

  it("does not follow a redirect: it is a failed attempt", async () => {
    worker = await startWorker({}, toReceiver);
    receiver.setReply((callback) =>
      callback.path === "/moved"
        ? { kind: "status", status: 302, headers: { location: `${receiver.url}/elsewhere` } }
        : { kind: "status", status: 200 },
    );
    const id = await submitToReceiver(worker, "redirected", "/moved");
    await waitFor(async () => (await attemptsOf(worker!, id)).length >= 2, 10_000);

    const [first] = await attemptsOf(worker, id);
    expect(first).toMatchObject({ statusCode: 302, error: "the receiver answered 302: redirects are not followed" });
    expect(receiver.received.map((callback) => callback.path)).not.toContain("/elsewhere");
  });

  it("checks the host again at delivery: a name that now resolves to 127.0.0.1 is refused and nothing is sent", async () => {
    // At submit the name resolves to a public address; by delivery it points at this machine.
    worker = await startWorker({ CALLBACK_ALLOW_PRIVATE_NETWORKS: "false", CALLBACK_MAX_ATTEMPTS: "2" }, toReceiver);
    const id = await submitToReceiver(worker, "rebinding");
    await untilState(worker, id, "failed");

    const refused = `not sent: the host "${receiverHost}" resolves to 127.0.0.1, a loopback address: callbacks go to public addresses only`;
    expect((await attemptsOf(worker, id)).map((a) => [a.statusCode, a.error])).toEqual([
      [null, refused],
      [null, refused],
    ]);
    expect(receiver.received).toHaveLength(0);
  });

  it("sends nothing, and says why, when the worker has no CALLBACK_SIGNING_SECRET", async () => {
    worker = await startWorker({ CALLBACK_SIGNING_SECRET: "", CALLBACK_MAX_ATTEMPTS: "1" }, toReceiver);
    const id = await submitToReceiver(worker, "unsigned");
    await untilState(worker, id, "failed");

    expect(await attemptsOf(worker, id)).toEqual([
      expect.objectContaining({
        statusCode: null,
        error: "not sent: CALLBACK_SIGNING_SECRET is not configured on the worker",
      }),
    ]);
    expect(receiver.received).toHaveLength(0);
  });

  it("goes on after the worker stops between attempts: another worker makes the next one", async () => {
    worker = await startWorker({ CALLBACK_RETRY_BASE_MS: "1500" }, toReceiver);
    receiver.setReply((_callback, index) => ({ kind: "status", status: index === 0 ? 500 : 200 }));
    const id = await submitToReceiver(worker, "across workers");
    await waitFor(async () => (await attemptsOf(worker!, id))[0]?.durationMs != null, 10_000);
    await worker.close();
    worker = undefined;
    expect(await attemptsOf(await startWorker({}, toReceiver).then((next) => (worker = next)), id)).toHaveLength(1);

    await untilState(worker!, id, "delivered");
    expect((await attemptsOf(worker!, id)).map((a) => a.statusCode)).toEqual([500, 200]);
    expect(receiver.received).toHaveLength(2);
  });

  it("queues the callback of a task that finished without its job (a lost enqueue), from the reconciler", async () => {
    worker = await startWorker({}, toReceiver);
    // The task ends in a statement of its own, as a crash between the commit and the enqueue leaves it.
    const [row] = await worker.db
      .insert(tasks)
      .values({ provider: "openai", model: "gpt-4o-mini", input: "lost", callbackUrl: receiverUrl() })
      .returning({ id: tasks.id });
    const id = row!.id;
    await worker.db
      .update(tasks)
      .set({ status: "failed", error: "boom", completedAt: new Date() })
      .where(eq(tasks.id, id));
    expect(await deliveryOf(worker, id)).toMatchObject({
      state: "pending",
      attempts: 0,
      messageId: `task_${id}_failed`,
    });
    await new Promise((resolve) => setTimeout(resolve, 20));

    const deps = { ...worker.deps, config: { ...worker.deps.config, RECONCILE_AFTER_MS: 1 } };
    expect((await reconcileTasks(deps)).callbacksRequeued).toBe(1);
    await untilState(worker, id, "delivered");
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ id, status: "failed", error: "boom" });
    expect((await reconcileTasks(deps)).callbacksRequeued).toBe(0);
  });
});
