import { subscriptions } from "@aitasks/db";
import { bookStripeInvoice, type StripeInvoicePayment } from "@aitasks/ledger";
import { eq } from "drizzle-orm";
import { InvoiceObject } from "../schemas.js";
import { defineHandler, eventTime, resolveUserId } from "./handler.js";
import { paymentsOfInvoice } from "./settlement.js";

/**
 * `invoice.paid`: a paid invoice of a subscription, with every payment that paid it as Stripe
 * settled them (read from Stripe's API), booked by the ledger with the credit it grants:
 * SUBSCRIPTION_CREDIT_USD, or what the invoice paid.
 */
export const invoicePaid = defineHandler<typeof InvoiceObject, StripeInvoicePayment[] | undefined>(
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
    await bookStripeInvoice(
      tx,
      {
        id: invoice.id,
        amountPaid: invoice.amount_paid,
        currency: invoice.currency,
        creditUsd: subscriptionCreditUsd ?? null,
        userId,
        payments: prepared ?? null,
      },
      paidAt ? new Date(paidAt * 1000) : eventTime(event),
    );
  },
  async (invoice, { stripe }) => (stripe && invoice.amount_paid ? paymentsOfInvoice(stripe, invoice.id) : undefined),
);
