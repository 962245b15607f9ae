/** Conversions between column values (NULL for absent, times in epoch ms, JSON text) and model values. */

export const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

export const optionalDate = (ms: number | null): Date | undefined => (ms === null ? undefined : new Date(ms));

/** JSON text for a column, or null for an absent value (JSON.stringify(undefined) is undefined). */
export const jsonOrNull = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));
