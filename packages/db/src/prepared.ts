import { fillPlaceholders } from "drizzle-orm";
import type { Sql } from "postgres";
import type { Executor } from "./client.js";

/**
 * A query built once per database handle (or transaction) instead of once per call. drizzle's
 * query builders compose the SQL text anew on every call, and for a select of a whole row that is
 * about 0.1 ms of CPU (measured with `npm run bench`); prepared with `sql.placeholder`s, a call
 * only binds its values.
 */
export function preparedPerDatabase<Q>(build: (db: Executor) => Q): (db: Executor) => Q {
  const prepared = new WeakMap<Executor, Q>();
  return (db) => {
    let query = prepared.get(db);
    if (query === undefined) {
      query = build(db);
      prepared.set(db, query);
    }
    return query;
  };
}

/** A drizzle query that can be run with placeholder values: a select, or a write with `returning`. */
interface RunnableQuery {
  toSQL(): { sql: string; params: unknown[] };
  execute(placeholderValues?: Record<string, unknown>): Promise<unknown[]>;
}
type RowOf<Q extends RunnableQuery> = Awaited<ReturnType<Q["execute"]>>[number];
type Decoder = { mapFromDriverValue(value: unknown): unknown };

/**
 * A statement of a hot path: composed by drizzle once per database handle, then run by postgres.js
 * itself and decoded column by column as drizzle decodes it. drizzle's execution of even a prepared
 * query wraps the driver in async tracing and cache layers and maps each row generically, a
 * measurable share of our API's CPU per request (docs/performance.md). `build` must select, or
 * return, exactly `columns`, in their order; a transaction runs the same query through drizzle.
 */
export function directStatement<C extends Record<string, Decoder>, Q extends RunnableQuery>(
  columns: C,
  build: (db: Executor, columns: C) => Q,
): (db: Executor, values: Record<string, unknown>) => Promise<RowOf<Q>[]> {
  const decode = rowDecoder(columns) as (values: unknown[]) => RowOf<Q>;
  const compiled = preparedPerDatabase((db) => {
    const query = build(db, columns);
    const client = (db as { $client?: Sql }).$client;
    if (client === undefined) return (values: Record<string, unknown>) => query.execute(values) as Promise<RowOf<Q>[]>;
    const { sql: text, params } = query.toSQL();
    return async (values: Record<string, unknown>) => {
      const rows = await client.unsafe(text, fillPlaceholders(params, values) as never[]).values();
      return rows.map(decode);
    };
  });
  return (db, values) => compiled(db)(values);
}

/**
 * Decodes a row's values, in `columns`' order, with an object literal compiled for these names.
 * Built up key by key, an object of more than about a dozen properties falls into V8's dictionary
 * mode: slow to build, and slow for everything that reads it afterwards (the view, the serializer).
 * A literal gets one fixed shape. The names are our schema's property names, quoted as JSON.
 */
function rowDecoder(columns: Record<string, Decoder>): (values: unknown[]) => unknown {
  const fields = Object.keys(columns).map(
    (name, i) => `${JSON.stringify(name)}: v[${i}] == null ? null : d[${i}].mapFromDriverValue(v[${i}])`,
  );
  return new Function("d", `return (v) => ({ ${fields.join(", ")} });`)(Object.values(columns));
}
