/** Where Postgres is when DATABASE_URL is not set: `npm start`, the migration command and the tests alike. */
export const DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/** An id of our bigserial tables as text: positive, and small enough to be exact as a JS number. */
export const POSITIVE_ID = /^[1-9]\d{0,14}$/;

/**
 * An unpaired UTF-16 surrogate: UTF-8 cannot encode it, so Postgres would store U+FFFD instead of
 * what was sent. Text with one (or with U+0000, which Postgres cannot store at all) is refused.
 */
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
