import { describe, expect, it } from "vitest";
import { CallbackTargetError, nonPublicKind, type ResolveHost, resolveCallbackTarget } from "./network-policy.js";

describe("nonPublicKind", () => {
  it.each([
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["100.64.0.1", "shared (carrier-grade NAT)"],
    ["169.254.169.254", "link-local"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.251", "multicast"],
    ["255.255.255.255", "reserved"],
    ["192.0.2.10", "documentation"],
    ["198.18.0.1", "benchmarking"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fc00::1", "private"],
    ["fd12:3456::1", "private"],
    ["ff02::1", "multicast"],
    ["2001:db8::1", "documentation"],
    // IPv4 carried in IPv6 is judged by the IPv4 address it reaches.
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:7f00:1", "loopback"],
    ["::ffff:10.1.2.3", "private"],
    ["64:ff9b::a9fe:a9fe", "link-local"],
    ["2002:c0a8:101::1", "private"],
    ["::127.0.0.1", "reserved"],
    ["fec0::1", "site-local"],
  ])("refuses %s as %s", (address, kind) => {
    expect(nonPublicKind(address)).toBe(kind);
  });

  it.each(["93.184.215.14", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])(
    "accepts the public address %s",
    (address) => {
      expect(nonPublicKind(address)).toBeUndefined();
    },
  );
});

describe("resolveCallbackTarget", () => {
  const resolving =
    (table: Record<string, string[]>): ResolveHost =>
    async (hostname) => {
      const addresses = table[hostname];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
      return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    };
  const policy = (allowPrivateNetworks: boolean, table: Record<string, string[]> = {}) => ({
    allowPrivateNetworks,
    resolveHost: resolving(table),
  });

  it("gives every address of a public host, and the literal of an IP host without resolving it", async () => {
    const both = ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"];
    expect(await resolveCallbackTarget(policy(false, { "hooks.example": both }), "https://hooks.example/in")).toEqual([
      { address: "93.184.215.14", family: 4 },
      { address: "2606:2800:21f:cb07:6820:80da:af6b:8b2c", family: 6 },
    ]);
    expect(await resolveCallbackTarget(policy(false), "http://[2606:4700:4700::1111]:8080/")).toEqual([
      { address: "2606:4700:4700::1111", family: 6 },
    ]);
  });

  it("refuses a host when any of its addresses is not public, naming the host, the address and why", async () => {
    const mixed = policy(false, { "mixed.example": ["93.184.215.14", "10.0.0.7"] });
    await expect(resolveCallbackTarget(mixed, "https://mixed.example/")).rejects.toThrow(
      'the host "mixed.example" resolves to 10.0.0.7, a private address: callbacks go to public addresses only',
    );
    await expect(resolveCallbackTarget(policy(false), "http://169.254.169.254/latest")).rejects.toThrow(
      "169.254.169.254 is a link-local address",
    );
    // The WHATWG URL parser's forms of 127.0.0.1 are caught as the address they are.
    await expect(resolveCallbackTarget(policy(false), "http://0x7f.1/")).rejects.toThrow("127.0.0.1 is a loopback");
  });

  it("accepts private addresses when the policy allows them, but never a host that does not resolve", async () => {
    const allowed = policy(true, { "internal.example": ["10.0.0.7"] });
    expect(await resolveCallbackTarget(allowed, "http://internal.example/")).toEqual([
      { address: "10.0.0.7", family: 4 },
    ]);
    const error = await resolveCallbackTarget(allowed, "http://missing.example/").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallbackTargetError);
    expect(error).toMatchObject({ kind: "unresolvable", message: 'the host "missing.example" does not resolve' });
  });

  it("tells a resolver that fails for a moment from a host that does not exist", async () => {
    const flaky: ResolveHost = async () => {
      throw Object.assign(new Error("queryA ESERVFAIL"), { code: "ESERVFAIL" });
    };
    await expect(
      resolveCallbackTarget({ allowPrivateNetworks: false, resolveHost: flaky }, "https://hooks.example/"),
    ).rejects.toMatchObject({ kind: "resolver-unavailable" });
  });

  it("resolves localhost with the system resolver and refuses it", async () => {
    const { resolveWithSystem } = await import("./network-policy.js");
    await expect(
      resolveCallbackTarget({ allowPrivateNetworks: false, resolveHost: resolveWithSystem }, "http://localhost:9/"),
    ).rejects.toThrow(/the host "localhost" resolves to (127\.0\.0\.1|::1), a loopback address/);
  });
});
