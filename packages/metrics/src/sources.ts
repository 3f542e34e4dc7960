import { Gauge, type Registry } from "prom-client";

/**
 * Whether the last scrape could read each source of the metrics computed at scrape time
 * (postgres, redis): `aitasks_metrics_source_up{source}`, 1 or 0. When a read fails or times out,
 * the metrics it feeds are missing (queue depths) or unchanged (money), never made up.
 */
export function createSourceStatus() {
  const up = new Map<string, number>();
  const pending = new Set<Promise<unknown>>();
  return {
    /** `read`'s value, or undefined when it failed; the source counts as up or down accordingly. */
    track<T>(source: string, read: Promise<T>): Promise<T | undefined> {
      const settled = read.then(
        (value) => {
          up.set(source, 1);
          return value;
        },
        () => {
          up.set(source, 0);
          return undefined;
        },
      );
      pending.add(settled);
      void settled.finally(() => pending.delete(settled));
      return settled;
    },
    /**
     * The gauge, registered after the metrics that read the sources: a scrape collects metrics
     * in their order, so their reads have started when this one waits for them.
     */
    register(registry: Registry) {
      new Gauge({
        name: "aitasks_metrics_source_up",
        help: "1 if this scrape could read the source of the metrics computed at scrape time (postgres, redis)",
        labelNames: ["source"] as const,
        registers: [registry],
        async collect() {
          await Promise.all(pending);
          this.reset();
          for (const [source, value] of up) this.set({ source }, value);
        },
      });
    },
  };
}
export type SourceStatus = ReturnType<typeof createSourceStatus>;
