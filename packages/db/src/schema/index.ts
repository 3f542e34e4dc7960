// Every table and enum must be exported here: drizzle-kit only emits CREATE TYPE for exported enums.
export * from "./api-keys.js";
export * from "./callback-deliveries.js";
export * from "./credits.js";
export * from "./dashboard-sessions.js";
export * from "./idempotency-keys.js";
export * from "./ledger-entries.js";
export * from "./report-rollups.js";
export * from "./stats-counters.js";
export * from "./stripe-events.js";
export * from "./stripe-objects.js";
export * from "./subscriptions.js";
export * from "./tasks.js";
export * from "./usage-rollups.js";
export * from "./users.js";
