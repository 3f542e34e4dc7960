import { createHmac } from "node:crypto";

/**
 * The three Standard Webhooks headers of one attempt (https://www.standardwebhooks.com, "Signature
 * scheme"): `webhook-signature` is `v1,` and the base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`,
 * keyed with the bytes that the `whsec_` secret's base64 encodes. The timestamp (whole seconds) is
 * the attempt's own, so a receiver can refuse old replays; the id is the message's, the same on
 * every attempt, so a receiver can drop a duplicate.
 */
export function webhookHeaders(secret: string, messageId: string, body: string, now = new Date()) {
  const timestamp = Math.floor(now.getTime() / 1000);
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const signature = createHmac("sha256", key).update(`${messageId}.${timestamp}.${body}`).digest("base64");
  return {
    "webhook-id": messageId,
    "webhook-timestamp": String(timestamp),
    "webhook-signature": `v1,${signature}`,
  };
}
