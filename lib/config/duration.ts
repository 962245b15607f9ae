export type DurationUnit = 'ms' | 's' | 'm' | 'h';

/**
 * The longest delay stored as a due time rather than waited for by a timer (`delayMs`, retry
 * delays, time-to-live): 100 years, far inside the range of a Date, so that now + delay is always
 * a time every backend stores.
 */
export const MAX_DUE_DELAY_MS = 3_155_760_000_000;

const MS_PER_UNIT: Readonly<Record<DurationUnit, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION = /^(-?\d+(?:\.\d+)?|-?\.\d+)(ms|s|m|h)?$/;

/**
 * Milliseconds of a duration written `500ms`, `30s`, `1.5m` or `1h`. A bare number counts in
 * `bareUnit` (seconds for environment variables, as the OMNIQ_* settings always did); without
 * `bareUnit` a unit is required. NaN when the text is no duration. Negative and fractional results
 * are returned as they are, for the caller to reject with a precise message.
 */
export function parseDuration(text: string, bareUnit?: DurationUnit): number {
  const match = DURATION.exec(text.trim());
  if (!match) return Number.NaN;
  const unit = (match[2] as DurationUnit | undefined) ?? bareUnit;
  if (!unit) return Number.NaN;
  // Rounded to a millionth of a ms so that decimal input such as 1.1s gives exactly 1100.
  return Math.round(Number(match[1]) * MS_PER_UNIT[unit] * 1e6) / 1e6;
}
