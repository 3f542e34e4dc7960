/** One event of a `text/event-stream`, as an EventSource dispatches it. */
export interface ServerSentEvent {
  /** The event type: `message` unless the stream named one. */
  event: string;
  /** The data lines, joined with `\n`. */
  data: string;
  /** The last event id the stream set, this event's or an earlier one's ("" when none). */
  id: string;
}

/**
 * The event stream interpretation of the WHATWG HTML standard
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation),
 * fed text as it arrives: lines end with CRLF, LF or CR (a CR at the end of one chunk may be
 * followed by the LF of the next), `:` starts a comment, a field without a colon has an empty
 * value, one space after the colon is dropped, `data` lines accumulate, and a blank line
 * dispatches. An event left incomplete at the end of the stream is discarded, as the standard
 * says.
 */
export class ServerSentEventParser {
  /** The stream's last event id: what a reconnection sends as `Last-Event-ID`. */
  lastEventId = "";
  /** The reconnection time the stream asked for (`retry:`), in milliseconds. */
  retryMs: number | undefined;
  #line = "";
  #afterCarriageReturn = false;
  #started = false;
  #data = "";
  #event = "";
  #idBuffer = "";

  constructor(lastEventId = "") {
    this.lastEventId = lastEventId;
    this.#idBuffer = lastEventId;
  }

  /** Reads the next piece of the stream; returns the events it completed, in order. */
  push(text: string): ServerSentEvent[] {
    let chunk = text;
    if (!this.#started && chunk.length > 0) {
      this.#started = true;
      if (chunk.startsWith("\uFEFF")) chunk = chunk.slice(1);
    }
    const events: ServerSentEvent[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const char = chunk[i];
      if (char !== "\n" && char !== "\r") continue;
      if (char === "\n" && this.#afterCarriageReturn && i === start && this.#line === "") {
        // The LF of a CRLF split across chunks: the line already ended at the CR.
        this.#afterCarriageReturn = false;
        start = i + 1;
        continue;
      }
      const line = this.#line + chunk.slice(start, i);
      this.#line = "";
      if (char === "\r" && chunk[i + 1] === "\n") i++;
      this.#afterCarriageReturn = char === "\r" && i === chunk.length - 1;
      start = i + 1;
      const event = this.#processLine(line);
      if (event) events.push(event);
    }
    if (start < chunk.length) {
      this.#line += chunk.slice(start);
      this.#afterCarriageReturn = false;
    }
    return events;
  }

  #processLine(line: string): ServerSentEvent | undefined {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        this.#event = value;
        break;
      case "data":
        this.#data += `${value}\n`;
        break;
      case "id":
        if (!value.includes("\u0000")) this.#idBuffer = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      // Any other field is ignored.
    }
    return undefined;
  }

  #dispatch(): ServerSentEvent | undefined {
    this.lastEventId = this.#idBuffer;
    if (this.#data === "") {
      this.#event = "";
      return undefined;
    }
    const event = { event: this.#event || "message", data: this.#data.slice(0, -1), id: this.lastEventId };
    this.#data = "";
    this.#event = "";
    return event;
  }
}

/**
 * The events of a response body, decoded as UTF-8, as they arrive. Read with a reader rather than
 * `for await`, which not every browser's ReadableStream supports; leaving early cancels the body.
 */
export async function* readServerSentEvents(
  body: ReadableStream<Uint8Array>,
  parser: ServerSentEventParser,
): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let done = false;
  try {
    while (!done) {
      const chunk = await reader.read();
      done = chunk.done;
      yield* parser.push(chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true }));
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
