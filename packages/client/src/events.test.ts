// A task's events and waitForTask through the client, against the API and worker processes with a
// TCP proxy in front of the API that a test cuts mid-stream: the client reconnects with
// Last-Event-ID, and what it hands on has every piece of output exactly once.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  type FakeChatServer,
  fakeAnswer,
  type RunningProcess,
  type StartedApi,
  startApi,
  startFakeChatServer,
  startTcpProxy,
  startWorkerProcess,
  type TcpProxy,
  useTestEnvironment,
} from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError } from "./api-error.js";
import { createClient } from "./create-client.js";
import type { TaskEvent } from "./types.js";

const env = useTestEnvironment();
const PIECES = ["one ", "two ", "three ", "four ", "five ", "six — é🙂"];
let fake: FakeChatServer;
let worker: RunningProcess;
let api: StartedApi;
let front: TcpProxy;

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    if (request.prompt.startsWith("streamed"))
      return { kind: "ok", text: PIECES.join(""), pieces: PIECES, pieceDelayMs: 400 };
    if (request.prompt.startsWith("refused")) return { kind: "status", status: 400, message: "bad request" };
    if (request.prompt.startsWith("slow")) return { kind: "ok", delayMs: 8000 };
    return { kind: "ok" };
  });
  api = await startApi({ DATABASE_URL: env.databaseUrl, REDIS_URL: env.redisUrl, QUEUE_PREFIX: env.queuePrefix });
  front = await startTcpProxy({ host: "127.0.0.1", port: Number(new URL(api.baseUrl).port) });
  worker = startWorkerProcess(env, fake);
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  // Not SIGTERM: after a fetch is aborted mid-stream, Node's fetch (undici) opens a spare connection
  // that never sends a request, and the API's graceful close waits for it until its 20 s limit.
  await api?.proc.kill9();
  await Promise.all([front?.close(), fake?.close()]);
});

const client = () => createClient({ baseUrl: api.baseUrl });

describe("events", () => {
  it("reconnects after the connection is cut, resuming after the last event it got", async () => {
    const sent: (string | null)[] = [];
    const proxied = createClient({
      baseUrl: front.proxied(api.baseUrl),
      fetch: (input, init) => {
        sent.push(new Headers(init?.headers).get("last-event-id"));
        return fetch(input, init);
      },
    });
    const { task_id } = await client().submitTask({ prompt: `streamed ${randomUUID()}`, stream: true });

    const events: TaskEvent[] = [];
    let cutAfter: string | undefined;
    for await (const event of proxied.events(task_id)) {
      events.push(event);
      if (!cutAfter && events.filter((e) => e.type === "delta").length === 2) {
        cutAfter = event.id;
        front.down();
        front.up();
      }
    }

    expect(sent).toEqual([null, cutAfter]);
    const last = events.at(-1);
    expect(last).toMatchObject({ type: "status", id: "end", task: { status: "completed", output: PIECES.join("") } });
    const text = events.flatMap((event) => (event.type === "delta" ? [event.text] : [])).join("");
    expect(text).toBe(PIECES.join(""));
    // Ids only move forward: nothing was sent twice.
    const ids = events.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
  }, 30_000);

  it("starts after a given Last-Event-ID, and throws the API's 400 for one it never sent", async () => {
    const { task_id } = await client().submitTask({ prompt: "resume a finished task" });
    const finished = await client().waitForTask(task_id, { timeoutMs: 15_000 });
    const events: TaskEvent[] = [];
    for await (const event of client().events(task_id, { lastEventId: "0" })) events.push(event);
    expect(events.at(-1)).toEqual({ type: "status", id: "end", task: finished });
    expect(events.some((event) => event.type === "status" && event.task.status === "pending")).toBe(false);

    const error = await client()
      .events(task_id, { lastEventId: "bogus" })
      .next()
      .catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 400, code: "VALIDATION" });
  });

  it("stops when its signal aborts", async () => {
    const { task_id } = await client().submitTask({ prompt: `slow: aborted ${randomUUID()}` });
    const controller = new AbortController();
    const seen: TaskEvent[] = [];
    const reading = (async () => {
      for await (const event of client().events(task_id, { signal: controller.signal })) {
        seen.push(event);
        controller.abort();
      }
    })();
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    expect(seen).toHaveLength(1);
    await client().cancelTask(task_id);
  });

  it("hands on nothing after its signal aborts, even events that came in the same chunk", async () => {
    // Two events in one write: the second is parsed before the caller aborts on the first.
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write('id: 1\nevent: delta\ndata: {"text":"a"}\n\nid: 2\nevent: delta\ndata: {"text":"b"}\n\n');
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { port } = server.address() as AddressInfo;
      const controller = new AbortController();
      const seen: TaskEvent[] = [];
      const reading = (async () => {
        for await (const event of createClient({ baseUrl: `http://127.0.0.1:${port}` }).events(1, {
          signal: controller.signal,
        })) {
          seen.push(event);
          controller.abort();
        }
      })();
      await expect(reading).rejects.toMatchObject({ name: "AbortError" });
      expect(seen).toEqual([{ type: "delta", id: "1", text: "a" }]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("waitForTask", () => {
  it("resolves with the final view: completed or failed", async () => {
    const done = await client().submitTask({ prompt: "wait for me" });
    expect(await client().waitForTask(done.task_id, { timeoutMs: 15_000 })).toMatchObject({
      id: done.task_id,
      status: "completed",
      output: fakeAnswer("wait for me"),
    });
    const refused = await client().submitTask({ prompt: "refused by the provider" });
    expect(await client().waitForTask(refused.task_id, { timeoutMs: 15_000 })).toMatchObject({
      status: "failed",
      output: null,
      error: expect.any(String),
    });
  });

  it("rejects with a TimeoutError when the task outlasts timeoutMs, and a 404 for no such task", async () => {
    const { task_id } = await client().submitTask({ prompt: `slow: timed out ${randomUUID()}` });
    const started = Date.now();
    await expect(client().waitForTask(task_id, { timeoutMs: 500 })).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - started).toBeLessThan(3000);
    const canceled = await client().cancelTask(task_id);
    expect(await client().waitForTask(task_id, { timeoutMs: 5000 })).toEqual(canceled);

    await expect(client().waitForTask(999_999)).rejects.toMatchObject({ status: 404, code: "NOT_FOUND" });
  });
});
