import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ApiEnv, WorkerEnv } from "@aitasks/config";
import { nodeFlagsOf } from "@aitasks/testing";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  type ComposeService,
  composeCommand,
  composeEnvironment,
  composeServices,
  dockerfileInstructions,
  documentedVariables,
  imageCommand,
  imageEnvironment,
  readRepoFile,
  root,
} from "./deployment-files.js";

// No Docker engine runs here: the image and compose files are checked by reading them, and by
// Debian's docker-compose 1.29, whose `config` resolves the file without an engine.
const DOCUMENTED_VARIABLES = documentedVariables();

describe("docs/configuration.md", () => {
  it("documents every variable the processes read", () => {
    const read = [...Object.keys(ApiEnv.shape), ...Object.keys(WorkerEnv.shape)];
    expect(read.filter((variable) => !DOCUMENTED_VARIABLES.has(variable))).toEqual([]);
    expect(DOCUMENTED_VARIABLES.size).toBeGreaterThan(20);
  });
});

const services = composeServices();
const scripts = (JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> }).scripts;

const commandText = (command: string | string[] | undefined) =>
  Array.isArray(command) ? command.join(" ") : (command ?? "");

/** What each role's container runs: node itself, the role's flags (scripts/node-flags.json), its bundle. */
const ROLE_COMMANDS = {
  api: ["node", ...nodeFlagsOf("api"), "dist/api/main.mjs"],
  worker: ["node", ...nodeFlagsOf("worker"), "dist/worker/main.mjs"],
};

/** `${NAME:-default}` or `${NAME:?message}`: the variable of that name, passed through. */
const PASSED_THROUGH = /^\$\{([A-Z][A-Z0-9_]*):([-?])(.*)\}$/;

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
    expect(commandText(services.postgres!.healthcheck?.test)).toContain("pg_isready");
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(commandText(services.redis!.command)).toContain("noeviction");
    expect(commandText(services.redis!.healthcheck?.test)).toContain("redis-cli");
  });

  it("publishes the api's PORT and nothing on the scalable worker", () => {
    expect((services.api!.ports ?? []).map(String)).toEqual([`\${PORT:-5000}:\${PORT:-5000}`]);
    expect(composeEnvironment(services.api!).PORT).toBe(`\${PORT:-5000}`);
    expect(services.worker!.ports).toBeUndefined();
    expect(commandText(services.api!.healthcheck?.test)).toContain(
      "'http://127.0.0.1:' + process.env.PORT + '/health'",
    );
  });

  it.each(["api", "worker"] as const)(
    "%s builds the repo's Dockerfile and runs node itself, with its role's flags",
    (name) => {
      const service = services[name]!;
      expect(service.build, `${name} has no build`).toBeDefined();
      const build = typeof service.build === "string" ? { context: service.build } : service.build!;
      const context = resolve(root, build.context ?? ".");
      expect(resolve(context, build.dockerfile ?? "Dockerfile")).toBe(join(root, "Dockerfile"));

      // No npm or shell in between: the container's process is the one that gets SIGTERM.
      expect(composeCommand(name)).toEqual(ROLE_COMMANDS[name]);
      // The bundle the command names is the one `npm run build` writes (the tests' setup ran it).
      expect(existsSync(join(root, ROLE_COMMANDS[name].at(-1)!)), ROLE_COMMANDS[name].at(-1)).toBe(true);
      // An init as PID 1 forwards the signals to node and reaps what it leaves.
      expect(service.init).toBe(true);
    },
  );

  it("gives workers time to finish their running tasks before Docker kills them", () => {
    const shutdownTimeoutMs = WorkerEnv.shape.SHUTDOWN_TIMEOUT_MS.parse(undefined);
    expect(services.worker!.stop_grace_period).toBe("40s");
    expect(40_000).toBeGreaterThan(shutdownTimeoutMs);
  });

  it.each(["api", "worker"])("%s reaches postgres and redis by service name once they are healthy", (name) => {
    const service = services[name]!;
    const env = composeEnvironment(service);
    const fallback = (variable: string) => PASSED_THROUGH.exec(env[variable] ?? "")?.[3] ?? "";
    expect(new URL(fallback("DATABASE_URL")).hostname).toBe("postgres");
    expect(new URL(fallback("REDIS_URL")).hostname).toBe("redis");

    const dependsOn = service.depends_on;
    expect(dependsOn && !Array.isArray(dependsOn)).toBe(true);
    const conditions = dependsOn as Record<string, { condition?: string }>;
    expect(conditions.postgres?.condition).toBe("service_healthy");
    expect(conditions.redis?.condition).toBe("service_healthy");
  });

  it.each(["api", "worker"])("%s passes every variable of docs/configuration.md through, and only those", (name) => {
    const env = composeEnvironment(services[name]!);
    expect(Object.keys(env).sort()).toEqual([...DOCUMENTED_VARIABLES].sort());
    const notPassed = Object.entries(env).filter(([variable, value]) => PASSED_THROUGH.exec(value)?.[1] !== variable);
    expect(notPassed, "variables compose sets instead of passing them through").toEqual([]);
  });

  it("refuses to start without ADMIN_API_KEY, naming it, and keeps the image's production mode", () => {
    const env = composeEnvironment(services.api!);
    const admin = PASSED_THROUGH.exec(env.ADMIN_API_KEY ?? "");
    expect(admin?.[2], "ADMIN_API_KEY must be passed as ADMIN_API_KEY:?message").toBe("?");
    expect(admin?.[3]).toContain("ADMIN_API_KEY");
    expect(env.NODE_ENV).toBe(`\${NODE_ENV:-${imageEnvironment().NODE_ENV}}`);
    expect(imageEnvironment().NODE_ENV).toBe("production");
  });
});

/** Debian's docker-compose (1.29), which resolves a compose file without a Docker engine. */
const dockerCompose = ["/usr/bin/docker-compose", "/usr/local/bin/docker-compose"].find((path) => existsSync(path));

describe.skipIf(!dockerCompose)(
  "docker-compose config (skipped without docker-compose: apt-get install docker-compose)",
  () => {
    // An empty env file: a developer's .env beside docker-compose.yml must not decide these results.
    const scratch = mkdtempSync(join(tmpdir(), "aitasks-compose-"));
    const emptyEnvFile = join(scratch, "empty.env");
    writeFileSync(emptyEnvFile, "");
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    /** `docker-compose config` in the repository, with only PATH and `env` in its environment. */
    function composeConfig(env: Record<string, string>) {
      return spawnSync(dockerCompose!, ["--env-file", emptyEnvFile, "config"], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
        encoding: "utf8",
      });
    }

    it("refuses at once without ADMIN_API_KEY, saying so", () => {
      const result = composeConfig({ OPENAI_API_KEY: "sk-test" });
      expect(result.status, result.stdout).not.toBe(0);
      expect(result.stderr).toContain("set ADMIN_API_KEY");
    });

    it("resolves with ADMIN_API_KEY, and passes every documented variable to the api and the worker", () => {
      // Each variable gets a value of its own, PORT a port (it is the published one too).
      const given = Object.fromEntries(
        [...DOCUMENTED_VARIABLES].map((variable) => [variable, variable === "PORT" ? "5001" : `value-of-${variable}`]),
      );
      const result = composeConfig(given);
      expect(result.status, result.stderr).toBe(0);
      const resolved = parse(result.stdout) as { services: Record<string, ComposeService> };
      for (const name of ["api", "worker"] as const) {
        const service = resolved.services[name]!;
        expect(composeEnvironment(service), name).toEqual(given);
        expect(service.command, name).toEqual(ROLE_COMMANDS[name]);
      }
      expect(resolved.services.api!.ports).toEqual([{ published: 5001, target: 5001 }]);
    });

    it("with only ADMIN_API_KEY, runs in production mode on its own Postgres and Redis", () => {
      const result = composeConfig({ ADMIN_API_KEY: "admin-key-0123456789abcdef" });
      expect(result.status, result.stderr).toBe(0);
      const resolved = parse(result.stdout) as { services: Record<string, ComposeService> };
      for (const name of ["api", "worker"]) {
        const env = composeEnvironment(resolved.services[name]!);
        expect(env).toMatchObject({
          ADMIN_API_KEY: "admin-key-0123456789abcdef",
          NODE_ENV: "production",
          DATABASE_URL: "postgres://postgres:postgres@postgres:5432/postgres",
          REDIS_URL: "redis://redis:6379",
        });
        // Everything else is empty, which the processes read as unset: their own defaults apply.
        const others = Object.entries(env).filter(
          ([variable]) => !["ADMIN_API_KEY", "NODE_ENV", "DATABASE_URL", "REDIS_URL", "PORT"].includes(variable),
        );
        expect(others.filter(([, value]) => value !== "")).toEqual([]);
      }
      expect(resolved.services.api!.ports).toEqual([{ published: 5000, target: 5000 }]);
    });
  },
);

describe("Dockerfile", () => {
  const dockerfile = dockerfileInstructions();

  it("builds on node:24 and runs as the non-root node user in production mode", () => {
    const from = dockerfile.filter((instruction) => instruction.keyword === "FROM");
    expect(from.length).toBeGreaterThan(0);
    for (const instruction of from) expect(instruction.args).toMatch(/^(--\S+\s+)*node:24\b/);

    const users = dockerfile.filter((instruction) => instruction.keyword === "USER");
    expect(users.at(-1)?.args).toBe("node");
    expect(imageEnvironment().NODE_ENV).toBe("production");
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

  it("defaults to the api, run by node itself with its flags, as compose's api runs it", () => {
    expect(imageCommand()).toEqual(ROLE_COMMANDS.api);
    expect(composeCommand("api")).toEqual(imageCommand());
    expect(dockerfile.some((i) => i.keyword === "ENTRYPOINT")).toBe(false);

    const referenced = dockerfile
      .filter((i) => ["CMD", "RUN"].includes(i.keyword))
      .flatMap((i) => [...i.args.matchAll(/npm"?,?\s*"?run"?,?\s*"?([\w:-]+)/g)].map((match) => match[1]!));
    expect(referenced).toEqual(["build"]);
    for (const script of referenced) expect(scripts[script], `npm script ${script}`).toBeDefined();
  });
});

describe(".dockerignore", () => {
  it("keeps host node_modules, git data and results out of the build context", () => {
    const entries = readRepoFile(".dockerignore")
      .split("\n")
      .map((line) => line.trim());
    for (const entry of ["node_modules", ".git", ".ci/results", "bench/results", "*.log", "coverage"]) {
      expect(entries, entry).toContain(entry);
    }
    expect(entries.some((entry) => entry.includes("migrations"))).toBe(false);
  });
});
