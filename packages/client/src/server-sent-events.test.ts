// The event stream interpretation of the WHATWG standard, fed as a network would: in pieces cut anywhere.
import { describe, expect, it } from "vitest";
import { readServerSentEvents, type ServerSentEvent, ServerSentEventParser } from "./server-sent-events.js";

/** The events of `text` fed in pieces of `size` characters (0: whole). */
function parse(text: string, size = 0, parser = new ServerSentEventParser()): ServerSentEvent[] {
  if (size === 0) return parser.push(text);
  const events: ServerSentEvent[] = [];
  for (let i = 0; i < text.length; i += size) events.push(...parser.push(text.slice(i, i + size)));
  return events;
}

describe("ServerSentEventParser", () => {
  const stream =
    '\uFEFFretry: 1500\n\n: a comment\nid: 1\nevent: status\ndata: {"a":1}\n\n' +
    "data: first line\r\ndata:second line\r\n\r\n" +
    "id: 2\rdata\rdata:  two spaces\r\r" +
    "event: delta\nid\ndata: x\n\n";
  const expected: ServerSentEvent[] = [
    { event: "status", data: '{"a":1}', id: "1" },
    // The id carries over to later events until the stream sets another.
    { event: "message", data: "first line\nsecond line", id: "1" },
    // A field with no colon has an empty value; only one leading space is dropped.
    { event: "message", data: "\n two spaces", id: "2" },
    // `id` with no value resets the last event id.
    { event: "delta", data: "x", id: "" },
  ];

  it("reads fields, comments, multi-line data and every line ending, in one piece or cut anywhere", () => {
    for (const size of [0, 1, 2, 3, 7]) {
      const parser = new ServerSentEventParser();
      expect(parse(stream, size, parser), `pieces of ${size}`).toEqual(expected);
      expect(parser.retryMs).toBe(1500);
      expect(parser.lastEventId).toBe("");
    }
  });

  it("sets the last event id on a blank line even without data, and ignores ids holding NUL", () => {
    const parser = new ServerSentEventParser("start");
    expect(parse("id: 7\n\n", 0, parser)).toEqual([]);
    expect(parser.lastEventId).toBe("7");
    expect(parse("id: a\u0000b\ndata: y\n\n", 0, parser)).toEqual([{ event: "message", data: "y", id: "7" }]);
  });

  it("ignores a retry that is not all digits and fields it does not know", () => {
    const parser = new ServerSentEventParser();
    expect(parse("retry: 1s\nfoo: bar\ndata: z\n\n", 0, parser)).toEqual([{ event: "message", data: "z", id: "" }]);
    expect(parser.retryMs).toBeUndefined();
  });

  it("dispatches nothing for a block without data, and discards an event the stream cut short", async () => {
    const bytes = new TextEncoder().encode("event: status\n\ndata: é🙂\n\ndata: cut short");
    // Bytes cut inside a multi-byte character: the decoder keeps the rest for the next chunk.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 3) controller.enqueue(bytes.slice(i, i + 3));
        controller.close();
      },
    });
    const events: ServerSentEvent[] = [];
    for await (const event of readServerSentEvents(body, new ServerSentEventParser())) events.push(event);
    expect(events).toEqual([{ event: "message", data: "é🙂", id: "" }]);
  });
});
