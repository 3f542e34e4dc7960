import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import Stripe from "stripe";

export interface StripeRequest {
  method: string;
  path: string;
  /** The form-encoded body as Stripe's SDK sends it: `{"line_items[0][price]": "price_123", ...}`. */
  form: Record<string, string>;
  idempotencyKey: string | undefined;
  authorization: string | undefined;
}

export interface StripeFailure {
  status: number;
  type: string;
  message: string;
}

/** An object as Stripe's API holds it: `{id: "re_1", object: "refund", ...}`. */
export type StripeObject = { id: string; object: string } & Record<string, unknown>;

// Where each object type is served: GET /v1/<path>/<id>, and GET /v1/<path> for its list.
const PATHS: Record<string, string> = {
  balance_transaction: "balance_transactions",
  charge: "charges",
  "checkout.session": "checkout/sessions",
  customer: "customers",
  dispute: "disputes",
  invoice: "invoices",
  invoice_payment: "invoice_payments",
  payment_intent: "payment_intents",
  refund: "refunds",
  subscription: "subscriptions",
};
const TYPES = new Map(Object.entries(PATHS).map(([type, path]) => [path, type]));

// The references Stripe returns as ids unless the request expands them (https://docs.stripe.com/expand).
// An object put with one of them nested is stored apart and referenced by id, as Stripe keeps it.
const EXPANDABLE = new Set([
  "balance_transaction",
  "charge",
  "customer",
  "failure_balance_transaction",
  "invoice",
  "latest_charge",
  "payment_intent",
  "subscription",
]);

// What each list filters on, as Stripe's list endpoints name their parameters (`payment[type]` and
// the like read a nested field).
const LIST_FILTERS: Record<string, string[]> = {
  charge: ["customer", "payment_intent"],
  dispute: ["charge", "payment_intent"],
  invoice_payment: ["invoice", "status", "payment[type]", "payment[payment_intent]"],
  refund: ["charge", "payment_intent"],
};

/**
 * A local stand-in for Stripe's API, speaking its wire format, so tests run the real `stripe` SDK
 * over real HTTP. It keeps objects as Stripe does: `put` stores one (a payment intent, its charge,
 * a refund, a balance transaction, a dispute, an invoice and its invoice payments...), and the API
 * then answers with each object's state at the time of the request: retrieval by id with
 * `expand[]`, lists newest first with `limit`, `starting_after` and `has_more`, and a 404
 * `resource_missing` for an id it does not hold. It also creates customers and checkout sessions.
 */
export async function startFakeStripeServer() {
  const requests: StripeRequest[] = [];
  const objects = new Map<string, { object: StripeObject; order: number }>();
  const customersByKey = new Map<string, StripeObject>();
  let failure: StripeFailure | undefined;
  let sequence = 0;
  /** Answers a test gave for other calls: `GET /v1/subscriptions/sub_1` → the object to send. */
  const answers = new Map<string, (query: URLSearchParams) => unknown>();

  function put(object: StripeObject): StripeObject {
    const stored: StripeObject = { ...object };
    for (const [field, value] of Object.entries(stored)) {
      if (EXPANDABLE.has(field) && isStripeObject(value)) stored[field] = put(value).id;
    }
    // Every Stripe object has its creation time; lists are ordered by it, newest first.
    stored.created ??= Math.floor(Date.now() / 1000);
    const order = objects.get(stored.id)?.order ?? ++sequence;
    objects.set(stored.id, { object: stored, order });
    return stored;
  }

  function expand(value: unknown, path: string[]): unknown {
    const [field, ...rest] = path;
    if (!field || !value || typeof value !== "object") return value;
    const object = value as Record<string, unknown>;
    if (field === "data" && Array.isArray(object.data)) {
      return { ...object, data: object.data.map((item) => expand(item, rest)) };
    }
    const reference = object[field];
    const target = typeof reference === "string" ? objects.get(reference)?.object : reference;
    return target === undefined ? object : { ...object, [field]: expand(target, rest) };
  }

  function withExpansions(object: unknown, query: URLSearchParams): unknown {
    const paths = [...query.entries()].filter(([key]) => /^expand\[\d*\]$/.test(key)).map(([, path]) => path);
    return paths.reduce((result, path) => expand(result, path.split(".")), object);
  }

  function list(type: string, path: string, query: URLSearchParams) {
    const filters = (LIST_FILTERS[type] ?? []).filter((name) => query.has(name));
    const matching = [...objects.values()]
      .filter(({ object }) => object.object === type)
      .filter(({ object }) => filters.every((name) => fieldOf(object, name) === query.get(name)))
      .sort((a, b) => Number(b.object.created) - Number(a.object.created) || b.order - a.order)
      .map(({ object }) => object);
    const limit = Math.min(Math.max(Number(query.get("limit") ?? 10) || 10, 1), 100);
    const after = query.get("starting_after");
    const start = after ? matching.findIndex((object) => object.id === after) + 1 : 0;
    const page = matching.slice(start, start + limit);
    return { object: "list", url: `/v1/${path}`, has_more: start + limit < matching.length, data: page };
  }

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as IncomingMessage) chunks.push(chunk as Buffer);
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
    const idempotencyKey = req.headers["idempotency-key"] as string | undefined;
    const request: StripeRequest = {
      method: req.method ?? "",
      path: (req.url ?? "").split("?")[0] ?? "",
      form,
      idempotencyKey,
      authorization: req.headers.authorization,
    };
    requests.push(request);
    if (failure) return send(res, failure.status, { error: { type: failure.type, message: failure.message } });
    const query = new URL(req.url ?? "", "http://fake").searchParams;
    const answer =
      answers.get(`${request.method} ${request.path}`) ??
      answers.get(`${request.method} ${request.path.slice(0, request.path.lastIndexOf("/") + 1)}*`);
    if (answer) {
      const body = answer(query);
      if (body !== undefined) return send(res, 200, body);
    }

    if (request.method === "POST" && request.path === "/v1/customers") {
      // Stripe answers a repeated idempotency key with the first response.
      const existing = idempotencyKey ? customersByKey.get(idempotencyKey) : undefined;
      const customer = existing ?? {
        id: `cus_fake_${++sequence}`,
        object: "customer",
        email: form.email ?? null,
        metadata: metadataOf(form),
      };
      if (idempotencyKey) customersByKey.set(idempotencyKey, customer);
      return send(res, 200, put(customer));
    }
    if (request.method === "POST" && request.path === "/v1/checkout/sessions") {
      const id = `cs_test_fake_${++sequence}`;
      return send(
        res,
        200,
        put({
          id,
          object: "checkout.session",
          mode: form.mode ?? "payment",
          customer: form.customer ?? null,
          client_reference_id: form.client_reference_id ?? null,
          metadata: metadataOf(form),
          url: `https://checkout.stripe.com/c/pay/${id}`,
        }),
      );
    }
    if (request.method === "GET") {
      const match = /^\/v1\/(.+?)(?:\/([^/]+))?$/.exec(request.path);
      const type = match && TYPES.get(match[1]!);
      if (match && type && match[2]) {
        const stored = objects.get(decodeURIComponent(match[2]))?.object;
        if (stored?.object === type) return send(res, 200, withExpansions(stored, query));
        return send(res, 404, {
          error: {
            type: "invalid_request_error",
            code: "resource_missing",
            message: `No such ${type.replace("checkout.", "checkout ")}: '${decodeURIComponent(match[2])}'`,
            param: "id",
            doc_url: "https://stripe.com/docs/error-codes/resource-missing",
          },
        });
      }
      if (match && type && LIST_FILTERS[type]) {
        return send(res, 200, withExpansions(list(type, match[1]!, query), query));
      }
    }
    return send(res, 404, {
      error: { type: "invalid_request_error", message: `Unrecognized request URL (${req.method}: ${request.path})` },
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    /** For STRIPE_API_BASE_URL. */
    url,
    requests,
    /**
     * Stores an object (or its new state, replacing the old: a refund that failed, a dispute that
     * closed). Expandable references given as objects are stored apart and kept as their ids.
     */
    put,
    /** Changes some fields of a stored object, as Stripe does when the object moves on. */
    update(id: string, fields: Record<string, unknown>): StripeObject {
      const stored = objects.get(id)?.object;
      if (!stored) throw new Error(`the fake Stripe holds no object ${id}`);
      return put({ ...stored, ...fields });
    },
    /** A stored object as Stripe holds it (references as ids), or undefined. */
    get(id: string): StripeObject | undefined {
      return objects.get(id)?.object;
    },
    /**
     * Answers `method path` with what `answer` returns for the query, before the objects held;
     * `undefined` falls through to them. A path ending in `/*` answers every id under it.
     */
    answer(method: string, path: string, answer: (query: URLSearchParams) => unknown) {
      answers.set(`${method} ${path}`, answer);
    },
    /** Every following call fails this way until `fail(undefined)`. */
    fail(next: StripeFailure | undefined) {
      failure = next;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
export type FakeStripeServer = Awaited<ReturnType<typeof startFakeStripeServer>>;

function isStripeObject(value: unknown): value is StripeObject {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const { id, object } = value as Record<string, unknown>;
  return typeof id === "string" && typeof object === "string";
}

/** A field of an object by a list parameter's name: `status`, or `payment[type]` for `payment.type`. */
function fieldOf(object: Record<string, unknown>, name: string): unknown {
  let value: unknown = object;
  for (const part of name.replaceAll("]", "").split("[")) {
    value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  }
  return typeof value === "object" && value !== null && "id" in value ? (value as { id: unknown }).id : value;
}

function metadataOf(form: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(form)
      .filter(([key]) => /^metadata\[[^\]]+\]$/.test(key))
      .map(([key, value]) => [key.slice("metadata[".length, -1), value]),
  );
}

function send(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json", "request-id": `req_fake_${Date.now()}` });
  res.end(JSON.stringify(body));
}

/**
 * A webhook delivery as Stripe would post it: the JSON body and a real `Stripe-Signature`
 * header for `secret` (`timestamp` in seconds, to test tolerance).
 */
export function signStripeEvent(event: object, secret: string, timestamp = Math.floor(Date.now() / 1000)) {
  const payload = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp });
  return { payload, headers: { "content-type": "application/json", "stripe-signature": signature } };
}

let eventSequence = 0;
/** A minimal Stripe event envelope around `object`. `created` is in seconds. */
export function stripeEvent(type: string, object: object, options: { id?: string; created?: number } = {}) {
  return {
    id: options.id ?? `evt_test_${Date.now()}_${++eventSequence}`,
    object: "event",
    api_version: "2026-10-28.endive",
    created: options.created ?? Math.floor(Date.now() / 1000),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
    data: { object },
  };
}
