import { z } from "zod";

/** Where Postgres is when DATABASE_URL is not set: `npm start`, the migration command and the tests alike. */
export const DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/** An id of our bigserial tables as text: positive, and small enough to be exact as a JS number. */
export const POSITIVE_ID = /^[1-9]\d{0,14}$/;

/**
 * An unpaired UTF-16 surrogate: UTF-8 cannot encode it, so Postgres would store U+FFFD instead of
 * what was sent. Text with one (or with U+0000, which Postgres cannot store at all) is refused.
 */
export const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const text = (field: string) => z.string({ error: `${field} must be a string` });

/**
 * Text that Postgres stores exactly as sent: it cannot hold U+0000 (the query would fail), and an
 * unpaired surrogate would become U+FFFD. Both are refused with a 400 rather than lost silently.
 */
export const storableText = (field: string) =>
  text(field)
    .refine((value) => !value.includes("\u0000"), `${field} must not contain NUL (\\u0000) characters`)
    .refine((value) => !LONE_SURROGATE.test(value), `${field} must be valid Unicode (it has a lone surrogate)`);

/** A user's identifier as clients send it (`user_id`): an email or a name. */
export const UserIdentifier = storableText("user_id")
  .min(1, "user_id must not be empty")
  .max(320, "user_id must be at most 320 characters");
