import { type ChildProcess, fork } from "node:child_process";
import { repoRoot } from "@aitasks/testing";

export interface FakeProvider {
  /** For OPENAI_BASE_URL (the SDK wants the `/v1`). */
  openaiBaseURL: string;
  setDelay(ms: number): Promise<void>;
  /** Chat-completion requests received since the last call. */
  takeCount(): Promise<number>;
  close(): Promise<void>;
}

/** Starts bench/lib/fake-provider-process.ts: startFakeChatServer in its own process, `delayMs` per answer. */
export async function startFakeProvider(delayMs: number): Promise<FakeProvider> {
  const child: ChildProcess = fork("bench/lib/fake-provider-process.ts", [String(delayMs)], {
    cwd: repoRoot,
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let nextId = 1;
  const pending = new Map<number, (reply: { count?: number }) => void>();
  const url = await new Promise<string>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`fake provider exited with ${code}`)));
    child.on("message", (message: { type?: string; url?: string; id?: number; count?: number }) => {
      if (message.type === "ready") resolve(message.url!);
      else if (message.id !== undefined) {
        pending.get(message.id)?.(message);
        pending.delete(message.id);
      }
    });
  });
  child.removeAllListeners("exit");
  const ask = (message: Record<string, unknown>) =>
    new Promise<{ count?: number }>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      child.send({ ...message, id });
    });
  return {
    openaiBaseURL: `${url}/v1`,
    async setDelay(ms) {
      await ask({ type: "delay", ms });
    },
    async takeCount() {
      return (await ask({ type: "count" })).count ?? 0;
    },
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
