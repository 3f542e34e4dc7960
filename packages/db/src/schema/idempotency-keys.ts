import { sql } from "drizzle-orm";
import { check, index, jsonb, pgEnum, pgTable, primaryKey, smallint, text, timestamp, uuid } from "drizzle-orm/pg-core";

export const idempotencyState = pgEnum("idempotency_state", ["in_flight", "done"]);

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/**
 * One row per `Idempotency-Key` a caller sent (draft-ietf-httpapi-idempotency-key-header): claimed
 * `in_flight` by the first request, then `done` with the answer to replay, until `expires_at`.
 * While in flight, `expires_at` is a lease (a process that died mid-request frees the key); once
 * done, it is the end of the key's TTL. `claim` names the request holding the row, so that only it
 * may store the answer or let the key go.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    // Whose key it is: `key:<api key id>`, `admin`, or `ip:<address>` in open mode.
    scope: text("scope").notNull(),
    key: text("key").notNull(),
    // SHA-256 (hex) of the request the key was first used for (method, path, canonical body).
    requestHash: text("request_hash").notNull(),
    state: idempotencyState("state").notNull(),
    claim: uuid("claim").notNull(),
    statusCode: smallint("status_code"),
    // The answer's bytes as sent (text, not jsonb: jsonb would reorder keys and spacing).
    responseBody: text("response_body"),
    // The headers replayed with it (Location, Content-Type, ...), lower-case names.
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>(),
    createdAt: timestamptz("created_at").notNull().defaultNow(),
    expiresAt: timestamptz("expires_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.scope, t.key] }),
    // The claim statement sweeps a few expired rows by this index.
    index("idempotency_keys_expires_at_idx").on(t.expiresAt),
    check(
      "idempotency_keys_done_has_answer",
      sql`(${t.state} = 'done') = (${t.statusCode} is not null and ${t.responseBody} is not null)`,
    ),
  ],
);
