import { describe, expect, it } from "vitest";
import { CommonEnv, loadRedisTarget, parseEnv } from "./index.js";

const target = (env: Record<string, string>) => loadRedisTarget(parseEnv(CommonEnv, env));

describe("loadRedisTarget", () => {
  it("is REDIS_URL's one server by default", () => {
    expect(target({})).toEqual({ kind: "single", url: "redis://127.0.0.1:6379" });
    expect(target({ REDIS_URL: "rediss://user:pw@cache.example.com:6380/2" })).toEqual({
      kind: "single",
      url: "rediss://user:pw@cache.example.com:6380/2",
    });
  });

  it("is a cluster from REDIS_CLUSTER_NODES, whose prefix must hold a hash tag", () => {
    expect(
      target({ REDIS_CLUSTER_NODES: "10.0.0.1:7000, 10.0.0.2:7001,[::1]:7002", QUEUE_PREFIX: "{aitasks}" }),
    ).toEqual({
      kind: "cluster",
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
        { host: "::1", port: 7002 },
      ],
      url: "redis://127.0.0.1:6379",
    });
    expect(() => target({ REDIS_CLUSTER_NODES: "10.0.0.1:7000" })).toThrow(
      /QUEUE_PREFIX: on Redis Cluster it must hold a \{hash tag\}, such as \{aitasks\}.*\(now "bull"\)/,
    );
    expect(() => target({ REDIS_CLUSTER_NODES: "10.0.0.1:7000", QUEUE_PREFIX: "{}" })).toThrow(/QUEUE_PREFIX/);
    expect(() =>
      target({ REDIS_CLUSTER_NODES: "10.0.0.1:7000", QUEUE_PREFIX: "{a}", REDIS_URL: "redis://h:1/3" }),
    ).toThrow(/REDIS_URL: a Redis Cluster has only database 0/);
  });

  it("is a Sentinel-watched master from REDIS_SENTINELS and REDIS_SENTINEL_NAME", () => {
    expect(target({ REDIS_SENTINELS: "s1:26379,s2:26379", REDIS_SENTINEL_NAME: "mymaster" })).toEqual({
      kind: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26379 },
      ],
      name: "mymaster",
      url: "redis://127.0.0.1:6379",
    });
    expect(() => target({ REDIS_SENTINELS: "s1:26379" })).toThrow(/REDIS_SENTINEL_NAME: required with REDIS_SENTINELS/);
    expect(() => target({ REDIS_SENTINEL_NAME: "mymaster" })).toThrow(/REDIS_SENTINEL_NAME: set REDIS_SENTINELS too/);
  });

  it.each([
    ["REDIS_CLUSTER_NODES", "10.0.0.1"],
    ["REDIS_CLUSTER_NODES", "10.0.0.1:7000,"],
    ["REDIS_CLUSTER_NODES", "10.0.0.1:70000"],
    ["REDIS_CLUSTER_NODES", "redis://10.0.0.1:7000"],
    ["REDIS_SENTINELS", "s1:26379;s2:26379"],
    ["REDIS_SENTINELS", ":26379"],
  ])("refuses %s=%s, naming the variable", (variable, value) => {
    expect(() =>
      target({ [variable]: value, QUEUE_PREFIX: "{a}", REDIS_SENTINEL_NAME: "m" } as Record<string, string>),
    ).toThrow(new RegExp(`^invalid configuration:\\n  ${variable}: must be host:port pairs separated by commas`));
  });

  it("refuses a cluster and sentinels together", () => {
    expect(() =>
      target({ REDIS_CLUSTER_NODES: "a:1", REDIS_SENTINELS: "b:2", REDIS_SENTINEL_NAME: "m", QUEUE_PREFIX: "{a}" }),
    ).toThrow(/set either it or REDIS_SENTINELS, not both/);
  });
});
