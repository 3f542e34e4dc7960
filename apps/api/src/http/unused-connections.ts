import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * Connections that have not carried a request yet. Node's fetch opens a spare one now and then and
 * leaves it silent; `server.close()` counts such a socket as neither idle nor busy and waits for it
 * until the client gives up, so a shutdown hung for its whole grace period. They hold no work, so
 * `destroy()` ends them when the server closes.
 */
export function trackUnusedConnections(server: Server) {
  const unused = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (request) => unused.delete(request.socket));
  return {
    destroy() {
      for (const socket of unused) socket.destroy();
      unused.clear();
    },
  };
}
