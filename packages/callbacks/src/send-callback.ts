import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { LookupFunction } from "node:net";
import type { ResolvedAddress } from "./network-policy.js";

export interface CallbackRequest {
  url: string;
  /** The address checked for this attempt: the connection goes there, whatever DNS says by then. */
  address: ResolvedAddress;
  headers: Record<string, string>;
  body: string;
  /** For the whole exchange: connecting, the answer's headers, and reading its body. */
  timeoutMs: number;
  /** Bytes of the answer's body read (and thrown away) at most; then the connection is closed. */
  maxResponseBytes: number;
}

/** What the receiver answered: only its status counts; redirects are not followed. */
export interface CallbackResponse {
  statusCode: number;
}

/**
 * POSTs one callback. The socket connects to `address` through a `lookup` that answers with it
 * alone, so the host cannot be made to point elsewhere between the check and the connection (DNS
 * rebinding), while TLS still verifies the certificate against the URL's host name. No agent:
 * a kept-alive socket of another attempt could lead to an address this one did not check.
 * Rejects when no answer came in time or the connection failed.
 */
export function sendCallback(request: CallbackRequest): Promise<CallbackResponse> {
  const target = new URL(request.url);
  const pinned = request.address;
  const lookup: LookupFunction = (_hostname, options, callback) => {
    if (options.all) callback(null, [pinned]);
    else callback(null, pinned.address, pinned.family);
  };
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;

  return new Promise((resolve, reject) => {
    let statusCode: number | undefined;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outgoing.destroy();
      // An answer whose body was cut short (the cap, the deadline) still counts by its status.
      if (statusCode !== undefined) resolve({ statusCode });
      else reject(error ?? new Error("the connection closed without an answer"));
    };
    const outgoing = send(
      target,
      {
        method: "POST",
        agent: false,
        lookup,
        headers: { ...request.headers, "content-length": String(Buffer.byteLength(request.body)) },
      },
      (response) => {
        statusCode = response.statusCode ?? 0;
        let received = 0;
        response.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received >= request.maxResponseBytes) settle();
        });
        response.on("end", () => settle());
        response.on("error", () => settle());
        response.on("close", () => settle());
      },
    );
    const timer = setTimeout(() => settle(new Error(`no answer within ${request.timeoutMs} ms`)), request.timeoutMs);
    outgoing.on("error", (error) => settle(new Error(`the request failed: ${error.message}`)));
    outgoing.end(request.body);
  });
}
