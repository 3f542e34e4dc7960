/** Fastify's `trustProxy`: whether the peer at `hop` (0: the socket's) may say who sent the request. */
export type TrustProxy = false | string[] | ((address: string, hop: number) => boolean);

/**
 * TRUST_PROXY as Fastify's `trustProxy`. A hop count becomes a function: Fastify 5 takes a number
 * but trusts nobody with it (a hop count cannot tell its proxy from a client that connects
 * directly), so the count is ours to honour, and docs/security.md says when it is safe.
 */
export function trustProxyOf(setting: false | number | string[]): TrustProxy {
  if (typeof setting !== "number") return setting;
  return (_address, hop) => hop < setting;
}
