// The fake OpenAI-compatible provider, in a process of its own so its work (a thousand concurrent
// delayed answers) never runs on the harness's event loop. Controlled over the IPC channel:
// {type: "delay", ms} sets the answer delay, {type: "count"} answers and resets the request count.
// Imported by path: the package index also loads the vitest helpers, which this process does not need.
import { startFakeChatServer } from "../../packages/testing/src/fake-chat-server.js";

let delayMs = Number(process.argv[2] ?? 0);
const server = await startFakeChatServer(() => ({ kind: "ok", delayMs }));

process.on("message", (message: { type: string; ms?: number; id: number }) => {
  if (message.type === "delay") delayMs = message.ms ?? 0;
  if (message.type === "count") {
    const count = server.requests.length;
    server.requests.length = 0;
    process.send?.({ id: message.id, count });
    return;
  }
  process.send?.({ id: message.id });
});
process.on("disconnect", () => process.exit(0));
process.send?.({ type: "ready", url: server.url });
