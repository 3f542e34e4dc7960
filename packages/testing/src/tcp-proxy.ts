import { once } from "node:events";
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";

type Mode = "up" | "down" | "blackhole";

/**
 * A TCP forwarder on 127.0.0.1 in front of Postgres or Redis, so a test can take the dependency
 * "down" (every connection cut, new ones refused) and bring it back without touching the shared
 * server. While down, the port stays bound but each new connection is reset at once, as a
 * stopped server's port would answer. While blackholed, connections are accepted and then never
 * answered, as behind a firewall that drops packets or a half-dead host.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  /** Connections opened while blackholed: held open, never forwarded. */
  const held = new Set<Socket>();
  /** Forwarded pairs, so a blackhole can stop forwarding on them without closing them. */
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let mode: Mode = "up";
  const server = createServer((client) => {
    if (mode === "down") {
      client.resetAndDestroy();
      return;
    }
    if (mode === "blackhole") {
      held.add(client);
      client.on("data", () => {}); // read and drop
      client.on("error", () => {}).on("close", () => held.delete(client));
      return;
    }
    const upstream = createConnection(target);
    const pair = { client, upstream };
    sockets.add(client);
    sockets.add(upstream);
    pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      pairs.delete(pair);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;

  const cutAll = () => {
    for (const socket of [...sockets, ...held]) socket.resetAndDestroy();
    sockets.clear();
    held.clear();
    pairs.clear();
  };

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
      mode = "down";
      cutAll();
    },
    /**
     * New connections are accepted and never answered. Open ones are cut (`existing: "reset"`,
     * the default: the peer went away, then its address went silent) or kept open with nothing
     * forwarded any more either way (`existing: "stall"`: a network partition).
     */
    blackhole({ existing = "reset" }: { existing?: "reset" | "stall" } = {}) {
      mode = "blackhole";
      if (existing === "reset") {
        cutAll();
        return;
      }
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        // Keep reading, and drop what arrives, so neither side sees backpressure or a close.
        client.on("data", () => {});
        upstream.on("data", () => {});
        held.add(client);
        held.add(upstream);
      }
      pairs.clear();
      sockets.clear();
    },
    /** Forwards new connections again; connections held by a blackhole are reset, so their clients reconnect. */
    up() {
      mode = "up";
      for (const socket of held) socket.resetAndDestroy();
      held.clear();
    },
    async close() {
      this.down();
      server.close();
      await once(server, "close");
    },
  };
}
export type TcpProxy = Awaited<ReturnType<typeof startTcpProxy>>;
