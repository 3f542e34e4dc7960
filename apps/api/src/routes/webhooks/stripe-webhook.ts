import { applyStripeEvent, StripeEventEnvelope, verifyStripeEvent } from "@aitasks/billing";
import { WebhookReceived } from "@aitasks/contract";
import type { FastifyInstance } from "fastify";
import type { AppDeps } from "../../deps.js";
import { contract } from "../../http/route-contract.js";

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

  app.post(
    "/webhook/stripe",
    contract({
      id: "receiveStripeEvent",
      tag: "Webhooks",
      summary: "Stripe's events (payments, invoices, subscriptions, refunds, disputes)",
      description: "Called by Stripe, not by clients: the raw body is checked against its Stripe-Signature.",
      access: "stripe",
      // What the route reads of the event; Stripe's other fields are allowed and passed over.
      body: StripeEventEnvelope,
      headers: ["Stripe-Signature"],
      responses: {
        200: {
          description:
            "taken: applied now or before, not a type handled, or recorded with its problem (an object unreadable, or that Stripe's API does not have)",
          schema: WebhookReceived,
        },
        400: "no signature, a wrong or stale one, or an unreadable event",
        502: "Stripe could not be asked about the event: Stripe retries",
        503: "webhooks are not configured (STRIPE_WEBHOOK_SECRET), or Postgres is unavailable",
      },
    }),
    async (request) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const event = verifyStripeEvent(deps.stripeWebhookSecret, rawBody, request.headers["stripe-signature"]);
      const { db, stripe, billing } = deps;
      const result = await applyStripeEvent(
        { db, stripe, subscriptionCreditUsd: billing.subscriptionCreditUsd },
        event,
      );
      if (result.outcome === "unreadable") {
        // Answered 200 all the same: Stripe would redeliver the same bytes for days to no avail.
        request.log.warn({ eventId: event.id, type: event.type, ...result }, "stripe event recorded but not applied");
      } else {
        request.log.info({ eventId: event.id, type: event.type, ...result }, "stripe event");
      }
      return { status: "success" };
    },
  );
}
