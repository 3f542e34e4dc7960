// The load generator, in a process of its own so that it never competes with the harness's event
// loop. Started once per benchmark run (bench/lib/load.ts); each {id, spec} message it receives is
// one autocannon run, answered with {id, summary} or {id, error}.
import autocannon from "autocannon";
import type { LoadSpec, LoadSummary } from "./load.js";

async function run(spec: LoadSpec): Promise<LoadSummary> {
  const url = new URL(spec.path, spec.baseUrl);
  const headers: Record<string, string> = spec.body === undefined ? {} : { "content-type": "application/json" };
  const [idMin, idMax] = spec.idRange ?? [0, 0];
  const keys = spec.bearerKeys ?? [];
  let sent = 0;
  const result = await autocannon({
    url: url.toString(),
    connections: spec.connections,
    timeout: 30,
    method: spec.method,
    headers,
    ...(spec.amount ? { amount: spec.amount } : { duration: spec.durationSeconds }),
    ...(spec.body === undefined ? {} : { body: spec.body }),
    // Built anew for each request: `{id}` in the path becomes a random existing task, and the
    // keys take turns, so that consecutive requests (from any connection) come from different users.
    ...(spec.idRange || keys.length > 0
      ? {
          requests: [
            {
              setupRequest: (request) => ({
                ...request,
                ...(spec.idRange
                  ? { path: spec.path.replace("{id}", String(idMin + Math.floor(Math.random() * (idMax - idMin + 1)))) }
                  : {}),
                ...(keys.length > 0
                  ? { headers: { ...request.headers, authorization: `Bearer ${keys[sent++ % keys.length]}` } }
                  : {}),
              }),
            },
          ],
        }
      : {}),
  });
  const ok = result["2xx"];
  const seconds = (result.finish.getTime() - result.start.getTime()) / 1000;
  return {
    requests: ok + result.non2xx,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, { count }]) => [code, count])),
    seconds,
    rps: ok / seconds,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
  };
}

process.on("message", (message: { id: number; spec: LoadSpec }) => {
  run(message.spec).then(
    (summary) => process.send?.({ id: message.id, summary }),
    (error: Error) => process.send?.({ id: message.id, error: error.message }),
  );
});
process.on("disconnect", () => process.exit(0));
