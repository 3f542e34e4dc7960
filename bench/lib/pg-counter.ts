import { once } from "node:events";
import { type AddressInfo, createConnection, createServer, type Socket } from "node:net";

/**
 * Splits a Postgres protocol stream into messages (a type byte, an int32 length counting itself,
 * a body) and calls `onType` with each type byte. `untypedFirst`: the client's first message (the
 * startup packet) has no type byte.
 */
function messageTypes(onType: (type: number) => void, untypedFirst: boolean) {
  let header = Buffer.alloc(0);
  let skip = 0;
  let first = untypedFirst;
  return (chunk: Buffer) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      const size = first ? 4 : 5;
      const take = chunk.subarray(i, i + size - header.length);
      header = header.length === 0 ? Buffer.from(take) : Buffer.concat([header, take]);
      i += take.length;
      if (header.length === size) {
        if (first) {
          skip = header.readInt32BE(0) - 4;
          first = false;
        } else {
          onType(header[0]!);
          skip = header.readInt32BE(1) - 4;
        }
        header = Buffer.alloc(0);
      }
    }
  };
}

const SYNC = 0x53; // 'S': end of an extended-protocol statement; the client then waits for ReadyForQuery
const QUERY = 0x51; // 'Q': a simple-protocol statement (postgres.js sends BEGIN and COMMIT this way)
const FLUSH = 0x48; // 'H': postgres.js's "describe first" step; the client waits for the description
const READY_FOR_QUERY = 0x5a; // 'Z'

/**
 * A TCP forwarder in front of Postgres that counts what the processes connected through it ask of
 * the database, from the protocol messages they send:
 * - round trips: every point where a client stops and waits for Postgres: each statement (Sync or
 *   simple Query, BEGIN and COMMIT included) and each "describe" step (Flush) that postgres.js
 *   sends before an unprepared statement with parameters. Pipelining lets several clients share a
 *   network exchange, but each of these is still a wait for the task that sent it;
 * - statements: ReadyForQuery messages, one per statement, BEGIN or COMMIT completed.
 * Used only in a separate, small counting pass: the extra hop costs latency.
 */
export async function startPgCounter(databaseUrl: string) {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let waits = 0;
  let statements = 0;

  const server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) });
    sockets.add(client).add(upstream);
    client.on(
      "data",
      messageTypes((type) => {
        if (type === SYNC || type === QUERY || type === FLUSH) waits++;
      }, true),
    );
    upstream.on(
      "data",
      messageTypes((type) => {
        if (type === READY_FOR_QUERY) statements++;
      }, false),
    );
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const proxied = new URL(databaseUrl);
  proxied.hostname = "127.0.0.1";
  proxied.port = String((server.address() as AddressInfo).port);

  return {
    /** DATABASE_URL for a process whose round trips should be counted. */
    url: proxied.toString(),
    counts: () => ({ roundTrips: waits, statements }),
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}
