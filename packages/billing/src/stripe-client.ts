import { NotConfiguredError, UpstreamError, ValidationError } from "@aitasks/errors";
import Stripe from "stripe";
import { describeIssue, StripeEventEnvelope } from "./schemas.js";

export interface StripeConfig {
  secretKey?: string | undefined;
  webhookSecret?: string | undefined;
  /** Another Stripe API endpoint (a local fake in tests): host, port and protocol are taken from it. */
  apiBaseUrl?: string | undefined;
}

/** The SDK client, or undefined when no secret key is configured (checkout then answers 503). */
export function createStripeClient(config: StripeConfig): Stripe | undefined {
  if (!config.secretKey) return undefined;
  const options: ConstructorParameters<typeof Stripe>[1] = { maxNetworkRetries: 1, timeout: 20_000 };
  if (config.apiBaseUrl) {
    const url = new URL(config.apiBaseUrl);
    options.host = url.hostname;
    options.protocol = url.protocol === "http:" ? "http" : "https";
    options.port = url.port || (url.protocol === "http:" ? 80 : 443);
  }
  return new Stripe(config.secretKey, options);
}

export function requireStripe(stripe: Stripe | undefined): Stripe {
  if (!stripe) throw new NotConfiguredError("payments are not available: STRIPE_SECRET_KEY is not configured");
  return stripe;
}

/**
 * Stripe has no such object (404 `resource_missing`): a permanent answer, not an outage. A webhook
 * records its event with this as the problem and answers 200, as Stripe would otherwise redeliver
 * it for days to the same answer; a client's request still gets a 502.
 */
export class MissingStripeObjectError extends UpstreamError {}

/** Stripe failures become 502s the client can read; our own errors pass through. */
export async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) {
      const message = `Stripe refused the request: ${error.message}`;
      if (error.statusCode === 404 && error.code === "resource_missing") {
        throw new MissingStripeObjectError(message, false, { cause: error });
      }
      throw new UpstreamError(message, false, { cause: error });
    }
    throw error;
  }
}

// Stripe's own default: events signed more than 5 minutes ago are refused (replay protection).
const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * Verifies a webhook delivery against the raw body, then reads its envelope: an event signed with
 * our secret but of a shape we cannot read is refused with 400 naming the field, and books nothing.
 */
export function verifyStripeEvent(
  webhookSecret: string | undefined,
  rawBody: Buffer,
  signature: string | string[] | undefined,
): StripeEventEnvelope {
  if (!webhookSecret)
    throw new NotConfiguredError("webhooks are not available: STRIPE_WEBHOOK_SECRET is not configured");
  if (typeof signature !== "string" || signature.length === 0) {
    throw new ValidationError("missing Stripe-Signature header");
  }
  let event: unknown;
  try {
    event = Stripe.webhooks.constructEvent(rawBody, signature, webhookSecret, SIGNATURE_TOLERANCE_SECONDS);
  } catch (error) {
    // Stripe's message goes on for a paragraph; its first sentence says what failed.
    const reason = (error as Error).message.split(/(?<=\.)\s/)[0]?.trim();
    throw new ValidationError(`invalid Stripe signature: ${reason}`);
  }
  const envelope = StripeEventEnvelope.safeParse(event);
  if (!envelope.success) throw new ValidationError(`unreadable Stripe event: ${describeIssue(envelope.error)}`);
  return envelope.data;
}
