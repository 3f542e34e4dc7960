// The monitoring examples (docs/prometheus, docs/grafana, compose's `monitoring` profile), checked by
// reading them, and Prometheus's files by its own promtool: no Prometheus or Grafana runs here. They
// must parse, be shaped as their tools read them, and name only metrics the processes export.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, runPromtool } from "@aitasks/testing";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const read = (file: string) => readFileSync(join(repoRoot, file), "utf8");

/** What the processes export (docs/operations.md#metrics), histograms with their series. */
const EXPORTED = new Set(
  [
    "aitasks_http_requests_total",
    "aitasks_tasks_total",
    "aitasks_provider_errors_total",
    "aitasks_tokens_total",
    "aitasks_queue_jobs",
    "aitasks_api_cost_usd_total",
    "aitasks_charged_usd_total",
    "aitasks_income_usd_total",
    "aitasks_income_reversed_usd_total",
    "aitasks_metrics_source_up",
    "aitasks_build_info",
    "process_resident_memory_bytes",
    "nodejs_eventloop_lag_p99_seconds",
    "up",
  ].concat(
    ["aitasks_http_request_duration_seconds", "aitasks_task_duration_seconds"].flatMap((name) =>
      ["_bucket", "_sum", "_count"].map((suffix) => name + suffix),
    ),
  ),
);

/** The metric names an expression reads: identifiers followed by `{`, `[`, or an end, minus PromQL's words. */
function metricsIn(expr: string, recorded: Set<string>): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  const words = new Set(
    "sum max min count by without rate increase deriv and or unless histogram_quantile le on ignoring group_left offset".split(
      " ",
    ),
  );
  const names = [...withoutStrings.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*(?=\s*(\{|\[|\)|$|\s|>|<|-|\*|\/))/g)]
    .map((match) => match[0])
    .filter(
      (name) =>
        !words.has(name) &&
        !/^(provider|model|kind|category|queue|state|status|phase|route|instance|job|source|version|node_version)$/.test(
          name,
        ),
    );
  return names.filter((name) => !recorded.has(name));
}

/** Parentheses and brackets of an expression balance: the commonest slip when editing PromQL by hand. */
function balanced(expr: string): boolean {
  const open: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  for (const char of expr.replace(/"[^"]*"/g, "")) {
    if ("([{".includes(char)) open.push(char);
    else if (char in pairs && open.pop() !== pairs[char]) return false;
  }
  return open.length === 0;
}

describe("docs/prometheus/alerts.yml", () => {
  const file = parse(read("docs/prometheus/alerts.yml")) as {
    groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string }[] }[];
  };
  const rules = file.groups.flatMap((group) => group.rules);
  const recorded = new Set(rules.flatMap((rule) => (rule.record ? [rule.record] : [])));

  it("is a list of rule groups whose rules each record or alert an expression", () => {
    expect(file.groups.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(Boolean(rule.alert) !== Boolean(rule.record), JSON.stringify(rule)).toBe(true);
      expect(typeof rule.expr).toBe("string");
      expect(balanced(rule.expr), rule.expr).toBe(true);
      if (rule.for) expect(rule.for).toMatch(/^\d+[smh]$/);
    }
  });

  it("alerts on a growing backlog, the failure rate and a negative margin", () => {
    const alerts = rules.flatMap((rule) => (rule.alert ? [rule.alert] : []));
    expect(alerts).toEqual(
      expect.arrayContaining(["AitasksQueueBacklogGrowing", "AitasksTaskFailureRateHigh", "AitasksMarginNegative"]),
    );
  });

  it("passes `promtool check rules`", async () => {
    const checked = await runPromtool(["check", "rules", "docs/prometheus/alerts.yml"]);
    expect(checked.code, checked.output).toBe(0);
  });

  it("reads only metrics the processes export, or its own recordings", () => {
    for (const rule of rules) {
      expect(
        metricsIn(rule.expr, recorded).filter((name) => !EXPORTED.has(name)),
        rule.expr,
      ).toEqual([]);
    }
  });
});

describe("docs/prometheus/prometheus.yml", () => {
  const config = parse(read("docs/prometheus/prometheus.yml")) as {
    rule_files: string[];
    scrape_configs: {
      job_name: string;
      metrics_path?: string;
      authorization?: { credentials_file?: string };
      static_configs?: { targets: string[] }[];
      dns_sd_configs?: { names: string[]; port: number }[];
    }[];
  };

  it("passes `promtool check config` (syntax: the token file and rules exist only in the container)", async () => {
    const checked = await runPromtool(["check", "config", "--syntax-only", "docs/prometheus/prometheus.yml"]);
    expect(checked.code, checked.output).toBe(0);
  });

  it("scrapes the API and every worker with the token, and loads the alert rules", () => {
    expect(config.rule_files).toContain("/etc/prometheus/alerts.yml");
    const jobs = Object.fromEntries(config.scrape_configs.map((job) => [job.job_name, job]));
    expect(jobs["aitasks-api"]?.static_configs?.[0]?.targets).toEqual(["api:5000"]);
    expect(jobs["aitasks-worker"]?.dns_sd_configs?.[0]).toMatchObject({ names: ["worker"], port: 9464 });
    for (const job of config.scrape_configs) {
      expect(job.metrics_path ?? "/metrics").toBe("/metrics");
      expect(job.authorization?.credentials_file).toBe("/prometheus/metrics-token");
    }
  });
});

describe("docs/grafana/aitasks-dashboard.json", () => {
  const dashboard = JSON.parse(read("docs/grafana/aitasks-dashboard.json")) as {
    uid: string;
    panels: { id: number; type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
  };
  const datasource = parse(read("docs/grafana/provisioning/datasources/prometheus.yml")) as {
    datasources: { uid: string; type: string }[];
  };

  it("is a dashboard whose panels query the provisioned Prometheus", () => {
    expect(dashboard.uid).toBeTruthy();
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    const queried = dashboard.panels.filter((panel) => panel.type !== "row");
    expect(queried.length).toBeGreaterThan(10);
    for (const panel of queried) {
      expect(panel.datasource?.uid, panel.title).toBe(datasource.datasources[0]!.uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets ?? []) {
        expect(balanced(expr), expr).toBe(true);
        const unknown = metricsIn(expr.replace(/\$__\w+/g, "5m"), new Set()).filter((name) => !EXPORTED.has(name));
        expect(unknown, expr).toEqual([]);
      }
    }
  });

  it("shows money, tasks, tokens, queues, providers and versions", () => {
    const text = JSON.stringify(dashboard);
    for (const metric of [
      "aitasks_income_usd_total",
      "aitasks_api_cost_usd_total",
      "aitasks_tasks_total",
      "aitasks_queue_jobs",
      "aitasks_provider_errors_total",
      "aitasks_task_duration_seconds_bucket",
      "aitasks_tokens_total",
      "aitasks_build_info",
    ]) {
      expect(text).toContain(metric);
    }
  });
});

describe("docker-compose.yml's monitoring profile", () => {
  type Service = { image?: string; profiles?: string[]; volumes?: string[]; ports?: string[] };
  const services = (parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, Service> })
    .services;

  it("runs Prometheus and Grafana only with --profile monitoring, on files of the repository", () => {
    for (const name of ["prometheus", "grafana"]) {
      const service = services[name]!;
      expect(service.profiles, name).toEqual(["monitoring"]);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0]!;
        if (source.startsWith("./")) expect(existsSync(join(repoRoot, source)), volume).toBe(true);
      }
    }
    expect(services.prometheus!.ports).toContain("9090:9090");
    expect(services.grafana!.ports).toContain("3000:3000");
    for (const name of ["postgres", "redis", "api", "worker"]) expect(services[name]!.profiles, name).toBeUndefined();
  });
});
