/** Conversions between column values (NULL for absent, times in epoch ms, JSON text) and model values. */

export const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export const optionalDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** JSON text for a column, or null for an absent value (JSON.stringify(undefined) is undefined). */
export const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** String.prototype.isWellFormed (Node 20), which the ES2023 lib the project compiles against does not declare yet. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

/** Marks a text column value that holds a JSON string literal rather than the text itself (see pgText). */
const ESCAPED = '\u0001';

/**
 * Free text (payloads, values, descriptions, messages) as a `text` column value. PostgreSQL text
 * cannot hold `\u0000`, and UTF-8 cannot hold a lone surrogate (the driver would send U+FFFD), so
 * such text — and text that starts with the marker itself — is stored as the marker followed by
 * the JSON string literal of it, which escapes both. Ordinary text, the usual case, is stored as it is.
 */
export function pgText<T extends string | undefined | null>(text: T): T | string {
  if (typeof text !== 'string') return text;
  if (text.startsWith(ESCAPED) || text.includes('\u0000') || !isWellFormed(text)) return ESCAPED + JSON.stringify(text);
  return text;
}

/** The text a `pgText` column holds. */
export function textFromPg<T extends string | null>(value: T): T | string {
  return typeof value === 'string' && value.startsWith(ESCAPED) ? (JSON.parse(value.slice(1)) as string) : value;
}
