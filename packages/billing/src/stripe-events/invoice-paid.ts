import { centsToAmount, subscriptions } from "@aitasks/db";
import { eq } from "drizzle-orm";
import { InvoiceObject } from "../schemas.js";
import { bookIncome, defineHandler, eventTime, resolveUserId } from "./handler.js";

/** `invoice.paid`: each paid invoice of a subscription is income once. */
export const invoicePaid = defineHandler(InvoiceObject, async (tx, event, invoice) => {
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
  await bookIncome(tx, {
    category: "subscription",
    amount: centsToAmount(invoice.amount_paid),
    currency: invoice.currency,
    occurredAt: paidAt ? new Date(paidAt * 1000) : eventTime(event),
    userId,
    stripeObjectId: invoice.id,
  });
});
