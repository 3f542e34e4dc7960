/** One Server-Sent Event as received; `data` is parsed JSON. */
export interface ReceivedEvent {
  id: string | undefined;
  event: string;
  data: unknown;
}

/**
 * Reads a Server-Sent Events answer over real HTTP, as a browser's EventSource would parse it
 * (fields `id`, `event`, `data`; comment lines kept apart), without reconnecting: tests reconnect
 * themselves, with the `Last-Event-ID` they choose.
 */
export async function openEventStream(url: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(url, {
    headers: { accept: "text/event-stream", ...headers },
    signal: controller.signal,
  });
  const events: ReceivedEvent[] = [];
  const comments: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    wake?.();
    wake = undefined;
  };

  const reading = (async () => {
    if (!response.body || !response.headers.get("content-type")?.startsWith("text/event-stream")) return;
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for await (const chunk of response.body) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(":");
              const name = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
              fields[name] = fields[name] === undefined ? value : `${fields[name]}\n${value}`;
            }
          }
          if (fields.data !== undefined) {
            events.push({ id: fields.id, event: fields.event ?? "message", data: JSON.parse(fields.data) });
          }
          notify();
          end = buffer.indexOf("\n\n");
        }
      }
    } catch {
      // Closed by `close()`: what was read is kept.
    } finally {
      ended = true;
      notify();
    }
  })();

  return {
    status: response.status,
    headers: response.headers,
    /** The body of an answer that is not an event stream (an error). */
    json: () => response.json() as Promise<Record<string, unknown>>,
    events,
    comments,
    get ended() {
      return ended;
    },
    /** Waits until `check` holds for what was received, or the stream ended, or `timeoutMs` passed. */
    async until(check: (events: ReceivedEvent[]) => boolean, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(events) && !ended && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 50);
        });
      }
      return check(events);
    },
    /** Waits for the server to end the stream. */
    async finished(timeoutMs = 15_000) {
      await Promise.race([reading, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
      return ended;
    },
    close() {
      controller.abort();
    },
  };
}
export type EventStreamClient = Awaited<ReturnType<typeof openEventStream>>;
