import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What the receiver answers to one callback. */
export type ReceiverReply =
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  /** Never answers: the sender's timeout must fire. */
  | { kind: "hang" }
  /** Answers `status`, then writes body bytes for as long as the connection stays open. */
  | { kind: "endless"; status: number };

export interface ReceivedCallback {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body's exact bytes, as UTF-8: what a receiver verifies the signature over. */
  body: string;
  receivedAt: number;
  /** Resolves when the sender closed the connection, with the body bytes written until then. */
  closed: Promise<number>;
}

/** A local HTTP server standing for a client's callback endpoint: it records every POST it gets. */
export async function startCallbackReceiver(
  reply: (callback: ReceivedCallback, index: number) => ReceiverReply = () => ({ kind: "status", status: 200 }),
) {
  const received: ReceivedCallback[] = [];
  let replyFn = reply;
  const open = new Set<ServerResponse>();
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let written = 0;
    const closed = new Promise<number>((resolve) => res.on("close", () => resolve(written)));
    const callback: ReceivedCallback = {
      path: req.url ?? "",
      headers: req.headers,
      body: Buffer.concat(chunks).toString("utf8"),
      receivedAt: Date.now(),
      closed,
    };
    received.push(callback);
    const answer = replyFn(callback, received.length - 1);
    open.add(res);
    res.on("close", () => open.delete(res));
    if (answer.kind === "hang") return;
    if (answer.kind === "status") {
      res.writeHead(answer.status, { "content-type": "text/plain", ...answer.headers });
      res.end(answer.body ?? "");
      return;
    }
    res.writeHead(answer.status, { "content-type": "application/octet-stream" });
    const piece = Buffer.alloc(16 * 1024, 120);
    const write = () => {
      while (!res.destroyed) {
        written += piece.length;
        if (!res.write(piece)) return void res.once("drain", write);
      }
    };
    write();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    received,
    setReply(next: typeof reply) {
      replyFn = next;
    },
    async close() {
      for (const res of open) res.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
export type CallbackReceiver = Awaited<ReturnType<typeof startCallbackReceiver>>;
