// What a process does with an error nobody handled: it exits, unless a promise was rejected with a
// dropped connection's error (the database driver's own, after every caller got its error).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";

/** Runs `exitOnUnhandledErrors` in a process of its own, then `body`; its exit code and output after 1.5 s. */
async function runWith(body: string): Promise<{ code: number | null; output: string }> {
  const script = `
    import { exitOnUnhandledErrors } from "@aitasks/config";
    const line = (level) => (object, message) => console.log(level, object.err?.code ?? "", message);
    exitOnUnhandledErrors({ fatal: line("fatal"), error: line("error") });
    ${body}
    setTimeout(() => { console.log("still running"); process.exit(0); }, 1500);`;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk));
  const [code] = await once(child, "exit");
  return { code: code as number | null, output };
}

describe("exitOnUnhandledErrors", () => {
  it("goes on after a rejection with a dropped connection's error, and says so", async () => {
    const { code, output } = await runWith(
      `Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", syscall: "read" }));`,
    );
    expect(output).toContain("error ECONNRESET unhandledRejection of a lost connection: going on");
    expect(output).toContain("still running");
    expect(code).toBe(0);
  });

  it("exits 1 on any other rejection, and on an uncaught exception", async () => {
    for (const body of [
      `Promise.reject(new TypeError("cannot read properties of null"));`,
      `setTimeout(() => { throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }); }, 10);`,
    ]) {
      const { code, output } = await runWith(body);
      expect(output, body).toMatch(/fatal .*: exiting/);
      expect(output, body).not.toContain("still running");
      expect(code, body).toBe(1);
    }
  });
});
