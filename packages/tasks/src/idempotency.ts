import { createHash, randomUUID } from "node:crypto";
import type { Principal } from "@aitasks/auth";
import type { Executor } from "@aitasks/db";
import { ValidationError } from "@aitasks/errors";
import { sql } from "drizzle-orm";

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header): the first request with a key runs
// and its answer is kept; a retry with the same key and the same request gets that answer again.
// Rows live in Postgres (idempotency_keys), so a replay works on any API process and after a restart.

/** A caller's key: `scope` keeps one caller's keys apart from another's. */
export interface IdempotencyKeyRef {
  scope: string;
  key: string;
}

/** The claim a request holds on its key while it runs; only the holder may store or release it. */
export interface HeldIdempotencyKey extends IdempotencyKeyRef {
  claim: string;
}

/** An answer as it was sent, to be sent again. */
export interface StoredResponse {
  statusCode: number;
  body: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
}

export type IdempotencyClaim =
  | { outcome: "claimed"; held: HeldIdempotencyKey }
  | { outcome: "replay"; response: StoredResponse }
  /** The key was used for another request (another body or route). */
  | { outcome: "reused" }
  /** The first request with this key has not answered yet. */
  | { outcome: "in_flight" };

/**
 * Whose keys these are: a user key's id (two keys of one user do not share answers), the admin
 * (every admin key, as the API cannot tell them apart), or the client's address in open mode.
 */
export function idempotencyScope(principal: Principal, clientAddress: string): string {
  if (principal.role === "user") return `key:${principal.keyId}`;
  if (principal.role === "admin") return "admin";
  return `ip:${clientAddress}`;
}

/**
 * What makes two requests "the same": the method, the path (the caller normalizes aliases such as
 * /api/v1), and the parsed JSON body re-serialized with sorted keys. Equal JSON sent with other
 * spacing or key order is the same request; raw bytes would make a retry through a proxy that
 * re-encodes JSON look like key reuse.
 */
export function fingerprintRequest(method: string, path: string, body: unknown): string {
  return createHash("sha256")
    .update(`${method.toUpperCase()} ${path}\n${canonicalJson(body)}`, "utf8")
    .digest("hex");
}

/** Deeper than any request we accept; a body nested past it is refused before it is read further. */
const MAX_BODY_DEPTH = 64;

function canonicalJson(value: unknown, depth = 0): string {
  if (depth > MAX_BODY_DEPTH)
    throw new ValidationError(`body must not be nested more than ${MAX_BODY_DEPTH} levels deep`);
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item, depth + 1)).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const object = value as Record<string, unknown>;
    const members = Object.keys(object)
      .sort()
      .map((name) => `${JSON.stringify(name)}:${canonicalJson(object[name], depth + 1)}`);
    return `{${members.join(",")}}`;
  }
  // `undefined`: no body at all.
  return JSON.stringify(value) ?? "";
}

/**
 * Expired rows one claim deletes besides its own key's. Each claim adds at most one row and
 * removes up to two expired ones, so a backlog of expired rows shrinks under any traffic that
 * uses keys, at a bounded cost per request (an index range scan on expires_at).
 */
const SWEEP_PER_CLAIM = 2;

/**
 * Claims `key` for a request, or says what became of it. The claim is one statement: a new key is
 * inserted; a live row is left alone (two concurrent first requests cannot both win: the second
 * waits on the first's row lock and then sees it live); an expired row is replaced in place. A
 * claim lasts `leaseS` seconds while in flight, so a process that died mid-request frees the key.
 */
export async function claimIdempotencyKey(
  db: Executor,
  ref: IdempotencyKeyRef,
  request: { requestHash: string; leaseS: number },
): Promise<IdempotencyClaim> {
  // A key released (5xx) or expired between the claim and the read is claimed again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const claim = randomUUID();
    const claimed = await db.execute(sql`
      with swept as (
        delete from idempotency_keys where (scope, key) in (
          select scope, key from idempotency_keys
          where expires_at <= now() and (scope, key) <> (${ref.scope}, ${ref.key})
          order by expires_at limit ${SWEEP_PER_CLAIM} for update skip locked))
      insert into idempotency_keys (scope, key, request_hash, state, claim, expires_at)
      values (${ref.scope}, ${ref.key}, ${request.requestHash}, 'in_flight', ${claim},
        now() + make_interval(secs => ${request.leaseS}::double precision))
      on conflict (scope, key) do update set
        request_hash = excluded.request_hash, state = 'in_flight', claim = excluded.claim, status_code = null,
        response_body = null, response_headers = null, created_at = now(), expires_at = excluded.expires_at
        where idempotency_keys.expires_at <= now()
      returning 1 as claimed`);
    if (claimed.length > 0) return { outcome: "claimed", held: { ...ref, claim } };

    const [row] = await db.execute<{
      request_hash: string;
      state: "in_flight" | "done";
      status_code: number | null;
      response_body: string | null;
      response_headers: Record<string, string> | null;
    }>(sql`
      select request_hash, state, status_code, response_body, response_headers from idempotency_keys
      where scope = ${ref.scope} and key = ${ref.key} and expires_at > now()`);
    if (!row) continue;
    if (row.request_hash !== request.requestHash) return { outcome: "reused" };
    if (row.state === "in_flight") return { outcome: "in_flight" };
    return {
      outcome: "replay",
      response: { statusCode: row.status_code!, body: row.response_body!, headers: row.response_headers ?? {} },
    };
  }
  // Claimed and let go three times over: someone else keeps working with this key.
  return { outcome: "in_flight" };
}

/**
 * Keeps the answer of the request holding the key, for `ttlS` seconds from its first request.
 * False when the claim was lost (its lease ran out and another request took the key).
 */
export async function saveIdempotentResponse(
  db: Executor,
  held: HeldIdempotencyKey,
  response: StoredResponse,
  ttlS: number,
): Promise<boolean> {
  const rows = await db.execute(sql`
    update idempotency_keys set state = 'done', status_code = ${response.statusCode},
      response_body = ${response.body}, response_headers = ${JSON.stringify(response.headers)}::jsonb,
      expires_at = created_at + make_interval(secs => ${ttlS}::double precision)
    where scope = ${held.scope} and key = ${held.key} and claim = ${held.claim}
    returning 1 as saved`);
  return rows.length > 0;
}

/** Lets the key go without an answer (the request failed on our side): a retry runs afresh. */
export async function releaseIdempotencyKey(db: Executor, held: HeldIdempotencyKey): Promise<void> {
  await db.execute(sql`
    delete from idempotency_keys where scope = ${held.scope} and key = ${held.key} and claim = ${held.claim}`);
}
