import { applyStripeEvent, verifyStripeEvent } from "@aitasks/billing";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";

/**
 * Stripe signs the exact bytes it sent, so this route gets the raw body: the JSON parser is
 * replaced inside this encapsulated plugin only, and the other routes keep theirs.
 */
export async function stripeWebhookRoutes(
  app: FastifyInstance,
  deps: Pick<AppDeps, "db" | "stripe" | "stripeWebhookSecret" | "billing">,
) {
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.post("/webhook/stripe", async (request) => {
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const event = verifyStripeEvent(deps.stripeWebhookSecret, rawBody, request.headers["stripe-signature"]);
    const { db, stripe, billing } = deps;
    const result = await applyStripeEvent({ db, stripe, subscriptionCreditUsd: billing.subscriptionCreditUsd }, event);
    if (result.outcome === "unreadable") {
      // Answered 200 all the same: Stripe would redeliver the same bytes for days to no avail.
      request.log.warn({ eventId: event.id, type: event.type, ...result }, "stripe event recorded but not applied");
    } else {
      request.log.info({ eventId: event.id, type: event.type, ...result }, "stripe event");
    }
    return { status: "success" };
  });
}
