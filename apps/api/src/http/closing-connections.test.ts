import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, it } from "vitest";
import { trackConnectionsForClose } from "./closing-connections.js";

it("lets a closing server finish its in-flight answers, then ends their keep-alive connections", async () => {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => {
    answer = resolve;
  });
  let received = 0;
  let bothReceived!: () => void;
  const bothArrived = new Promise<void>((resolve) => {
    bothReceived = resolve;
  });
  const server = createServer(async (request, response) => {
    if (++received === 2) bothReceived();
    if (request.url === "/stream") {
      response.writeHead(200, { "content-type": "text/event-stream" });
      response.write("data: first\n\n");
    }
    await answered;
    response.end(request.url === "/stream" ? "data: last\n\n" : "done");
  });
  // Fastify's default (72 s): clients keep their connections that long after an answer.
  server.keepAliveTimeout = 72_000;
  const connections = trackConnectionsForClose(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Node's fetch keeps both connections open for reuse after the answers.
  const plain = fetch(`${base}/plain`);
  const stream = fetch(`${base}/stream`);
  await bothArrived;
  const closed = once(server, "close");
  server.close();
  connections.close();
  answer();

  expect(await (await plain).text()).toBe("done");
  expect(await (await stream).text()).toBe("data: first\n\ndata: last\n\n");
  // Without the tracker the server waits here until the clients drop their idle connections.
  await closed;
}, 10_000);
