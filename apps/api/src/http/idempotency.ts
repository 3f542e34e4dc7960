import { ValidationError } from "@aitasks/errors";
import {
  claimIdempotencyKey,
  fingerprintRequest,
  type HeldIdempotencyKey,
  idempotencyScope,
  releaseIdempotencyKey,
  saveIdempotentResponse,
} from "@aitasks/tasks";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AppDeps } from "../deps.js";
import { type ApiErrorCode, ERROR_CODES } from "./errors.js";

/**
 * How long a claim holds while its request runs: longer than any request takes (`?wait` holds at
 * most 60 s). A key whose process died mid-request is free again after this.
 */
const IN_FLIGHT_LEASE_S = 120;

/** The headers of an answer that belong to it and are replayed with it; the rest are per request. */
const REPLAYED_HEADERS = ["content-type", "location", "retry-after", "preference-applied"];

const MAX_KEY_LENGTH = 255;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;
// An sf-string (RFC 8941 §3.3.3): printable ASCII between quotes, `"` and `\` escaped by `\`.
const SF_STRING = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"$/;

/**
 * The request's key, or undefined when it sent none. The draft (draft-ietf-httpapi-idempotency-key-header)
 * makes the value a structured-field string, `"abc"`; a bare `abc` is taken too, as most clients
 * send it, and means the same key. Either way the key is 1 to 255 printable ASCII characters.
 */
function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers["idempotency-key"];
  if (header === undefined) return undefined;
  // Node joins repeated headers with ", ", which could pass for one key.
  const sent = request.raw.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === "idempotency-key");
  if (Array.isArray(header) || sent.length > 1)
    throw new ValidationError("send one Idempotency-Key header, not several");
  let key = header.trim();
  if (key.startsWith('"')) key = SF_STRING.exec(key)?.[1]?.replace(/\\(["\\])/g, "$1") ?? "";
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !PRINTABLE_ASCII.test(key)) {
    throw new ValidationError(
      `Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters, as a quoted string ("abc") or bare (abc)`,
    );
  }
  return key;
}

/**
 * Whether an answer says "this is what happened" (kept, replayed) rather than "try again" (a 5xx
 * or 429: the key is freed). On these routes a 502 is the first kind: a waited task that failed,
 * stored before it ran, which a retry must not store again.
 */
const isReplayable = (statusCode: number) => (statusCode < 500 && statusCode !== 429) || statusCode === 502;

function refuse(request: FastifyRequest, reply: FastifyReply, code: ApiErrorCode, message: string) {
  return reply.code(ERROR_CODES[code]).send({ error: message, code, request_id: request.id });
}

/**
 * Makes the routes of this scope honour `Idempotency-Key` (SPEC, "The client contract"): the first
 * request with a key runs and its answer is kept `idempotencyTtlS` seconds; the same request again
 * gets that answer with `Idempotent-Replayed: true` and runs nothing; the key with another request
 * is `422`; while the first still runs, `409` with `Retry-After: 1`. Keys belong to the caller
 * (`idempotencyScope`). A 5xx (but a failed task's 502) or 429 answer is not kept, so a retry runs
 * afresh; every other answer, 4xx included, is. A route answers nothing 5xx once it has stored a
 * task. Requests refused before this hook (authentication, rate limit, a body that cannot be
 * parsed) claim nothing. Register it once per scope, before that scope's routes.
 */
export function useIdempotencyKeys(app: FastifyInstance, deps: Pick<AppDeps, "db" | "idempotencyTtlS">) {
  const held = new WeakMap<FastifyRequest, HeldIdempotencyKey>();

  /** Claims the request's key; true when the answer was sent here (a replay or a refusal). */
  const claim = async (request: FastifyRequest, reply: FastifyReply, key: string): Promise<boolean> => {
    const ref = { scope: idempotencyScope(request.principal, request.ip), key };
    // /api/v1 is /api under another name: the same request by either path.
    const path = (request.routeOptions.url ?? request.url).replace(/^\/api\/v1(?=\/)/, "/api");
    const result = await claimIdempotencyKey(deps.db, ref, {
      requestHash: fingerprintRequest(request.method, path, request.body),
      leaseS: IN_FLIGHT_LEASE_S,
    });
    switch (result.outcome) {
      case "claimed":
        held.set(request, result.held);
        return false;
      case "replay":
        reply
          .code(result.response.statusCode)
          .headers({ ...result.response.headers, "idempotent-replayed": "true" })
          .send(result.response.body);
        return true;
      case "reused":
        refuse(
          request,
          reply,
          "IDEMPOTENCY_KEY_REUSED",
          "this Idempotency-Key was already used for a different request; use a new key for a new request",
        );
        return true;
      case "in_flight":
        reply.header("retry-after", "1");
        refuse(
          request,
          reply,
          "IDEMPOTENCY_KEY_IN_FLIGHT",
          "a request with this Idempotency-Key is still running; try again shortly",
        );
        return true;
    }
  };
  // Callback hooks: most requests carry no key, and should not pay for a promise in each hook.
  // A malformed key throws here, and Fastify answers it as it answers a hook's error.
  app.addHook("preHandler", (request, reply, done) => {
    const key = idempotencyKeyOf(request);
    if (key === undefined) {
      done();
      return;
    }
    claim(request, reply, key).then((answered) => {
      // An answer sent here ends the request: the route must not run.
      if (!answered) done();
    }, done);
  });

  /** Keeps a replayable answer for the key, or frees the key for a retry. */
  const recordOutcome = async (
    request: FastifyRequest,
    reply: FastifyReply,
    payload: unknown,
    claim: HeldIdempotencyKey,
  ) => {
    try {
      if (isReplayable(reply.statusCode) && typeof payload === "string") {
        const headers: Record<string, string> = {};
        for (const name of REPLAYED_HEADERS) {
          const value = reply.getHeader(name);
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : String(value);
        }
        const response = { statusCode: reply.statusCode, body: payload, headers };
        await saveIdempotentResponse(deps.db, claim, response, deps.idempotencyTtlS);
      } else {
        await releaseIdempotencyKey(deps.db, claim);
      }
    } catch (error) {
      // The answer goes out anyway (the task exists); the claim lapses with its lease.
      request.log.warn({ err: error }, "could not record the outcome of an Idempotency-Key");
    }
  };
  // Every answer passes here, the error handler's included, already serialized.
  app.addHook("onSend", (request, reply, payload, done) => {
    const claim = held.get(request);
    if (!claim) {
      done(null, payload);
      return;
    }
    held.delete(request);
    recordOutcome(request, reply, payload, claim).then(() => done(null, payload));
  });
}
