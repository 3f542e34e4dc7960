import { Gauge, type Registry } from "prom-client";
// Bundled into dist/ by `npm run build`: the version is the one the process was built from.
import manifest from "../../../package.json" with { type: "json" };

/** The product's version: the root package.json's `version`, `unknown` while it has none. */
const PRODUCT_VERSION = (manifest as { version?: string }).version ?? "unknown";

/**
 * `aitasks_build_info{version,node_version}` = 1, Prometheus's convention for what a process runs:
 * `count by (version) (aitasks_build_info)` shows what a rolling deploy has reached.
 */
export function registerBuildInfo(registry: Registry) {
  new Gauge({
    name: "aitasks_build_info",
    help: "1, labelled with the product's version (root package.json) and the Node.js version this process runs",
    labelNames: ["version", "node_version"] as const,
    registers: [registry],
  }).set({ version: PRODUCT_VERSION, node_version: process.version }, 1);
}
