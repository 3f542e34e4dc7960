import { stripeObjects, type Transaction } from "@aitasks/db";
import { and, eq, inArray, or, sql } from "drizzle-orm";
import type { StripeObjectKind } from "./stripe-state.js";

/**
 * Serialises the bookings of Stripe objects that share a key: an object's own id, its charge and
 * its payment intent. A refund, a dispute and the payment they give back share the charge or the
 * payment intent, so whichever of their events comes second sees what the first booked (never
 * both booking on a view without the other), and concurrent deliveries of one object book in turn.
 * The keys are taken in one sorted order, so two bookings never wait on each other (a deadlock).
 */
export async function lockStripeKeys(tx: Transaction, keys: readonly (string | null | undefined)[]) {
  const sorted = [...new Set(keys.filter((key): key is string => Boolean(key)))].sort();
  for (const key of sorted) await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`);
}

/** The state kept of an object (the most advanced seen), or undefined before its first booking. */
export async function loadStripeObject<S>(tx: Transaction, kind: StripeObjectKind, id: string): Promise<S | undefined> {
  const [row] = await tx
    .select({ state: stripeObjects.state })
    .from(stripeObjects)
    .where(and(eq(stripeObjects.kind, kind), eq(stripeObjects.id, id)));
  return row?.state as S | undefined;
}

export async function saveStripeObject(
  tx: Transaction,
  kind: StripeObjectKind,
  id: string,
  state: object,
  links: { chargeId: string | null; paymentIntentId: string | null },
) {
  await tx
    .insert(stripeObjects)
    .values({ kind, id, state, ...links })
    .onConflictDoUpdate({
      target: [stripeObjects.kind, stripeObjects.id],
      set: {
        state,
        chargeId: sql`coalesce(${stripeObjects.chargeId}, excluded.charge_id)`,
        paymentIntentId: sql`coalesce(${stripeObjects.paymentIntentId}, excluded.payment_intent_id)`,
        updatedAt: sql`now()`,
      },
    });
}

/** The objects of these kinds linked to any of these charges or payment intents, in a stable order. */
export async function linkedStripeObjects(
  tx: Transaction,
  kinds: StripeObjectKind[],
  links: { chargeIds: (string | null)[]; paymentIntentIds: (string | null)[] },
): Promise<{ kind: StripeObjectKind; id: string; state: unknown }[]> {
  const chargeIds = links.chargeIds.filter((id): id is string => Boolean(id));
  const paymentIntentIds = links.paymentIntentIds.filter((id): id is string => Boolean(id));
  if (chargeIds.length === 0 && paymentIntentIds.length === 0) return [];
  const rows = await tx
    .select({ kind: stripeObjects.kind, id: stripeObjects.id, state: stripeObjects.state })
    .from(stripeObjects)
    .where(
      and(
        inArray(stripeObjects.kind, kinds),
        or(
          chargeIds.length > 0 ? inArray(stripeObjects.chargeId, chargeIds) : undefined,
          paymentIntentIds.length > 0 ? inArray(stripeObjects.paymentIntentId, paymentIntentIds) : undefined,
        ),
      ),
    )
    .orderBy(stripeObjects.kind, stripeObjects.id);
  return rows.map((row) => ({ ...row, kind: row.kind as StripeObjectKind }));
}
