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

/**
 * A local stand-in for the two Stripe API calls the service makes (customers, checkout sessions),
 * speaking Stripe's wire format, so tests run the real `stripe` SDK over real HTTP.
 */
export async function startFakeStripeServer() {
  const requests: StripeRequest[] = [];
  const customersByKey = new Map<string, object>();
  let failure: StripeFailure | undefined;
  let sequence = 0;
  /** Answers a test gave for other calls: `GET /v1/subscriptions/sub_1` → the object to send. */
  const answers = new Map<string, (query: URLSearchParams) => unknown>();

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
    const answer =
      answers.get(`${request.method} ${request.path}`) ??
      answers.get(`${request.method} ${request.path.slice(0, request.path.lastIndexOf("/") + 1)}*`);
    if (answer) {
      const body = answer(new URL(req.url ?? "", "http://fake").searchParams);
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
      return send(res, 200, customer);
    }
    if (request.method === "POST" && request.path === "/v1/checkout/sessions") {
      const id = `cs_test_fake_${++sequence}`;
      return send(res, 200, {
        id,
        object: "checkout.session",
        mode: form.mode,
        customer: form.customer ?? null,
        client_reference_id: form.client_reference_id ?? null,
        metadata: metadataOf(form),
        url: `https://checkout.stripe.com/c/pay/${id}`,
      });
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
     * Answers `method path` with what `answer` returns for the query (a list: `{object: "list", data, has_more}`);
     * `undefined` falls through to a 404, as for an unknown object. A path ending in `/*` answers
     * every id under it that has no answer of its own.
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
