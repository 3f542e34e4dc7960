import { describe, expect, it } from "vitest";
import { ApiEnv, parseEnv } from "./index.js";

const trustProxyOf = (value?: string) =>
  parseEnv(ApiEnv, value === undefined ? {} : { TRUST_PROXY: value }).TRUST_PROXY;

describe("TRUST_PROXY", () => {
  it("is off unless set: unset, empty or 0 believe nobody's X-Forwarded-For", () => {
    expect(trustProxyOf()).toBe(false);
    expect(trustProxyOf("")).toBe(false);
    expect(trustProxyOf("0")).toBe(false);
  });

  it("reads a hop count, or proxies' addresses, CIDRs and range names", () => {
    expect(trustProxyOf("1")).toBe(1);
    expect(trustProxyOf("2")).toBe(2);
    expect(trustProxyOf("10.0.0.0/8, 192.168.1.10,fd00::/8,::1")).toEqual([
      "10.0.0.0/8",
      "192.168.1.10",
      "fd00::/8",
      "::1",
    ]);
    expect(trustProxyOf("loopback,uniquelocal")).toEqual(["loopback", "uniquelocal"]);
  });

  it("refuses anything else at start-up, naming the variable", () => {
    for (const value of [
      "true",
      "yes",
      "-1",
      "1.5",
      "101",
      "10.0.0.0/33",
      "fd00::/129",
      "10.0.0.0/8/8",
      "10.0.0",
      "proxy.internal",
      ",",
    ]) {
      expect(() => trustProxyOf(value), value).toThrow(/^invalid configuration:\n {2}TRUST_PROXY: .*hop count/);
    }
    expect(() => trustProxyOf("true")).toThrow(/true would let any client choose its address/);
  });
});
