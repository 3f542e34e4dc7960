import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

/** An address a host name resolves to, as `dns.lookup` gives it. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (the system resolver by default; tests pass their own). */
export type ResolveHost = (hostname: string) => Promise<ResolvedAddress[]>;

export const resolveWithSystem: ResolveHost = async (hostname) =>
  (await lookup(hostname, { all: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

/** Where callbacks may go: public addresses only, unless CALLBACK_ALLOW_PRIVATE_NETWORKS. */
export interface NetworkPolicy {
  allowPrivateNetworks: boolean;
  resolveHost: ResolveHost;
}

// The non-global ranges of the IANA special-purpose registries (RFC 6890 and its updates):
// https://www.iana.org/assignments/iana-ipv4-special-registry and iana-ipv6-special-registry.
// The first match names the kind; IPv6 beyond these must also be global unicast (2000::/3).
const RANGES: [kind: string, network: string, prefix: number, type: "ipv4" | "ipv6"][] = [
  ["unspecified", "0.0.0.0", 8, "ipv4"],
  ["private", "10.0.0.0", 8, "ipv4"],
  ["shared (carrier-grade NAT)", "100.64.0.0", 10, "ipv4"],
  ["loopback", "127.0.0.0", 8, "ipv4"],
  ["link-local", "169.254.0.0", 16, "ipv4"],
  ["private", "172.16.0.0", 12, "ipv4"],
  ["reserved", "192.0.0.0", 24, "ipv4"],
  ["documentation", "192.0.2.0", 24, "ipv4"],
  ["reserved", "192.88.99.0", 24, "ipv4"],
  ["private", "192.168.0.0", 16, "ipv4"],
  ["benchmarking", "198.18.0.0", 15, "ipv4"],
  ["documentation", "198.51.100.0", 24, "ipv4"],
  ["documentation", "203.0.113.0", 24, "ipv4"],
  ["multicast", "224.0.0.0", 4, "ipv4"],
  ["reserved", "240.0.0.0", 4, "ipv4"],
  ["unspecified", "::", 128, "ipv6"],
  ["loopback", "::1", 128, "ipv6"],
  ["reserved", "64:ff9b:1::", 48, "ipv6"],
  ["discard-only", "100::", 64, "ipv6"],
  ["documentation", "2001:db8::", 32, "ipv6"],
  ["private", "fc00::", 7, "ipv6"],
  ["link-local", "fe80::", 10, "ipv6"],
  ["site-local", "fec0::", 10, "ipv6"],
  ["multicast", "ff00::", 8, "ipv6"],
];
const LISTS = RANGES.map(([kind, network, prefix, type]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return { kind, list, type };
});
const GLOBAL_UNICAST = new BlockList();
GLOBAL_UNICAST.addSubnet("2000::", 3, "ipv6");

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad included). */
function ipv6Groups(address: string): number[] {
  let text = address.split("%")[0]!.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => Number.parseInt(group, 16)));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
}

const ipv4Of = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;

/** The IPv4 address an IPv6 one carries and is routed to: mapped (::ffff:a.b.c.d), NAT64, 6to4. */
function embeddedIpv4(groups: number[]): string | undefined {
  const zero = (from: number, to: number) => groups.slice(from, to).every((group) => group === 0);
  if (zero(0, 5) && groups[5] === 0xffff) return ipv4Of(groups[6]!, groups[7]!);
  if (groups[0] === 0x64 && groups[1] === 0xff9b && zero(2, 6)) return ipv4Of(groups[6]!, groups[7]!);
  if (groups[0] === 0x2002) return ipv4Of(groups[1]!, groups[2]!);
  return undefined;
}

/**
 * Why a callback may not go to this address ("loopback", "private", "link-local", ...), or
 * undefined for a public one. An IPv6 address that carries an IPv4 one is judged by that one.
 */
export function nonPublicKind(address: string): string | undefined {
  const type = isIP(address) === 6 ? "ipv6" : isIP(address) === 4 ? "ipv4" : undefined;
  if (!type) return "not an IP address";
  if (type === "ipv6") {
    const groups = ipv6Groups(address);
    const ipv4 = embeddedIpv4(groups);
    if (ipv4) return nonPublicKind(ipv4);
  }
  for (const { kind, list, type: listType } of LISTS) {
    if (listType === type && list.check(address, type)) return kind;
  }
  if (type === "ipv6" && !GLOBAL_UNICAST.check(address, "ipv6")) return "reserved";
  return undefined;
}

/** A callback URL whose host cannot be called: `kind` says why, `message` says it for a client. */
export class CallbackTargetError extends Error {
  constructor(
    readonly kind: "refused" | "unresolvable" | "resolver-unavailable",
    message: string,
  ) {
    super(message);
    this.name = "CallbackTargetError";
  }
}

const RESOLVE_TIMEOUT_MS = 5000;
const NOT_FOUND = new Set(["ENOTFOUND", "ENODATA", "EAI_NONAME", "EAI_NODATA"]);

/**
 * The addresses to send a callback for `url` to: every address its host resolves to must be
 * public (unless the policy allows private networks), since a client could otherwise reach our
 * own network through us. The caller connects to one of these, never to a second resolution.
 */
export async function resolveCallbackTarget(policy: NetworkPolicy, url: string): Promise<ResolvedAddress[]> {
  const hostname = new URL(url).hostname.replace(/^\[(.*)\]$/, "$1");
  const literal = isIP(hostname);
  let addresses: ResolvedAddress[];
  if (literal) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    let timer: NodeJS.Timeout | undefined;
    try {
      addresses = await Promise.race([
        policy.resolveHost(hostname),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" })),
            RESOLVE_TIMEOUT_MS,
          );
        }),
      ]);
    } catch (error) {
      const code = (error as { code?: string }).code ?? "";
      if (NOT_FOUND.has(code)) throw new CallbackTargetError("unresolvable", `the host "${hostname}" does not resolve`);
      throw new CallbackTargetError(
        "resolver-unavailable",
        `the host "${hostname}" could not be resolved now (${code || (error as Error).message})`,
      );
    } finally {
      clearTimeout(timer);
    }
    if (addresses.length === 0) {
      throw new CallbackTargetError("unresolvable", `the host "${hostname}" does not resolve`);
    }
  }
  if (policy.allowPrivateNetworks) return addresses;
  for (const { address } of addresses) {
    const kind = nonPublicKind(address);
    if (kind === undefined) continue;
    const article = /^[aeiou]/.test(kind) ? "an" : "a";
    const where = literal ? `${address} is` : `the host "${hostname}" resolves to ${address},`;
    throw new CallbackTargetError(
      "refused",
      `${where} ${article} ${kind} address: callbacks go to public addresses only`,
    );
  }
  return addresses;
}
