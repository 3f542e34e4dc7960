// The states a Stripe object shows, seen in any order, any number of times, and partly: what is kept
// (the merge) is the most advanced of those seen, so what it implies for the books is what the last
// state Stripe reached implies, once that state has been seen.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { disputeBooks } from "./stripe-disputes.js";
import { creditTakenBack } from "./stripe-paid-for.js";
import { refundBooks } from "./stripe-refunds.js";
import { mergeDispute, mergeRefund, type StripeDispute, type StripeRefund } from "./stripe-state.js";

const settled = { id: "txn_refund", amount: -670, fee: 0, currency: "usd" };
const failure = { id: "txn_failure", amount: 665, fee: 0, currency: "usd" };
const base: StripeRefund = {
  id: "re_1",
  amount: 1000,
  currency: "jpy",
  status: "pending",
  chargeId: "ch_1",
  paymentIntentId: "pi_1",
  settlement: null,
  failure: null,
  userId: null,
};
/** Each life, as the states Stripe's refund goes through, in order. */
const REFUND_LIVES: StripeRefund[][] = [
  [base, { ...base, settlement: settled }, { ...base, status: "succeeded", settlement: settled }],
  [
    base,
    { ...base, status: "succeeded", settlement: settled },
    { ...base, status: "failed", settlement: settled, failure },
  ],
  [base, { ...base, status: "canceled" }],
  [
    { ...base, status: "requires_action" },
    { ...base, status: "succeeded", settlement: settled },
  ],
];

const payment = { userId: 7, granted: 6_700_000_000_000n, paid: 1000, currency: "jpy" };

/** The states of a life seen in any order, some twice, the last one at least once. */
const seen = <S>(life: S[]) =>
  fc
    .array(fc.integer({ min: 0, max: life.length - 1 }), { maxLength: 8 })
    .chain((picks) => fc.shuffledSubarray([...picks, life.length - 1], { minLength: picks.length + 1 }))
    .map((order) => order.map((index) => life[index]!));

describe("what is kept of a Stripe object's states", () => {
  it.each(REFUND_LIVES.map((life, index) => [index, life] as const))(
    "books refund life %i as its last state, whatever order its states are seen in",
    (_, life) => {
      fc.assert(
        fc.property(seen(life), (states) => {
          const kept = states.reduce<StripeRefund | undefined>((state, next) => mergeRefund(state, next), undefined);
          expect(refundBooks(kept!, payment)).toEqual(refundBooks(life.at(-1)!, payment));
        }),
      );
    },
  );

  it("books a dispute as its final state, with every balance transaction it moved", () => {
    const withdrawn = { id: "txn_w", amount: -1999, fee: 1500, currency: "usd" };
    const reinstated = { id: "txn_r", amount: 1999, fee: -1500, currency: "usd" };
    const open: StripeDispute = {
      id: "dp_1",
      amount: 1999,
      currency: "usd",
      status: "needs_response",
      chargeId: "ch_1",
      paymentIntentId: "pi_1",
      balanceTransactions: [],
      userId: null,
    };
    const life = [
      open,
      { ...open, balanceTransactions: [withdrawn] },
      { ...open, status: "under_review", balanceTransactions: [withdrawn] },
      { ...open, status: "won", balanceTransactions: [withdrawn, reinstated] },
    ];
    const usd = { ...payment, currency: "usd", paid: 1999 };
    fc.assert(
      fc.property(seen(life), (states) => {
        const kept = states.reduce<StripeDispute | undefined>((state, next) => mergeDispute(state, next), undefined);
        expect(disputeBooks(kept!, usd)).toEqual(disputeBooks(life.at(-1)!, usd));
      }),
    );
  });
});

describe("credit taken back: granted × returned / paid", () => {
  it("is exact, rounded down, and never more than the grant in total however the payment is split", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 21n }),
        fc.array(fc.integer({ min: 1, max: 100_000 }), { minLength: 1, maxLength: 20 }),
        (granted, parts) => {
          const paid = parts.reduce((total, part) => total + part, 0);
          const payment = { userId: 1, granted, paid, currency: "eur" };
          const taken = parts.map((part) => creditTakenBack(part, "eur", payment));
          const total = taken.reduce((sum, take) => sum + take, 0n);
          expect(total <= granted).toBe(true);
          expect(granted - total < BigInt(parts.length)).toBe(true);
          for (const [index, take] of taken.entries()) {
            expect(take * BigInt(paid) <= granted * BigInt(parts[index]!)).toBe(true);
            expect((take + 1n) * BigInt(paid) > granted * BigInt(parts[index]!)).toBe(true);
          }
        },
      ),
    );
  });

  it("takes back what a dollar refund returns while its payment is not booked, and nothing in another currency", () => {
    expect(creditTakenBack(1999, "usd", null)).toBe(19_990_000_000_000n);
    expect(creditTakenBack(1000, "jpy", null)).toBe(0n);
  });
});
