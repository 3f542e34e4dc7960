import { describe, expect, it } from "vitest";
import { ApiEnv, parseEnv, WorkerEnv } from "./index.js";

describe("the metrics variables", () => {
  it("serve the worker's /metrics and /health on 9464 by default; 0 turns its server off", () => {
    expect(parseEnv(WorkerEnv, {}).WORKER_HTTP_PORT).toBe(9464);
    expect(parseEnv(WorkerEnv, { WORKER_HTTP_PORT: "0" }).WORKER_HTTP_PORT).toBe(0);
    expect(parseEnv(WorkerEnv, { WORKER_HTTP_PORT: "9100" }).WORKER_HTTP_PORT).toBe(9100);
    for (const value of ["-1", "65536", "http", "1.5"]) {
      expect(() => parseEnv(WorkerEnv, { WORKER_HTTP_PORT: value }), value).toThrow(
        /^invalid configuration:\n {2}WORKER_HTTP_PORT: /,
      );
    }
  });

  it("take METRICS_TOKEN on both processes, and ADMIN_API_KEY on the worker too", () => {
    const token = "metrics-token-0123456789";
    for (const schema of [ApiEnv, WorkerEnv]) {
      expect(parseEnv(schema, {}).METRICS_TOKEN).toBeUndefined();
      expect(parseEnv(schema, { METRICS_TOKEN: token }).METRICS_TOKEN).toBe(token);
      for (const value of ["short", "has spaces in the middle of it"]) {
        expect(() => parseEnv(schema, { METRICS_TOKEN: value }), value).toThrow(
          /^invalid configuration:\n {2}METRICS_TOKEN: must be at least 16 characters/,
        );
      }
    }
    expect(parseEnv(WorkerEnv, {}).ADMIN_API_KEY).toEqual([]);
    expect(parseEnv(WorkerEnv, { ADMIN_API_KEY: "admin-key-0123456789, second-key-0123456789" }).ADMIN_API_KEY).toEqual(
      ["admin-key-0123456789", "second-key-0123456789"],
    );
    expect(() => parseEnv(WorkerEnv, { ADMIN_API_KEY: "short" })).toThrow(
      /ADMIN_API_KEY\.0: each key must be at least 16/,
    );
  });
});
