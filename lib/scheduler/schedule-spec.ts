import { createHash } from 'node:crypto';
import { CronTime } from 'cron';
import type { Codec } from '../serialization/codec.js';
import type { ScheduleSpec } from '../models/schedule.model.js';
import type { ScheduledOptions } from '../interfaces/scheduled-options.interface.js';
import { MAX_DUE_DELAY_MS, parseDuration } from '../config/duration.js';
import { ScheduleDefinitionError } from '../errors/omniq.errors.js';
import { formatValue } from '../utils/format-value.js';

const KNOWN = new Set(['cron', 'tz', 'every', 'at', 'name', 'queue', 'priority', 'payload', 'maxRuns', 'startAt', 'endAt', 'missed', 'overlap', 'task']);

/**
 * Validates schedule options and turns them into a stored spec. `where` names the declaration in
 * every error (`ReportTasks.nightly`, `createSchedule("cleanup")`).
 */
export function toScheduleSpec(where: string, taskName: string, options: ScheduledOptions, codec: Codec): ScheduleSpec {
  const fail = (message: string): never => {
    throw new ScheduleDefinitionError(`${where}: ${message}`);
  };
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) fail(`unknown option "${key}"`);
  const timings = (['cron', 'every', 'at'] as const).filter((key) => options[key] !== undefined);
  if (timings.length !== 1) {
    fail(
      timings.length === 0
        ? 'give exactly one of cron, every or at'
        : `give exactly one of cron, every or at, not ${timings.map((k) => `${k} (${formatValue(options[k])})`).join(' and ')}`,
    );
  }
  const date = (key: 'at' | 'startAt' | 'endAt'): Date | undefined => {
    const value = options[key];
    if (value === undefined) return undefined;
    const parsed = value instanceof Date ? new Date(value.getTime()) : typeof value === 'string' ? new Date(value) : undefined;
    if (!parsed || Number.isNaN(parsed.getTime())) fail(`${key} ${formatValue(value)} is not a valid date`);
    return parsed;
  };
  if (options.tz !== undefined && options.cron === undefined) fail(`tz "${options.tz}" applies to cron schedules only`);
  if (options.tz !== undefined && !isTimeZone(options.tz)) fail(`unknown time zone "${options.tz}" (expected an IANA name such as "Europe/Berlin")`);
  if (options.cron !== undefined) {
    if (typeof options.cron !== 'string') fail(`cron ${formatValue(options.cron)} must be a string`);
    const tz = options.tz ?? 'UTC';
    let cron: CronTime | undefined;
    try {
      cron = new CronTime(options.cron, tz);
    } catch (error) {
      fail(`invalid cron expression "${options.cron}": ${(error as Error).message}`);
    }
    // The library parses expressions no date matches and throws only when asked for a fire, which
    // would fail the bootstrap (or the create) later with its own text.
    if (!firesAfter(cron!, tz, new Date())) fail(`invalid cron expression "${options.cron}": no date matches it (such as February 30), so it would never fire`);
  }
  let everyMs: number | undefined;
  if (options.every !== undefined) {
    everyMs = typeof options.every === 'number' ? options.every : typeof options.every === 'string' ? parseDuration(options.every) : Number.NaN;
    if (!(Number.isSafeInteger(everyMs) && everyMs > 0)) fail(`every ${formatValue(options.every)} must be a whole number of ms > 0 or a duration such as "30s"`);
    if (everyMs > MAX_DUE_DELAY_MS) fail(`every ${formatValue(options.every)} must be at most ${MAX_DUE_DELAY_MS} ms (100 years)`);
  }
  if (options.maxRuns !== undefined && !(Number.isSafeInteger(options.maxRuns) && options.maxRuns > 0)) fail(`maxRuns ${formatValue(options.maxRuns)} must be an integer > 0`);
  if (options.priority !== undefined && !Number.isSafeInteger(options.priority)) fail(`priority ${formatValue(options.priority)} must be an integer`);
  if (options.queue !== undefined && (typeof options.queue !== 'string' || options.queue === '')) fail(`queue ${formatValue(options.queue)} must be a non-empty string`);
  if (options.missed !== undefined && options.missed !== 'skip' && options.missed !== 'run-once') fail(`missed ${formatValue(options.missed)} must be "skip" or "run-once"`);
  if (options.overlap !== undefined && typeof options.overlap !== 'boolean') fail(`overlap ${formatValue(options.overlap)} must be a boolean`);
  const startAt = date('startAt');
  const endAt = date('endAt');
  if (startAt && endAt && endAt <= startAt) fail(`endAt ${endAt.toISOString()} must be after startAt ${startAt.toISOString()}`);
  let payload;
  try {
    payload = codec.encode(options.payload ?? null, 'payload');
  } catch (error) {
    fail((error as Error).message);
  }
  return {
    kind: options.cron !== undefined ? 'cron' : options.every !== undefined ? 'interval' : 'once',
    cron: options.cron,
    tz: options.tz,
    everyMs,
    at: date('at'),
    taskName,
    queue: options.queue,
    priority: options.priority,
    payload: payload!,
    maxRuns: options.maxRuns,
    startAt,
    endAt,
    missed: options.missed ?? 'skip',
    overlap: options.overlap ?? false,
  };
}

/** A fingerprint of everything that defines the schedule, to detect changed declarations. */
export function specHash(spec: ScheduleSpec): string {
  const canonical = JSON.stringify(spec, (_key, value: unknown) => (value === undefined ? null : value));
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function firesAfter(cron: CronTime, tz: string, from: Date): boolean {
  try {
    cron.getNextDateFrom(from, tz);
    return true;
  } catch {
    return false;
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
