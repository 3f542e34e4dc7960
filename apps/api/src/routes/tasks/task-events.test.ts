// GET /api/task/:id/events: Server-Sent Events over real HTTP from two API instances sharing one
// database and Redis, with a real worker process streaming from the fake provider.
import {
  type FakeChatServer,
  openEventStream,
  type ReceivedEvent,
  type RunningProcess,
  startFakeChatServer,
  startWorkerProcess,
  useTestEnvironment,
} from "@aitasks/testing";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../../testing/create-test-app.js";

const env = useTestEnvironment();
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
const ADMIN = "admin-key-events-123456";
let a: TestApp;
let b: TestApp;
let urlA: string;
let urlB: string;
let fake: FakeChatServer;
let worker: RunningProcess;
let userKeys: { alice: string; bob: string };

const PIECES = ["The ", "capital ", "of France ", "is ", "Paris, ", "of course — é🙂", "."];
// A "retried:" task's first run streams these, then its connection is cut; the second run wins.
const LOST_RUN = ["lost ", "first ", "run — ü"];
const WINNING_RUN = ["second ", "run ", "wins"];
const runsOf = new Map<string, number>();

beforeAll(async () => {
  fake = await startFakeChatServer((request) => {
    if (request.prompt.startsWith("slow"))
      return { kind: "ok", text: PIECES.join(""), pieces: PIECES, pieceDelayMs: 150 };
    if (request.prompt.startsWith("hang")) return { kind: "ok", pieces: ["first "], hangAfterPieces: true };
    if (request.prompt.startsWith("retried")) {
      const run = (runsOf.get(request.prompt) ?? 0) + 1;
      runsOf.set(request.prompt, run);
      return run === 1
        ? { kind: "ok", pieces: LOST_RUN, pieceDelayMs: 100, resetAfterPieces: true }
        : { kind: "ok", text: WINNING_RUN.join(""), pieces: WINNING_RUN, pieceDelayMs: 300 };
    }
    return { kind: "ok", delayMs: 200 };
  });
  const variables = { ADMIN_API_KEY: ADMIN, EVENTS_HEARTBEAT_MS: "300" };
  a = await createTestApp(env, {}, variables);
  b = await createTestApp(env, {}, variables);
  urlA = await a.app.listen({ port: 0, host: "127.0.0.1" });
  urlB = await b.app.listen({ port: 0, host: "127.0.0.1" });
  worker = startWorkerProcess(env, fake, { PROVIDER_TIMEOUT_MS: "60000" });
  const key = async (user: string) => {
    const response = await fetch(`${urlA}/api/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: user }),
    });
    expect(response.status).toBe(201);
    return ((await response.json()) as { key: string }).key;
  };
  userKeys = { alice: await key("alice"), bob: await key("bob") };
});
afterAll(async () => {
  await worker?.stop();
  await a?.close();
  await b?.close();
  await fake?.close();
});

const auth = (key = ADMIN) => ({ authorization: `Bearer ${key}` });

async function submit(body: Record<string, unknown>, key = ADMIN): Promise<number> {
  const response = await fetch(`${urlA}/api/task`, {
    method: "POST",
    headers: { ...auth(key), "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { task_id: number }).task_id;
}

const events = (base: string, id: number, headers: Record<string, string> = {}, key = ADMIN) =>
  openEventStream(`${base}/api/task/${id}/events`, { ...auth(key), ...headers });

const deltas = (received: ReceivedEvent[]) =>
  received.filter((event) => event.event === "delta").map((event) => (event.data as { text: string }).text);
const statuses = (received: ReceivedEvent[]) =>
  received.filter((event) => event.event === "status").map((event) => (event.data as { status: string }).status);
const last = (received: ReceivedEvent[]) => received.at(-1)?.data as Record<string, unknown> | undefined;

describe("GET /api/task/:id/events", () => {
  it("streams the status at once, the output as it is written, then the final view, and ends", async () => {
    const id = await submit({ prompt: "slow: stream me", stream: true });
    const stream = await events(urlA, id);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(stream.headers.get("cache-control")).toBe("no-cache");

    expect(await stream.finished(30_000)).toBe(true);
    const received = stream.events;
    expect(received[0]).toMatchObject({ event: "status", data: { id, status: expect.any(String) } });
    expect(statuses(received).at(-1)).toBe("completed");
    expect(statuses(received)).toContain("processing");
    // Pieces may be sent together, never altered: their concatenation is the stored output.
    expect(deltas(received).length).toBeGreaterThan(1);
    expect(deltas(received).join("")).toBe(PIECES.join(""));
    expect(last(received)).toMatchObject({ id, status: "completed", output: PIECES.join(""), stream: true });
    // Ids grow with each event, and are unique.
    const ids = received.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.at(-1)).toBe("end");
  });

  it("resumes after Last-Event-ID on another API instance: nothing missed, nothing repeated", async () => {
    const id = await submit({ prompt: "slow: resume me elsewhere", stream: true });
    const first = await events(urlA, id);
    expect(await first.until((received) => deltas(received).length >= 2, 30_000)).toBe(true);
    first.close();
    const seen = [...first.events];
    const lastId = seen.at(-1)!.id!;
    expect(lastId).toMatch(/^1\.\d+$/);

    const second = await events(urlB, id, { "last-event-id": lastId });
    expect(await second.finished(30_000)).toBe(true);
    // No status repeated for the run already seen; the final one closes the stream.
    expect(statuses(second.events)).toEqual(["completed"]);
    expect(deltas([...seen, ...second.events]).join("")).toBe(PIECES.join(""));
    expect(last(second.events)).toMatchObject({ status: "completed", output: PIECES.join("") });
  });

  it("a retried run starts the output again with a processing status; a resume from the lost run gets the new one whole", async () => {
    const id = await submit({ prompt: "retried: stream me twice", stream: true });
    const live = await events(urlA, id);
    // Run 1 streams its pieces and dies; the queue runs the task again a second later.
    expect(await live.until((received) => deltas(received).includes("second "), 30_000)).toBe(true);
    const lostRunIds = live.events.filter((event) => event.id?.startsWith("1.")).map((event) => event.id!);
    expect(lostRunIds.length).toBeGreaterThan(0);

    // A client that saw only part of the lost run resumes on the other instance mid-way through run 2.
    const resumed = await events(urlB, id, { "last-event-id": lostRunIds[0]! });
    expect(await live.finished(30_000)).toBe(true);
    expect(await resumed.finished(30_000)).toBe(true);

    for (const stream of [live.events, resumed.events]) {
      const secondRun = stream.findIndex(
        (event) => event.event === "status" && (event.data as { attempts: number }).attempts === 2,
      );
      expect(secondRun).toBeGreaterThanOrEqual(0);
      expect(stream[secondRun]).toMatchObject({ id: "2.0", data: { status: "processing" } });
      // After the new run's status, its output from its start: nothing of the lost run mixed in.
      expect(deltas(stream.slice(secondRun)).join("")).toBe(WINNING_RUN.join(""));
      expect(last(stream)).toMatchObject({ status: "completed", output: WINNING_RUN.join(""), attempts: 2 });
    }
    // The live stream saw the lost run's text as it came, in its own run's ids.
    expect(deltas(live.events.filter((event) => event.id?.startsWith("1."))).join("")).toBe(LOST_RUN.join(""));
    expect(resumed.events.some((event) => event.id?.startsWith("1."))).toBe(false);
  });

  it("a task that does not stream its output gets status events only", async () => {
    const id = await submit({ prompt: "plain task" });
    const stream = await events(urlB, id);
    expect(await stream.finished(30_000)).toBe(true);
    expect(deltas(stream.events)).toEqual([]);
    expect(statuses(stream.events).at(-1)).toBe("completed");
    expect(last(stream.events)).toMatchObject({ id, status: "completed", output: "answer to: plain task" });
  });

  it("a finished task gets its final status and the stream ends; a reconnect after the end is 204", async () => {
    const id = await submit({ prompt: "finished before anyone listened" });
    const done = await events(urlA, id);
    await done.finished(30_000);
    const again = await events(urlB, id);
    expect(await again.finished()).toBe(true);
    expect(again.events).toHaveLength(1);
    expect(again.events[0]).toMatchObject({ id: "end", event: "status", data: { id, status: "completed" } });

    const after = await events(urlB, id, { "last-event-id": "end" });
    expect(after.status).toBe(204);
    expect(after.headers.get("content-type")).toBeNull();
    expect(after.events).toEqual([]);
  });

  it("a standard EventSource (the eventsource package) follows a task to its end, then stops: 204 to its reconnect", async () => {
    const id = await submit({ prompt: "slow: follow me with EventSource", stream: true });
    const answered: number[] = [];
    const sentIds: (string | null)[] = [];
    const source = new EventSource(`${urlA}/api/task/${id}/events`, {
      fetch: async (input, init) => {
        sentIds.push(new Headers(init?.headers).get("last-event-id"));
        const response = await fetch(input, { ...init, headers: { ...init?.headers, ...auth() } });
        answered.push(response.status);
        return response;
      },
    });
    const received: { id: string; event: string; data: { status?: string; text?: string } }[] = [];
    for (const type of ["status", "delta"]) {
      source.addEventListener(type, (event) =>
        received.push({ id: event.lastEventId, event: type, data: JSON.parse(event.data) }),
      );
    }
    // It stops by itself (CLOSED after a 204); a client that reconnects on is stopped here after a few tries.
    await new Promise<void>((resolve) => {
      source.addEventListener("error", () => {
        if (source.readyState === EventSource.CLOSED || answered.length > 4) resolve();
      });
    });
    const closedByItself = source.readyState === EventSource.CLOSED;
    source.close();

    expect(answered).toEqual([200, 204]);
    expect(closedByItself).toBe(true);
    // The reconnect named the last event it had: the final status.
    expect(sentIds).toEqual([null, "end"]);
    expect(received.at(-1)).toMatchObject({ id: "end", event: "status", data: { status: "completed" } });
    expect(
      received
        .filter((event) => event.event === "delta")
        .map((event) => event.data.text)
        .join(""),
    ).toBe(PIECES.join(""));
  });

  it("sends heartbeats while nothing happens, and ends with the canceled status when the task is canceled elsewhere", async () => {
    const id = await submit({ prompt: "hang: cancel my stream", stream: true });
    const stream = await events(urlA, id);
    expect(await stream.until((received) => deltas(received).includes("first "), 30_000)).toBe(true);
    // EVENTS_HEARTBEAT_MS is 300 here.
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(stream.comments).toContain("heartbeat");

    const canceled = await fetch(`${urlB}/api/task/${id}/cancel`, { method: "POST", headers: auth() });
    expect(canceled.status).toBe(200);
    expect(await stream.finished()).toBe(true);
    expect(statuses(stream.events).at(-1)).toBe("canceled");
    expect(last(stream.events)).toMatchObject({ status: "canceled", charged: null });
  });

  it("is another user's task: 404 as for reading it; the owner's key streams it", async () => {
    const id = await submit({ prompt: "alice's task" }, userKeys.alice);
    const bob = await events(urlA, id, {}, userKeys.bob);
    expect(bob.status).toBe(404);
    expect(await bob.json()).toMatchObject({ error: `task ${id} not found`, code: "NOT_FOUND" });
    const bobAfterTheEnd = await events(urlA, id, { "last-event-id": "end" }, userKeys.bob);
    expect(bobAfterTheEnd.status).toBe(404);
    const alice = await events(urlA, id, {}, userKeys.alice);
    expect(alice.status).toBe(200);
    expect(await alice.finished(30_000)).toBe(true);
    expect(statuses(alice.events).at(-1)).toBe("completed");
  });

  it("refuses a Last-Event-ID it could not have sent, a bad id, an unknown task, no key", async () => {
    const id = await submit({ prompt: "refusals" });
    for (const garbage of ["abc", "1.", "-1", "1.2.3", "01.0", "0.5", "9999999.0"]) {
      const refused = await events(urlA, id, { "last-event-id": garbage });
      expect(refused.status, garbage).toBe(400);
      expect((await refused.json()).error).toBe("Last-Event-ID must be the id of an event this stream sent");
    }
    expect((await events(urlA, 0)).status).toBe(400);
    expect((await events(urlA, 987654321)).status).toBe(404);
    const anonymous = await openEventStream(`${urlA}/api/task/${id}/events`);
    expect(anonymous.status).toBe(401);
  });
});
