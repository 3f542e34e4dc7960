// Every answer carries x-request-id: routes and their errors, 404 and 405, pages, streams, 304s,
// and the answers to requests that are not valid HTTP.
import { once } from "node:events";
import { get, type IncomingMessage } from "node:http";
import { connect } from "node:net";
import { useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const env = useTestEnvironment();
const ADMIN = "admin-key-request-id-0123456";
const admin = { authorization: `Bearer ${ADMIN}` };
const OURS = /^req-[0-9a-f]{16}$/;
type TestApp = Awaited<ReturnType<typeof createTestApp>>;
let t: TestApp;
let baseUrl: string;
let session: string;

beforeAll(async () => {
  t = await createTestApp(env, {}, { ADMIN_API_KEY: ADMIN }, (app) => {
    // Nothing of ours answers 304 yet; a route that does shows what a future one will carry.
    app.get("/probe/not-modified", (_request, reply) => reply.code(304).send());
  });
  baseUrl = await t.app.listen({ port: 0, host: "127.0.0.1" });
  const signIn = await t.app.inject({
    method: "POST",
    url: "/dashboard/sign-in",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ key: ADMIN, next: "/dashboard" }).toString(),
  });
  session = String(signIn.headers["set-cookie"]).split(";")[0] ?? "";
});
afterAll(() => t?.close());

describe("x-request-id", () => {
  const answers: [
    string,
    { method: "GET" | "HEAD" | "POST" | "DELETE"; url: string; signedIn?: boolean; key?: boolean; payload?: object },
  ][] = [
    ["/health", { method: "GET", url: "/health" }],
    ["HEAD /health", { method: "HEAD", url: "/health" }],
    ["/metrics", { method: "GET", url: "/metrics", key: true }],
    ["/metrics without a token (401)", { method: "GET", url: "/metrics" }],
    ["/openapi.json", { method: "GET", url: "/openapi.json" }],
    ["/docs", { method: "GET", url: "/docs" }],
    ["a 200", { method: "GET", url: "/api/stats", key: true }],
    ["a 202", { method: "POST", url: "/api/v1/task", key: true, payload: { prompt: "hi" } }],
    ["a 400", { method: "POST", url: "/api/task", key: true, payload: { prompt: "" } }],
    ["a 401", { method: "GET", url: "/api/tasks" }],
    ["a missing task (404)", { method: "GET", url: "/api/task/999999", key: true }],
    ["an unknown path (404)", { method: "GET", url: "/nowhere" }],
    ["a method the path does not serve (405)", { method: "DELETE", url: "/api/task/1" }],
    ["the sign-in page", { method: "GET", url: "/dashboard/sign-in" }],
    ["a dashboard page, signed out (401)", { method: "GET", url: "/dashboard" }],
    ["a dashboard page", { method: "GET", url: "/dashboard/users", signedIn: true }],
    ["an unknown dashboard page (404)", { method: "GET", url: "/dashboard/nowhere", signedIn: true }],
    ["the queue board", { method: "GET", url: "/admin/queues", signedIn: true }],
    ["a 304", { method: "GET", url: "/probe/not-modified" }],
  ];

  it.each(answers)("is on %s, and is the body's request_id", async (_name, sample) => {
    const response = await t.app.inject({
      method: sample.method,
      url: sample.url,
      headers: { ...(sample.key ? admin : {}), ...(sample.signedIn ? { cookie: session } : {}) },
      ...(sample.payload ? { payload: sample.payload } : {}),
    });
    const id = response.headers["x-request-id"];
    expect(id, `${response.statusCode} ${response.body.slice(0, 200)}`).toMatch(OURS);
    if (String(response.headers["content-type"]).startsWith("application/json") && response.statusCode >= 400) {
      expect(response.json().request_id).toBe(id);
    }
  });

  it("is the client's own id when well-formed (a proxy's trace id)", async () => {
    const traced = { "x-request-id": "trace-4bf92f3577b34da6a3ce929d0e0e4736" };
    for (const url of ["/health", "/nowhere"]) {
      const response = await t.app.inject({ method: "GET", url, headers: traced });
      expect(response.headers["x-request-id"]).toBe(traced["x-request-id"]);
    }
  });

  it("is on an event stream's answer, sent before its first event", async () => {
    const submitted = await fetch(`${baseUrl}/api/task`, {
      method: "POST",
      headers: { ...admin, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "followed" }),
    });
    const { task_id } = (await submitted.json()) as { task_id: number };
    // node:http rather than fetch: destroying the request closes its socket at once, so the server
    // does not wait for it when it closes.
    const request = get(`${baseUrl}/api/task/${task_id}/events`, { headers: admin });
    const [stream] = (await once(request, "response")) as [IncomingMessage];
    request.destroy();
    expect(stream.headers["content-type"]).toMatch(/^text\/event-stream/);
    expect(stream.headers["x-request-id"]).toMatch(OURS);
  });

  it("is on the answer to a request that is not valid HTTP", async () => {
    const socket = connect(Number(new URL(baseUrl).port), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.end("GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    await once(socket, "close");
    const [head = "", body = ""] = Buffer.concat(chunks).toString("utf8").split("\r\n\r\n");
    const id = /\r\nX-Request-Id: (\S+)\r\n/i.exec(head)?.[1];
    expect(id).toMatch(OURS);
    expect(JSON.parse(body)).toMatchObject({ code: "VALIDATION", request_id: id });
  });
});
