/**
 * A LIMIT (or OFFSET) bound as a parameter. Written as an expression, not a bare `?`: SQLite
 * plans with the value bound to a bare LIMIT parameter, so every new binding (better-sqlite3
 * binds on every call) expires the statement and re-prepares it, which measured at three times
 * the cost of a short indexed read.
 */
export const BOUND = '(? + 0)';

/** Conversions between column values (NULL for absent, times in epoch ms, JSON text) and model values. */

export const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export const optionalDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** JSON text for a column, or null for an absent value (JSON.stringify(undefined) is undefined). */
export const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** String.prototype.isWellFormed (Node 20), which the ES2023 lib the project compiles against does not declare yet. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/**
 * Free text (payloads, values, descriptions, messages) as a column value. SQLite keeps text as
 * UTF-8, which cannot hold a lone surrogate (better-sqlite3 would store U+FFFD in its place), so
 * text that has one is stored as a BLOB of its UTF-16 code units instead; well-formed text, the
 * usual case, is stored as text.
 */
export const textValue = <T extends string | undefined>(text: T): T | Buffer =>
  text === undefined || isWellFormed(text) ? text : Buffer.from(text, 'utf16le');

/** The text a `textValue` column holds. */
export const textFromColumn = <T extends string | null>(value: T | Buffer): T | string =>
  Buffer.isBuffer(value) ? value.toString('utf16le') : value;
