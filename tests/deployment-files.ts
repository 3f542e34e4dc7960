// The Dockerfile, docker-compose.yml and docs/configuration.md as the tests read them: no Docker
// engine runs here, so what the image and compose would run is taken from the files themselves.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const readRepoFile = (file: string) => readFileSync(join(root, file), "utf8");

/** The variables of docs/configuration.md's table: the first column's `NAME`s. */
export function documentedVariables(): Set<string> {
  return new Set(
    readRepoFile("docs/configuration.md")
      .split("\n")
      .filter((line) => /^\| `[A-Z]/.test(line))
      .flatMap((line) => [...(line.split("|")[1] ?? "").matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((match) => match[1]!)),
  );
}

export type ComposeService = {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  ports?: unknown[];
  container_name?: string;
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  stop_grace_period?: string;
  init?: boolean;
};

/** docker-compose.yml's services, with YAML merge keys (`<<: *app`) applied. */
export function composeServices(): Record<string, ComposeService> {
  return (parse(readRepoFile("docker-compose.yml"), { merge: true }) as { services: Record<string, ComposeService> })
    .services;
}

/** A service's `environment` as a map, whether written as a map or as a list of NAME=value. */
export function composeEnvironment(service: ComposeService): Record<string, string> {
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

/** A compose `command` as the argv it runs; only the exec (list) form has one without a shell. */
export function composeCommand(name: string): string[] {
  const command = composeServices()[name]?.command;
  if (!Array.isArray(command)) throw new Error(`${name}'s command is not a list (exec form): ${String(command)}`);
  return command;
}

/** Dockerfile instructions with continuations joined and comments dropped. */
export function dockerfileInstructions(): { keyword: string; args: string }[] {
  const logical: string[] = [];
  let current = "";
  for (const raw of readRepoFile("Dockerfile").split("\n")) {
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

/** The image's CMD as the argv it runs; only the exec (JSON) form has one without a shell. */
export function imageCommand(): string[] {
  const cmd = dockerfileInstructions()
    .filter((instruction) => instruction.keyword === "CMD")
    .at(-1);
  if (!cmd?.args.startsWith("[")) throw new Error(`the Dockerfile's CMD is not in exec form: ${cmd?.args}`);
  return JSON.parse(cmd.args) as string[];
}

/** The image's ENV, in the `ENV NAME=value ...` form the Dockerfile uses. */
export function imageEnvironment(): Record<string, string> {
  return Object.fromEntries(
    dockerfileInstructions()
      .filter((instruction) => instruction.keyword === "ENV")
      .flatMap((instruction) => instruction.args.split(/\s+/))
      .map((pair) => {
        const at = pair.indexOf("=");
        if (at === -1) throw new Error(`ENV ${pair}: write ENV NAME=value`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
  );
}
