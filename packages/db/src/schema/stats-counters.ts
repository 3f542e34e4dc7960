import { numeric, pgTable, primaryKey, smallint, text } from "drizzle-orm/pg-core";

/**
 * Running totals for /api/stats, kept exact by triggers (see the migration) in the same
 * transaction as the rows they count. Spread over shards so concurrent writers rarely share a row.
 */
export const statsCounters = pgTable(
  "stats_counters",
  {
    name: text("name").notNull(),
    shard: smallint("shard").notNull(),
    value: numeric("value", { precision: 30, scale: 12 }).notNull().default("0"),
  },
  (t) => [primaryKey({ columns: [t.name, t.shard] })],
);
