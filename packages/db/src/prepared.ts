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
