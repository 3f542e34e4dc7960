import { subscriptions } from "@aitasks/db";
import { eq } from "drizzle-orm";
import { InvoiceObject } from "../schemas.js";
import { bookStripeMoney, defineHandler, eventTime, resolveUserId } from "./handler.js";
import { type Settled, settlementOfInvoice } from "./settlement.js";

/** `invoice.paid`: each paid invoice of a subscription is income once. */
export const invoicePaid = defineHandler<typeof InvoiceObject, Settled>(
  InvoiceObject,
  async (tx, event, invoice, { prepared }) => {
    if (!invoice.amount_paid) return;
    const details = invoice.parent?.subscription_details;
    const subscriptionId = details?.subscription ?? invoice.subscription ?? null;
    let userId: number | null = null;
    if (subscriptionId) {
      const [subscription] = await tx
        .select({ userId: subscriptions.userId })
        .from(subscriptions)
        .where(eq(subscriptions.id, subscriptionId));
      userId = subscription?.userId ?? null;
    }
    userId ??= await resolveUserId(tx, details?.metadata?.user_id, invoice.customer);
    const paidAt = invoice.status_transitions?.paid_at;
    await bookStripeMoney(tx, {
      category: "subscription",
      minorUnits: invoice.amount_paid,
      currency: invoice.currency,
      settlement: prepared?.settlement,
      occurredAt: paidAt ? new Date(paidAt * 1000) : eventTime(event),
      userId,
      stripeObjectId: invoice.id,
      stripeChargeId: prepared?.chargeId ?? null,
    });
  },
  async (invoice, { stripe }) => (stripe && invoice.amount_paid ? settlementOfInvoice(stripe, invoice.id) : undefined),
);
