// HTTP at its edges, against the real API process: a client that writes a whole oversized body
// before reading the answer gets the 413, not a connection reset; requests that are not valid
// HTTP are answered in our error shape, with our codes.
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { killAll, type StartedApi, startApi, useTestEnvironment } from "@aitasks/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const env = useTestEnvironment();
let api: StartedApi;

beforeAll(async () => {
  api = await startApi({
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    ADMIN_API_KEY: "",
    NODE_ENV: "",
  });
});
afterAll(() => killAll());

/** POSTs `megabytes` of body the way Node's client does: 64 KB pieces, each written when the last drained. */
function postLargeBody(
  baseUrl: string,
  megabytes: number,
  declareLength: boolean,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const total = megabytes * 1024 * 1024;
    const request = httpRequest(
      {
        host: "127.0.0.1",
        port: new URL(baseUrl).port,
        method: "POST",
        path: "/api/task",
        agent: false,
        headers: { "content-type": "application/json", ...(declareLength ? { "content-length": total } : {}) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      },
    );
    request.on("error", reject);
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let written = 0;
    const pump = () => {
      while (written < total) {
        written += piece.length;
        if (!request.write(piece)) return void request.once("drain", pump);
      }
      request.end();
    };
    pump();
  });
}

describe("a body over the limit", () => {
  it.each([
    ["with a Content-Length", true],
    ["chunked", false],
  ])("gets its 413 every time, even while the client is still writing (%s)", async (_name, declareLength) => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const answer = await postLargeBody(api.baseUrl, 2, declareLength);
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({
        code: "BODY_TOO_LARGE",
        error: expect.stringMatching(/too large/),
      });
    }
    // Nothing was stored, and the API still serves.
    const list = await fetch(`${api.baseUrl}/api/tasks`);
    expect(await list.json()).toMatchObject({ tasks: [] });
  });
});

/** Sends raw bytes and returns everything the server wrote before it closed the connection. */
function exchangeRaw(baseUrl: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(baseUrl).port), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("utf8")));
    socket.on("error", reject);
    socket.end(bytes);
  });
}

describe("requests that are not valid HTTP", () => {
  it("answer 400 VALIDATION in our error shape", async () => {
    const answer = await exchangeRaw(api.baseUrl, "GET /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    const [head, body] = answer.split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 400 /);
    const requestId = /\r\nX-Request-Id: (req-[0-9a-f]{16})\r\n/i.exec(head!)?.[1];
    expect(requestId).toBeDefined();
    expect(JSON.parse(body!)).toEqual({ error: expect.any(String), code: "VALIDATION", request_id: requestId });
  });

  it("answer a HEAD request without a body, so that the client reads one answer", async () => {
    const answer = await exchangeRaw(api.baseUrl, "HEAD /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    expect(answer).toMatch(/^HTTP\/1\.1 400 [\s\S]*\r\n\r\n$/);
  });

  it("leave bytes after a `Connection: close` request unanswered: the client reads one answer", async () => {
    // A client that declared no body but sent one: its request said close, so the stray bytes are
    // not a request of their own, and a second answer would follow the one that closes the exchange.
    for (const path of ["/api/tasks", "/api/nothing-here", "/\\/%ED%A0%80"]) {
      const answer = await exchangeRaw(
        api.baseUrl,
        `PATCH ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n{}`,
      );
      expect(answer.match(/HTTP\/1\.1 \d{3} /g), `${path}: ${answer}`).toHaveLength(1);
    }
  });

  it("answer headers over Node's limit with 431 HEADERS_TOO_LARGE", async () => {
    const answer = await exchangeRaw(
      api.baseUrl,
      `GET /api/tasks HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
    );
    const [head, body] = answer.split("\r\n\r\n");
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(body!)).toMatchObject({ code: "HEADERS_TOO_LARGE" });
  });
});
