import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * Ends every client connection once the server closes, so that `server.close()` (Fastify's
 * `close()`) does not wait for clients to hang up:
 * - a connection that has not carried a request yet (Node's fetch opens a spare one now and then
 *   and leaves it silent) counts as neither idle nor busy, and was waited for until the client
 *   gave up: it holds no work, so it is destroyed at once;
 * - a keep-alive connection whose request was in flight at the close (a `?wait`, an event stream)
 *   becomes idle after its answer, and Node closes idle connections only when `close()` is called,
 *   not later: it is ended after its answer.
 * Either way the shutdown used to last its whole grace period and the API then exited 1.
 */
export function trackConnectionsForClose(server: Server) {
  const unused = new Set<Socket>();
  let closing = false;
  server.on("connection", (socket: Socket) => {
    unused.add(socket);
    socket.once("close", () => unused.delete(socket));
  });
  server.on("request", (request, response) => {
    unused.delete(request.socket);
    response.once("finish", () => {
      if (closing) request.socket.end();
    });
  });
  return {
    /** Call as the server starts closing. */
    close() {
      closing = true;
      for (const socket of unused) socket.destroy();
      unused.clear();
    },
  };
}
