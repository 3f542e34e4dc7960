// The lives of Stripe objects, as plans fast-check generates and as the steps that play them on the
// fake Stripe (which answers every read with an object's state at that time): each step changes
// objects as Stripe would and returns the events Stripe sends for the change, each carrying the
// object's state of that moment.
import type { FakeStripeServer, StripeObject } from "@aitasks/testing";
import fc from "fast-check";

/** One run's objects at the fake Stripe: put as their lives go on, read back as copies. */
export function worldOf(stripe: FakeStripeServer) {
  const types = new Map<string, string>();
  const get = (id: string): StripeObject => {
    const object = stripe.get(id);
    if (!object) throw new Error(`the fake Stripe holds no ${id}`);
    return structuredClone(object);
  };
  return {
    put(object: StripeObject) {
      stripe.put(structuredClone(object));
      types.set(object.id, object.object);
    },
    get,
    /** The run's objects of a type, in the order they were first put. */
    all: (type: string) => [...types].filter(([, t]) => t === type).map(([id]) => get(id)),
    /** Every object of the run as Stripe holds it now. */
    objects: () => new Map([...types.keys()].map((id) => [id, get(id)])),
  };
}
export type World = ReturnType<typeof worldOf>;

export type Currency = "usd" | "eur" | "jpy" | "kwd";

/**
 * One exchange unit of each currency in its smallest unit, and what Stripe settles it as, in US
 * cents (the account settles in dollars). Every amount is whole units, so every conversion is exact
 * and a refund is the same share of its payment in the customer's currency and as settled: SPEC's
 * `granted × returned / paid` then means one thing (its rounding through FX is another question).
 * Exponents: usd and eur 2, jpy 0, kwd 3.
 */
export const UNITS: Record<Currency, { minor: number; cents: number }> = {
  usd: { minor: 50, cents: 50 },
  eur: { minor: 100, cents: 109 },
  jpy: { minor: 100, cents: 67 },
  kwd: { minor: 200, cents: 65 },
};
/** Stripe's dispute fee, taken when the funds are withdrawn. */
export const DISPUTE_FEE_CENTS = 1500;

/**
 * How a refund goes: its first status (with or without its balance transaction) and where it
 * ends. A pending refund may have no balance transaction until it settles; a failed one is given
 * back by a `refund_failure` balance transaction; one canceled before it settled moved nothing.
 */
export const REFUND_PATHS = {
  succeeds: ["succeeded"],
  "pending, settles": ["pending-unsettled", "succeeded"],
  "pending settled, succeeds": ["pending", "succeeded"],
  "stays pending": ["pending"],
  "succeeds, then fails": ["succeeded", "failed"],
  "pending, fails": ["pending-unsettled", "failed-unsettled"],
  "pending settled, fails": ["pending", "failed"],
  "pending, canceled": ["pending-unsettled", "canceled"],
} as const;
export type RefundPath = keyof typeof REFUND_PATHS;

export interface LifePlan {
  /** A Checkout micro-payment (one payment), or a subscription invoice paid in one or more payments. */
  kind: "micro" | "invoice";
  currency: Currency;
  /** Which of the run's users pays. */
  user: number;
  payments: { units: number; feePermille: number; settlesLate: boolean }[];
  refunds: { payment: number; units: number; path: RefundPath }[];
  dispute: { payment: number; outcome: "won" | "lost" | "open"; feeReturned: boolean } | undefined;
}

export const USERS_PER_RUN = 3;

export const lifePlan: fc.Arbitrary<LifePlan> = fc.record({
  kind: fc.constantFrom("micro", "invoice"),
  currency: fc.constantFrom("usd", "eur", "jpy", "kwd"),
  user: fc.nat(USERS_PER_RUN - 1),
  payments: fc.array(
    fc.record({
      units: fc.integer({ min: 1, max: 40 }),
      feePermille: fc.constantFrom(0, 29, 61),
      settlesLate: fc.boolean(),
    }),
    { minLength: 1, maxLength: 3 },
  ),
  refunds: fc.array(
    fc.record({
      payment: fc.nat(2),
      units: fc.integer({ min: 1, max: 40 }),
      path: fc.constantFrom(...(Object.keys(REFUND_PATHS) as RefundPath[])),
    }),
    { maxLength: 3 },
  ),
  dispute: fc.option(
    fc.record({ payment: fc.nat(2), outcome: fc.constantFrom("won", "lost", "open"), feeReturned: fc.boolean() }),
    { nil: undefined },
  ),
});

/** A user of the run as Stripe knows it: our id in metadata, and its customer if it has one. */
export interface RunUser {
  id: number;
  customer: string | null;
}

/** A step of a life: changes the world, returns the events Stripe sends for it (type and object). */
export type Step = { name: string; run: () => { type: string; object: StripeObject }[] };
/** A sequence of steps that must happen in order, after `after` (a step of another chain) ran. */
export interface Chain {
  steps: Step[];
  after?: Step;
}

/**
 * The chains of steps that play `plan` on `world` (ids made unique by `tag`). Plans are made
 * consistent first: a payment index is taken modulo the payments, a refund never takes more than
 * its payment has left, a dispute disputes what is left (none when nothing is).
 */
export function playLife(world: World, plan: LifePlan, users: RunUser[], tag: string, clock: () => number) {
  const user = users[plan.user % users.length]!;
  const payments = plan.kind === "micro" ? plan.payments.slice(0, 1) : plan.payments;
  const unit = UNITS[plan.currency];
  const minor = (units: number) => units * unit.minor;
  const cents = (units: number) => units * unit.cents;
  const left = payments.map((payment) => payment.units);
  let next = 0;
  const id = (prefix: string) => `${prefix}_${tag}x${++next}`;
  const metadata = { user_id: String(user.id) };
  const chains: Chain[] = [];

  const invoiceId = id("in");
  const subscriptionId = id("sub");
  const total = payments.reduce((sum, payment) => sum + minor(payment.units), 0);
  const charges = payments.map((payment) => {
    const pi = id("pi");
    const charge = id("ch");
    const txn = id("txn");
    const fee = Math.floor((cents(payment.units) * payment.feePermille) / 1000);
    return { ...payment, pi, charge, txn, fee };
  });

  const settle = (c: (typeof charges)[number]): Step => ({
    name: `${c.charge} settles`,
    run: () => {
      world.put(balanceTransaction(c.txn, cents(c.units), c.fee, "charge", c.charge, clock()));
      world.put({ ...world.get(c.charge), balance_transaction: c.txn });
      return [];
    },
  });
  const pay = (c: (typeof charges)[number]): Step => ({
    name: `${c.charge} paid`,
    run: () => {
      const created = clock();
      world.put({
        id: c.pi,
        object: "payment_intent",
        amount: minor(c.units),
        amount_received: minor(c.units),
        currency: plan.currency,
        status: "succeeded",
        customer: user.customer,
        latest_charge: c.charge,
        metadata: plan.kind === "micro" ? metadata : {},
        created,
      });
      world.put({
        id: c.charge,
        object: "charge",
        amount: minor(c.units),
        amount_captured: minor(c.units),
        amount_refunded: 0,
        refunded: false,
        disputed: false,
        paid: true,
        status: "succeeded",
        currency: plan.currency,
        customer: user.customer,
        payment_intent: c.pi,
        balance_transaction: null,
        metadata: {},
        created,
      });
      if (!c.settlesLate) settle(c).run();
      if (plan.kind === "micro") {
        const session = {
          id: id("cs"),
          object: "checkout.session",
          mode: "payment",
          status: "complete",
          payment_status: "paid",
          amount_total: minor(c.units),
          amount_subtotal: minor(c.units),
          currency: plan.currency,
          customer: user.customer,
          client_reference_id: String(user.id),
          payment_intent: c.pi,
          metadata,
          created,
        };
        world.put(session);
        return [{ type: "checkout.session.completed", object: world.get(session.id) }];
      }
      world.put({
        id: id("inpay"),
        object: "invoice_payment",
        invoice: invoiceId,
        amount_paid: minor(c.units),
        amount_requested: minor(c.units),
        currency: plan.currency,
        is_default: charges.length === 1,
        status: "paid",
        payment: { type: "payment_intent", payment_intent: c.pi },
        status_transitions: { paid_at: created },
        created,
      });
      const paid = charges.slice(0, charges.indexOf(c) + 1).reduce((sum, p) => sum + minor(p.units), 0);
      world.put(invoice(paid, created));
      return paid === total ? [{ type: "invoice.paid", object: world.get(invoiceId) }] : [];
    },
  });
  const invoice = (paid: number, at: number): StripeObject => ({
    id: invoiceId,
    object: "invoice",
    status: paid === total ? "paid" : "open",
    amount_due: total,
    amount_paid: paid,
    amount_remaining: total - paid,
    currency: plan.currency,
    customer: user.customer,
    parent: { type: "subscription_details", subscription_details: { subscription: subscriptionId, metadata } },
    status_transitions: { paid_at: paid === total ? at : null },
    created: at,
  });

  const paySteps: Step[] = [];
  for (const c of charges) {
    paySteps.push(pay(c));
    if (c.settlesLate) paySteps.push(settle(c));
  }
  chains.push({ steps: paySteps });
  const paidStep = (index: number) => paySteps.find((step) => step.name === `${charges[index]!.charge} paid`)!;

  for (const planned of plan.refunds) {
    const index = planned.payment % charges.length;
    const c = charges[index]!;
    const units = Math.min(planned.units, left[index]!);
    if (units === 0) continue;
    left[index]! -= units;
    const refundId = id("re");
    const statuses = REFUND_PATHS[planned.path];
    const steps = statuses.map((status, i) => refundStep(world, { refundId, c, units, status, first: i === 0 }));
    chains.push({ steps, after: paidStep(index) });
  }
  function refundStep(
    world: World,
    r: { refundId: string; c: (typeof charges)[number]; units: number; status: string; first: boolean },
  ): Step {
    const { refundId, c, units, status } = r;
    return {
      name: `${refundId} ${status}`,
      run: () => {
        const at = clock();
        const settled = !status.endsWith("unsettled") && status !== "canceled";
        const before = r.first ? undefined : world.get(refundId);
        let transaction = (before?.balance_transaction as string | null | undefined) ?? null;
        if (settled && !transaction) {
          transaction = `txn_${refundId}`;
          world.put(balanceTransaction(transaction, -cents(units), 0, "refund", refundId, at));
        }
        const stripeStatus = status.replace("-unsettled", "");
        const refund: StripeObject = {
          id: refundId,
          object: "refund",
          amount: minor(units),
          currency: plan.currency,
          charge: c.charge,
          payment_intent: c.pi,
          status: stripeStatus,
          balance_transaction: transaction,
          metadata: {},
          reason: "requested_by_customer",
          created: (before?.created as number | undefined) ?? at,
        };
        if (stripeStatus === "failed" && transaction) {
          refund.failure_balance_transaction = `txn_${refundId}_failure`;
          refund.failure_reason = "lost_or_stolen_card";
          world.put(balanceTransaction(`txn_${refundId}_failure`, cents(units), 0, "refund_failure", refundId, at));
        }
        world.put(refund);
        const charge = world.get(c.charge);
        const refunded = world
          .all("refund")
          .filter((other) => other.charge === c.charge && ["pending", "succeeded"].includes(String(other.status)))
          .reduce((sum, other) => sum + Number(other.amount), 0);
        world.put({ ...charge, amount_refunded: refunded, refunded: refunded === charge.amount });
        if (r.first) {
          return [
            { type: "refund.created", object: world.get(refundId) },
            { type: "charge.refunded", object: world.get(c.charge) },
          ];
        }
        return [
          { type: "refund.updated", object: world.get(refundId) },
          { type: "charge.refund.updated", object: world.get(refundId) },
          ...(stripeStatus === "failed" ? [{ type: "refund.failed", object: world.get(refundId) }] : []),
        ];
      },
    };
  }

  if (plan.dispute) {
    const index = plan.dispute.payment % charges.length;
    const c = charges[index]!;
    const units = left[index]!;
    const { outcome, feeReturned } = plan.dispute;
    if (units > 0) {
      left[index] = 0;
      const disputeId = id("dp");
      const withdrawn = balanceTransaction(id("txn"), -cents(units), DISPUTE_FEE_CENTS, "adjustment", disputeId, 0);
      const dispute = (status: string, transactions: StripeObject[], at: number): StripeObject => ({
        id: disputeId,
        object: "dispute",
        amount: minor(units),
        currency: plan.currency,
        charge: c.charge,
        payment_intent: c.pi,
        status,
        reason: "fraudulent",
        balance_transactions: transactions,
        metadata: {},
        created: at,
      });
      const open: Step = {
        name: `${disputeId} opened`,
        run: () => {
          world.put({ ...withdrawn, created: clock() });
          world.put(dispute("needs_response", [world.get(withdrawn.id)], clock()));
          world.put({ ...world.get(c.charge), disputed: true });
          return [
            { type: "charge.dispute.created", object: world.get(disputeId) },
            { type: "charge.dispute.funds_withdrawn", object: world.get(disputeId) },
          ];
        },
      };
      const steps = [open];
      if (outcome !== "open") {
        steps.push({
          name: `${disputeId} ${outcome}`,
          run: () => {
            const at = clock();
            const current = world.get(disputeId);
            if (outcome === "lost") {
              world.put({ ...current, status: "lost" });
              return [{ type: "charge.dispute.closed", object: world.get(disputeId) }];
            }
            const reinstated = balanceTransaction(
              `txn_${disputeId}_reinstated`,
              cents(units),
              feeReturned ? -DISPUTE_FEE_CENTS : 0,
              "adjustment",
              disputeId,
              at,
            );
            world.put(reinstated);
            const transactions = [...(current.balance_transactions as StripeObject[]), reinstated];
            world.put({ ...current, status: "won", balance_transactions: transactions });
            return [
              { type: "charge.dispute.closed", object: world.get(disputeId) },
              { type: "charge.dispute.funds_reinstated", object: world.get(disputeId) },
            ];
          },
        });
      }
      chains.push({ steps, after: paidStep(index) });
    }
  }
  return chains;
}

function balanceTransaction(id: string, amount: number, fee: number, type: string, source: string, created: number) {
  return {
    id,
    object: "balance_transaction",
    amount,
    fee,
    net: amount - fee,
    currency: "usd",
    type,
    source,
    status: "available",
    reporting_category: type === "charge" ? "charge" : type === "adjustment" ? "dispute" : "refund",
    created,
  };
}
