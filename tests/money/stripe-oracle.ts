// What the books must hold, from the final states of Stripe's objects alone, by Stripe's documented
// semantics and SPEC's "Money that converges" (never from our code):
// - the account settles in US dollars: every payment, refund and dispute moves the balance by its
//   balance transactions (`amount`, with Stripe's `fee`), and that is what the money ledger holds:
//   income `micro_payment` / `subscription` for payments, `refund` for refunds (a refund that failed
//   has a `refund_failure` transaction that gives the amount back; one canceled before it settled
//   has none), `dispute` for a dispute's withdrawals and reinstatements, and every fee as a
//   `payment_fee` expense, each to the user who paid;
// - credit: a micro-payment grants what it settled in USD; a paid invoice grants
//   SUBSCRIPTION_CREDIT_USD, or what it settled when unset; a refund (pending or succeeded) and a
//   lost dispute take back `granted × returned / paid`, in the customer's currency's terms.
import type { StripeObject } from "@aitasks/testing";

const PICO_PER_CENT = 10n ** 10n;
const PICO_PER_USD = 10n ** 12n;

/** Expected money per `user|currency|category`, in pico-units of the currency. */
export type MoneyTotals = Map<string, bigint>;
/**
 * Expected credit per `user|source`, in pico-dollars: between `low` and `high`, since a share
 * `granted × returned / paid` need not fall on a pico-dollar (each take-back may round it once).
 */
export type CreditTotals = Map<string, { low: bigint; high: bigint }>;

export const moneyKey = (user: number | null, currency: string, category: string) =>
  `${user ?? "no user"}|${currency}|${category}`;
export const creditKey = (user: number, source: string) => `${user}|${source}`;

interface FinalWorld {
  /** Every object of the run, as Stripe holds it at the end, by id. */
  objects: Map<string, StripeObject>;
  /** SUBSCRIPTION_CREDIT_USD of the app, as a decimal string; undefined: invoices grant what they paid. */
  subscriptionCreditUsd: string | undefined;
}

interface Grant {
  user: number;
  source: "payment" | "invoice";
  granted: bigint;
  /** What the customer paid, in its currency's smallest unit. */
  paid: bigint;
  charges: string[];
}

export function expectedBooks({ objects, subscriptionCreditUsd }: FinalWorld) {
  const money: MoneyTotals = new Map();
  const credit: CreditTotals = new Map();
  const add = (user: number, currency: string, category: string, pico: bigint) => {
    const key = moneyKey(user, currency, category);
    money.set(key, (money.get(key) ?? 0n) + pico);
  };
  const addCredit = (user: number, source: string, low: bigint, high = low) => {
    const key = creditKey(user, source);
    const now = credit.get(key) ?? { low: 0n, high: 0n };
    credit.set(key, { low: now.low + low, high: now.high + high });
  };
  const of = (type: string) => [...objects.values()].filter((object) => object.object === type);
  const get = (id: unknown) => {
    const object = objects.get(String(id));
    if (!object) throw new Error(`the final world has no ${String(id)}`);
    return object;
  };
  /** Books a balance transaction: its amount to `category`, its fee as a `payment_fee`. */
  const settle = (user: number, transaction: unknown, category: string) => {
    if (!transaction) return 0n;
    const txn = get(transaction);
    add(user, String(txn.currency), category, BigInt(txn.amount as number) * PICO_PER_CENT);
    add(user, String(txn.currency), "payment_fee", BigInt(txn.fee as number) * PICO_PER_CENT);
    return BigInt(txn.amount as number) * PICO_PER_CENT;
  };

  const userOfCharge = new Map<string, number>();
  const grants: Grant[] = [];
  for (const session of of("checkout.session")) {
    if (session.mode !== "payment" || session.payment_status !== "paid") continue;
    const user = Number((session.metadata as { user_id: string }).user_id);
    const charge = String(get(session.payment_intent).latest_charge);
    userOfCharge.set(charge, user);
    const settled = settle(user, get(charge).balance_transaction, "micro_payment");
    grants.push({
      user,
      source: "payment",
      granted: settled,
      paid: BigInt(session.amount_total as number),
      charges: [charge],
    });
  }
  for (const invoice of of("invoice")) {
    if (invoice.status !== "paid") continue;
    const details = (invoice.parent as { subscription_details: { metadata: { user_id: string } } })
      .subscription_details;
    const user = Number(details.metadata.user_id);
    const charges = of("invoice_payment")
      .filter((payment) => payment.invoice === invoice.id && payment.status === "paid")
      .map((payment) => String(get((payment.payment as { payment_intent: string }).payment_intent).latest_charge));
    let settled = 0n;
    for (const charge of charges) {
      userOfCharge.set(charge, user);
      settled += settle(user, get(charge).balance_transaction, "subscription");
    }
    const granted = subscriptionCreditUsd === undefined ? settled : decimalToPico(subscriptionCreditUsd);
    grants.push({ user, source: "invoice", granted, paid: BigInt(invoice.amount_paid as number), charges });
  }

  const returned = { refund: new Map<string, bigint>(), dispute: new Map<string, bigint>() };
  const giveBacks = { refund: new Map<string, number>(), dispute: new Map<string, number>() };
  const giveBack = (kind: "refund" | "dispute", charge: string, amount: bigint) => {
    returned[kind].set(charge, (returned[kind].get(charge) ?? 0n) + amount);
    giveBacks[kind].set(charge, (giveBacks[kind].get(charge) ?? 0) + 1);
  };
  for (const refund of of("refund")) {
    const user = userOfCharge.get(String(refund.charge));
    if (user === undefined) throw new Error(`refund ${refund.id} of a charge nobody paid`);
    settle(user, refund.balance_transaction, "refund");
    settle(user, refund.failure_balance_transaction, "refund");
    if (refund.status === "pending" || refund.status === "succeeded") {
      giveBack("refund", String(refund.charge), BigInt(refund.amount as number));
    }
  }
  for (const dispute of of("dispute")) {
    const user = userOfCharge.get(String(dispute.charge));
    if (user === undefined) throw new Error(`dispute ${dispute.id} of a charge nobody paid`);
    for (const transaction of dispute.balance_transactions as StripeObject[]) settle(user, transaction.id, "dispute");
    if (dispute.status === "lost") giveBack("dispute", String(dispute.charge), BigInt(dispute.amount as number));
  }

  for (const grant of grants) {
    addCredit(grant.user, grant.source, grant.granted);
    for (const kind of ["refund", "dispute"] as const) {
      const back = grant.charges.reduce((sum, charge) => sum + (returned[kind].get(charge) ?? 0n), 0n);
      if (back === 0n) continue;
      const times = BigInt(grant.charges.reduce((sum, charge) => sum + (giveBacks[kind].get(charge) ?? 0), 0));
      const exact = grant.granted * back;
      const floor = exact / grant.paid;
      const ceil = exact % grant.paid === 0n ? floor : floor + 1n;
      // Booked in `times` movements, each rounded to the pico-dollar at most once: their sum is
      // within `times - 1` picos of [floor, ceil]. Taken back as negative credit, the bounds swap.
      addCredit(grant.user, kind, -ceil - (times - 1n), -floor + (times - 1n));
    }
  }
  return { money, credit };
}

/** An exact decimal (`"19.99"`) in pico-units. */
export function decimalToPico(decimal: string): bigint {
  const [whole = "0", fraction = ""] = decimal.replace("-", "").split(".");
  const value = BigInt(whole) * PICO_PER_USD + BigInt(fraction.padEnd(12, "0").slice(0, 12));
  return decimal.startsWith("-") ? -value : value;
}
