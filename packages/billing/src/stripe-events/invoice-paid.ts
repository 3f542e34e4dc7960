import { subscriptions } from "@aitasks/db";
import { eq } from "drizzle-orm";
import { bookCredit } from "../credits/credit-entry.js";
import { InvoiceObject } from "../schemas.js";
import { bookStripeMoney, creditableUsd, defineHandler, eventTime, resolveUserId } from "./handler.js";
import { type Settled, settlementOfInvoice } from "./settlement.js";

/**
 * `invoice.paid`: each paid invoice of a subscription is income once, and grants its user credit:
 * SUBSCRIPTION_CREDIT_USD, or what the invoice paid.
 */
export const invoicePaid = defineHandler<typeof InvoiceObject, Settled>(
  InvoiceObject,
  async (tx, event, invoice, { prepared, subscriptionCreditUsd }) => {
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
    const reference = details?.metadata?.user_id ?? invoice.subscription_details?.metadata?.user_id;
    userId ??= await resolveUserId(tx, reference, invoice.customer);
    const paidAt = invoice.status_transitions?.paid_at;
    const occurredAt = paidAt ? new Date(paidAt * 1000) : eventTime(event);
    const booked = await bookStripeMoney(tx, {
      category: "subscription",
      minorUnits: invoice.amount_paid,
      currency: invoice.currency,
      settlement: prepared?.settlement,
      occurredAt,
      userId,
      stripeObjectId: invoice.id,
      stripeChargeId: prepared?.chargeId ?? null,
    });
    await bookCredit(tx, {
      userId,
      source: "invoice",
      sourceKey: invoice.id,
      amount: subscriptionCreditUsd ?? creditableUsd(booked),
      occurredAt,
    });
  },
  async (invoice, { stripe }) => (stripe && invoice.amount_paid ? settlementOfInvoice(stripe, invoice.id) : undefined),
);
