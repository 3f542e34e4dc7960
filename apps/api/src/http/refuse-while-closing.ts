import { UnavailableError } from "@aitasks/errors";
import type { FastifyInstance } from "fastify";

/**
 * Requests that reach the app while it drains (pipelined behind one in flight, or on a keep-alive
 * connection busy at the close) are refused with 503 in the API's error shape, its `code` and
 * `request_id` included, so a client or a load balancer sends them elsewhere. Fastify's own
 * refusal (`return503OnClosing`) answers a body of its own shape; it is turned off in `buildApp`.
 */
export function refuseWhileClosing(app: FastifyInstance) {
  let closing = false;
  app.addHook("preClose", (done) => {
    closing = true;
    done();
  });
  app.addHook("onRequest", (_request, _reply, done) => {
    done(closing ? new UnavailableError("the server is shutting down; try again") : undefined);
  });
}
