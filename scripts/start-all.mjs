// `npm start`: the API and one worker (which also runs the schedulers) in one command, for a
// laptop or a small box. Each process applies pending migrations under a lock at start.
// To scale, run `npm run start:api` and any number of `npm run start:worker` instead: they run
// this with one role (`node scripts/start-all.mjs api`).
// Each role runs with its Node flags from scripts/node-flags.json, which the tests and the
// benchmark read too (docs/operations.md says why the API has its own).
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
// Built by `npm start` just before (scripts/build.mjs).
const entries = { api: "dist/api/main.mjs", worker: "dist/worker/main.mjs" };
const nodeFlags = JSON.parse(readFileSync(new URL("node-flags.json", import.meta.url), "utf8"));
const asked = process.argv.slice(2);
const unknown = asked.filter((role) => !(role in entries));
if (unknown.length > 0) {
  console.error(`unknown role ${unknown.join(", ")}: give api, worker or nothing (both)`);
  process.exit(2);
}
const roles = asked.length > 0 ? asked : Object.keys(entries);

const children = roles.map((role) => {
  const args = [...nodeFlags[role], entries[role]];
  const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit", env: process.env });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${role} exited (${signal ?? code}); stopping the others`);
      stop("SIGTERM", code ?? 1);
    } else {
      // A child that failed to stop cleanly (its own shutdown timeout) makes the whole run fail.
      if (code !== 0) exitCode = code ?? 1;
      if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode);
    }
  });
  return child;
});

let stopping = false;
let exitCode = 0;
function stop(signal, code = 0) {
  if (stopping) return;
  stopping = true;
  exitCode = code;
  for (const child of children) if (child.exitCode === null) child.kill(signal);
  if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode);
}
process.on("SIGINT", () => stop("SIGTERM"));
process.on("SIGTERM", () => stop("SIGTERM"));
