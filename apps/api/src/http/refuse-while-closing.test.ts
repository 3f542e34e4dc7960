import { once } from "node:events";
import { connect } from "node:net";
import { useTestEnvironment } from "@aitasks/testing";
import { expect, it } from "vitest";
import { createTestApp } from "../testing/create-test-app.js";

const env = useTestEnvironment();

/** The HTTP/1.1 answers in `raw`, each as its status line, headers and body. */
function answersIn(raw: string) {
  const answers: { status: number; headers: string; body: string }[] = [];
  let rest = raw;
  while (rest.startsWith("HTTP/1.1 ")) {
    const end = rest.indexOf("\r\n\r\n");
    const headers = rest.slice(0, end);
    const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    answers.push({ status: Number(headers.slice(9, 12)), headers, body: rest.slice(end + 4, end + 4 + length) });
    rest = rest.slice(end + 4 + length);
  }
  return answers;
}

it("answers a request that arrives while the server closes with 503 in the API's error shape", async () => {
  const testApp = await createTestApp(env);
  await testApp.app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = testApp.app.server.address() as { port: number };
  const socket = connect(port, "127.0.0.1");
  socket.setEncoding("utf8");
  let received = "";
  socket.on("data", (chunk: string) => {
    received += chunk;
  });
  await once(socket, "connect");
  try {
    // A submission that waits for its task (no worker runs here: it waits the whole second)...
    const body = JSON.stringify({ prompt: "wait for me" });
    socket.write(
      `POST /api/task?wait=1 HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    // ...the server starts closing, and a second request arrives behind it on the same connection.
    const closed = testApp.app.close();
    socket.write("GET /api/stats HTTP/1.1\r\nHost: test\r\n\r\n");
    await closed;
    await once(socket, "end");

    const [waited, refused] = answersIn(received);
    expect(waited?.status).toBe(202);
    expect(refused?.status).toBe(503);
    expect(refused?.headers).toMatch(/^connection: close$/im);
    expect(refused?.headers).toMatch(/^x-request-id: \S+$/im);
    expect(JSON.parse(refused!.body)).toEqual({
      error: "the server is shutting down; try again",
      code: "UNAVAILABLE",
      request_id: expect.any(String),
    });
  } finally {
    socket.destroy();
    await testApp.close();
  }
});
