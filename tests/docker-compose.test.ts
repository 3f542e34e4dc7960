import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ApiEnv, WorkerEnv } from "@aitasks/config";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// No Docker engine runs here, so the image and compose files are checked by reading them.
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const read = (file: string) => readFileSync(join(root, file), "utf8");

/** The variables of docs/configuration.md's table: the first column's `NAME`s. */
const DOCUMENTED_VARIABLES = new Set(
  read("docs/configuration.md")
    .split("\n")
    .filter((line) => /^\| `[A-Z]/.test(line))
    .flatMap((line) => [...(line.split("|")[1] ?? "").matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!)),
);

describe("docs/configuration.md", () => {
  it("documents every variable the processes read", () => {
    const read = [...Object.keys(ApiEnv.shape), ...Object.keys(WorkerEnv.shape)];
    expect(read.filter((variable) => !DOCUMENTED_VARIABLES.has(variable))).toEqual([]);
    expect(DOCUMENTED_VARIABLES.size).toBeGreaterThan(20);
  });
});

type Service = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  ports?: unknown[];
  container_name?: string;
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  stop_grace_period?: string;
};

const compose = parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;

const commandText = (command: string | string[] | undefined) =>
  Array.isArray(command) ? command.join(" ") : (command ?? "");

/** `environment` as a map, whether written as a map or as a list of NAME=value. */
function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const at = entry.indexOf("=");
        return at === -1 ? [entry, ""] : [entry.slice(0, at), entry.slice(at + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(env).map(([name, value]) => [name, String(value ?? "")]));
}

/** Dockerfile instructions with continuations joined and comments dropped. */
function dockerfileInstructions(text: string): { keyword: string; args: string }[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (current === "" && (line === "" || line.startsWith("#"))) continue;
    if (line.endsWith("\\")) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    logical.push(current + line);
    current = "";
  }
  if (current) logical.push(current);
  return logical.map((line) => {
    const [keyword = "", ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(" ") };
  });
}

const dockerfile = dockerfileInstructions(read("Dockerfile"));

/** Source paths of a COPY (flags such as --chown dropped; JSON form supported). */
function copySources(args: string): string[] {
  const trimmed = args.replace(/^(--\S+\s+)*/, "");
  const parts = trimmed.startsWith("[") ? (JSON.parse(trimmed) as string[]) : trimmed.split(/\s+/);
  return parts.slice(0, -1).map((source) => source.replace(/^\.\//, "").replace(/\/$/, ""));
}

function workspaceManifests(): string[] {
  return ["apps", "packages"].flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(join(root, dir, entry.name, "package.json")))
      .map((entry) => `${dir}/${entry.name}/package.json`),
  );
}

describe("docker-compose.yml", () => {
  it("has the four services and no container_name anywhere", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["postgres", "redis", "api", "worker"]));
    for (const [name, service] of Object.entries(services)) {
      expect(service.container_name, `${name} has container_name`).toBeUndefined();
    }
  });

  it("runs Postgres 16 and a Redis 7 that never evicts job keys", () => {
    expect(services.postgres!.image).toMatch(/^postgres:16/);
    expect(services.postgres!.healthcheck?.test).toBeDefined();
    expect(commandText(services.postgres!.healthcheck?.test)).toContain("pg_isready");
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(commandText(services.redis!.command)).toContain("noeviction");
    expect(commandText(services.redis!.healthcheck?.test)).toContain("redis-cli");
  });

  it("publishes 5000 on the api and nothing on the scalable worker", () => {
    expect((services.api!.ports ?? []).map(String)).toContain("5000:5000");
    expect(services.worker!.ports).toBeUndefined();
    expect(services.worker!.container_name).toBeUndefined();
    expect(commandText(services.api!.healthcheck?.test)).toContain("http://127.0.0.1:5000/health");
  });

  it.each([
    ["api", "start:api"],
    ["worker", "start:worker"],
  ])("%s builds the repo's Dockerfile and runs npm script %s", (name, script) => {
    const service = services[name]!;
    expect(service.build, `${name} has no build`).toBeDefined();
    const build = typeof service.build === "string" ? { context: service.build } : service.build!;
    const context = resolve(root, build.context ?? ".");
    expect(resolve(context, build.dockerfile ?? "Dockerfile")).toBe(join(root, "Dockerfile"));

    expect(commandText(service.command)).toBe(`npm run ${script}`);
    expect(scripts[script]).toBeDefined();
  });

  it.each(["api", "worker"])("%s reaches postgres and redis by service name once they are healthy", (name) => {
    const service = services[name]!;
    const env = environment(service);
    expect(new URL(env.DATABASE_URL!).hostname).toBe("postgres");
    expect(new URL(env.REDIS_URL!).hostname).toBe("redis");

    const dependsOn = service.depends_on;
    expect(dependsOn && !Array.isArray(dependsOn)).toBe(true);
    const conditions = dependsOn as Record<string, { condition?: string }>;
    expect(conditions.postgres?.condition).toBe("service_healthy");
    expect(conditions.redis?.condition).toBe("service_healthy");
  });

  it.each(["api", "worker"])("%s sets only documented variables", (name) => {
    const names = Object.keys(environment(services[name]!));
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((variable) => !DOCUMENTED_VARIABLES.has(variable))).toEqual([]);
  });

  it("passes provider settings through to api and worker and gives workers time to finish", () => {
    for (const name of ["api", "worker"]) {
      const env = environment(services[name]!);
      for (const variable of ["OPENAI_API_KEY", "OPENAI_BASE_URL", "MISTRAL_API_KEY", "MISTRAL_BASE_URL"]) {
        expect(env[variable], `${name} ${variable}`).toBe(`\${${variable}:-}`);
      }
    }
    expect(environment(services.worker!).WORKER_CONCURRENCY).toBeDefined();
    expect(services.worker!.stop_grace_period).toBe("40s");
  });
});

describe("Dockerfile", () => {
  it("builds on node:24 and runs as the non-root node user in production mode", () => {
    const from = dockerfile.filter((instruction) => instruction.keyword === "FROM");
    expect(from.length).toBeGreaterThan(0);
    for (const instruction of from) expect(instruction.args).toMatch(/^(--\S+\s+)*node:24\b/);

    const users = dockerfile.filter((instruction) => instruction.keyword === "USER");
    expect(users.at(-1)?.args).toBe("node");
    expect(dockerfile.some((i) => i.keyword === "ENV" && /NODE_ENV[= ]production/.test(i.args))).toBe(true);
    expect(dockerfile.some((i) => i.keyword === "EXPOSE" && i.args.split(/\s+/).includes("5000"))).toBe(true);
  });

  it("copies the lockfile, every workspace manifest and the dependency patches before npm ci, then the sources", () => {
    const install = dockerfile.findIndex((i) => i.keyword === "RUN" && /\bnpm ci\b/.test(i.args));
    expect(install).toBeGreaterThan(-1);
    expect(dockerfile[install]!.args).toContain("--omit=dev");

    const before = dockerfile
      .slice(0, install)
      .filter((i) => i.keyword === "COPY")
      .flatMap((i) => copySources(i.args));
    const manifests = workspaceManifests();
    expect(manifests.length).toBeGreaterThan(0);
    // patches/ too: npm ci's postinstall applies them.
    const missing = ["package.json", "package-lock.json", "patches", ...manifests].filter(
      (file) => !before.includes(file),
    );
    expect(missing, "manifests npm ci would not see").toEqual([]);

    const after = dockerfile
      .slice(install + 1)
      .filter((i) => i.keyword === "COPY")
      .flatMap((i) => copySources(i.args));
    expect(after).toEqual(expect.arrayContaining(["apps", "packages", "scripts", "tsconfig.json"]));
    expect(existsSync(join(root, "packages/db/migrations"))).toBe(true);
    // The bundles are built into the image, after the sources, before the USER switch (dist/ stays root's).
    const buildStep = dockerfile.findIndex((i) => i.keyword === "RUN" && /\bnpm run build\b/.test(i.args));
    const lastCopy = dockerfile.findLastIndex((i) => i.keyword === "COPY");
    const user = dockerfile.findLastIndex((i) => i.keyword === "USER");
    expect(buildStep).toBeGreaterThan(lastCopy);
    expect(buildStep).toBeLessThan(user);
  });

  it("defaults to the api and only references npm scripts that exist", () => {
    const cmd = dockerfile.filter((i) => i.keyword === "CMD").at(-1);
    expect(cmd).toBeDefined();
    expect(JSON.parse(cmd!.args)).toEqual(["npm", "run", "start:api"]);

    const referenced = dockerfile
      .filter((i) => ["CMD", "ENTRYPOINT", "RUN"].includes(i.keyword))
      .flatMap((i) => [...i.args.matchAll(/npm"?,?\s*"?run"?,?\s*"?([\w:-]+)/g)].map((match) => match[1]!));
    expect(referenced.length).toBeGreaterThan(0);
    for (const script of referenced) expect(scripts[script], `npm script ${script}`).toBeDefined();
  });
});

describe(".dockerignore", () => {
  it("keeps host node_modules, git data and results out of the build context", () => {
    const entries = read(".dockerignore")
      .split("\n")
      .map((line) => line.trim());
    for (const entry of ["node_modules", ".git", ".ci/results", "bench/results", "*.log", "coverage"]) {
      expect(entries, entry).toContain(entry);
    }
    expect(entries.some((entry) => entry.includes("migrations"))).toBe(false);
  });
});
