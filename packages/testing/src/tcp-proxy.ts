import { once } from "node:events";
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";

/**
 * A TCP forwarder on 127.0.0.1 in front of Postgres or Redis, so a test can take the dependency
 * "down" (every connection cut, new ones refused) and bring it back without touching the shared
 * server. While down, the port stays bound but each new connection is reset at once, as a
 * stopped server's port would answer.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let up = true;
  const server = createServer((client) => {
    if (!up) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection(target);
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    /** `url` with its host and port replaced by the proxy's. */
    proxied(url: string) {
      const parsed = new URL(url);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(port);
      return parsed.toString();
    },
    down() {
      up = false;
      for (const socket of sockets) socket.resetAndDestroy();
      sockets.clear();
    },
    up() {
      up = true;
    },
    async close() {
      this.down();
      server.close();
      await once(server, "close");
    },
  };
}
export type TcpProxy = Awaited<ReturnType<typeof startTcpProxy>>;
