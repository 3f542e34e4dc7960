import { spawn } from "node:child_process";
import { repoRoot } from "./processes.js";

const NOT_INSTALLED =
  "promtool (Prometheus's checker) is not installed, so this test cannot run: install it with " +
  "`apt-get install prometheus` (Debian, Ubuntu) or from a release at https://prometheus.io/download/ " +
  "(CI installs it)";

/**
 * Runs `promtool <args>` from the repository root with `input` on its stdin, and resolves with its
 * exit code and everything it wrote. A missing promtool fails the test saying how to install it:
 * skipping would pass the very check the test exists for.
 */
export function runPromtool(args: string[], input = ""): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", args, { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    child.on("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "ENOENT" ? new Error(NOT_INSTALLED) : error),
    );
    // A promtool that exits before reading everything closes the pipe: its code says why.
    child.stdin.on("error", () => {});
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
    child.stdin.end(input);
  });
}
