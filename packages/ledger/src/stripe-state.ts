/**
 * Stripe's objects as the ledger reads them: plain data that the caller (billing's event handlers)
 * took from Stripe's API, or from the event when there is no Stripe key. Amounts are in the
 * currency's smallest unit, as Stripe sends them. Each kind has a merge: the most advanced of two
 * states, so that whichever order states arrive in (events reordered, a fetch older than one
 * already applied), the state kept only moves forward as Stripe's objects do.
 */

/** A balance transaction: what Stripe moved in the account's balance, and its fee, in the settlement currency. */
export interface Settlement {
  id: string;
  /** Signed: negative for money that left the balance (a refund, a dispute's withdrawal). */
  amount: number;
  fee: number;
  currency: string;
}

/** A paid one-time payment (a micro-payment's checkout): its payment intent, charge and settlement. */
export interface StripePayment {
  /** What it is booked under: the payment intent, or the checkout session that has none. */
  id: string;
  paymentIntentId: string | null;
  chargeId: string | null;
  /** What the customer paid, in `currency`. */
  amount: number;
  currency: string;
  /** Null while not known (no Stripe key): booked in `currency`. */
  settlement: Settlement | null;
  userId: number | null;
}

/** One payment of an invoice, as Stripe's invoice payments list it. */
export interface StripeInvoicePayment {
  /** The payment intent, or the charge of a payment without one. */
  id: string;
  paymentIntentId: string | null;
  chargeId: string | null;
  /** What it paid of the invoice, in the invoice's currency (null when not given). */
  amountPaid: number | null;
  settlement: Settlement | null;
}

/** A paid subscription invoice. */
export interface StripeInvoice {
  id: string;
  amountPaid: number;
  currency: string;
  /** The credit it grants (SUBSCRIPTION_CREDIT_USD), exact USD; null: what it paid, as settled in USD. */
  creditUsd: string | null;
  userId: number | null;
  /** Its paid payments; null when Stripe's API was not asked (no Stripe key): booked in `currency`. */
  payments: StripeInvoicePayment[] | null;
}

/** A refund: `status` pending, requires_action, succeeded, failed or canceled. */
export interface StripeRefund {
  id: string;
  amount: number;
  currency: string;
  status: string | null;
  chargeId: string | null;
  paymentIntentId: string | null;
  /** Its balance transaction; null while Stripe has not settled it (a pending refund). */
  settlement: Settlement | null;
  /** Stripe's `refund_failure` balance transaction, once a refund failed after it settled. */
  failure: Settlement | null;
  /** Whom the refund's own metadata, or its charge's, names: used until its payment is known. */
  userId: number | null;
}

/** A dispute and every movement of its funds (withdrawal, reinstatement, with their fees). */
export interface StripeDispute {
  id: string;
  amount: number | null;
  currency: string | null;
  status: string | null;
  chargeId: string | null;
  paymentIntentId: string | null;
  balanceTransactions: Settlement[];
  userId: number | null;
}

/**
 * A charge's running refund total (`charge.refunded` without its refund objects: no Stripe key
 * to list them): the refunded amount no known refund explains is booked under the charge.
 */
export interface StripeChargeRefunds {
  /** The charge. */
  id: string;
  paymentIntentId: string | null;
  amountRefunded: number;
  currency: string;
  userId: number | null;
}

export type StripeObjectKind = "payment" | "invoice" | "invoice_payment" | "refund" | "dispute" | "charge";

// A refund moves from pending (or requires_action) to succeeded, and may then fail; a pending one
// may be canceled. Failed and canceled are final.
const REFUND_RANK: Record<string, number> = { pending: 1, requires_action: 1, succeeded: 2, failed: 3, canceled: 3 };
// A dispute is open in one of several statuses until it is won or lost (or, for an inquiry, closed).
const FINAL_DISPUTE = new Set(["won", "lost", "warning_closed", "prevented"]);

export const isReturned = (refund: StripeRefund) => refund.status === "failed" || refund.status === "canceled";

export function mergePayment(stored: StripePayment | undefined, next: StripePayment): StripePayment {
  if (!stored) return next;
  return {
    ...stored,
    paymentIntentId: stored.paymentIntentId ?? next.paymentIntentId,
    chargeId: stored.chargeId ?? next.chargeId,
    settlement: stored.settlement ?? next.settlement,
    userId: stored.userId ?? next.userId,
  };
}

export function mergeInvoice(stored: StripeInvoice | undefined, next: StripeInvoice): StripeInvoice {
  if (!stored) return next;
  let payments = stored.payments;
  if (next.payments) {
    const byId = new Map((stored.payments ?? []).map((payment) => [payment.id, payment]));
    for (const payment of next.payments) {
      const known = byId.get(payment.id);
      byId.set(payment.id, known?.settlement ? known : payment);
    }
    payments = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
  }
  return { ...stored, userId: stored.userId ?? next.userId, payments };
}

export function mergeRefund(stored: StripeRefund | undefined, next: StripeRefund): StripeRefund {
  if (!stored) return next;
  const rank = (status: string | null) => REFUND_RANK[status ?? ""] ?? 0;
  return {
    ...stored,
    status: rank(next.status) > rank(stored.status) ? next.status : stored.status,
    chargeId: stored.chargeId ?? next.chargeId,
    paymentIntentId: stored.paymentIntentId ?? next.paymentIntentId,
    settlement: stored.settlement ?? next.settlement,
    failure: stored.failure ?? next.failure,
    userId: stored.userId ?? next.userId,
  };
}

export function mergeDispute(stored: StripeDispute | undefined, next: StripeDispute): StripeDispute {
  if (!stored) return next;
  const final = (status: string | null) => FINAL_DISPUTE.has(status ?? "");
  const transactions = new Map(stored.balanceTransactions.map((transaction) => [transaction.id, transaction]));
  for (const transaction of next.balanceTransactions) {
    if (!transactions.has(transaction.id)) transactions.set(transaction.id, transaction);
  }
  return {
    ...stored,
    status: final(stored.status) ? stored.status : (next.status ?? stored.status),
    amount: stored.amount ?? next.amount,
    currency: stored.currency ?? next.currency,
    chargeId: stored.chargeId ?? next.chargeId,
    paymentIntentId: stored.paymentIntentId ?? next.paymentIntentId,
    balanceTransactions: [...transactions.values()],
    userId: stored.userId ?? next.userId,
  };
}

export function mergeChargeRefunds(
  stored: StripeChargeRefunds | undefined,
  next: StripeChargeRefunds,
): StripeChargeRefunds {
  if (!stored) return next;
  return {
    ...stored,
    // The running total drops when a refund fails, so the most ever seen is what was refunded at
    // some time; the refunds known (failed ones too) are taken from it.
    amountRefunded: Math.max(stored.amountRefunded, next.amountRefunded),
    paymentIntentId: stored.paymentIntentId ?? next.paymentIntentId,
    userId: stored.userId ?? next.userId,
  };
}
