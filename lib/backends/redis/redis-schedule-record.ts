import type { MissedFirePolicy, ScheduleKind, ScheduleRecord, ScheduleSource, ScheduleStatus } from '../../models/schedule.model.js';
import { RecordDamageError } from '../shared/record-json.js';

/*
 * A schedule is one HASH whose fields are named as ScheduleRecord's properties, all strings:
 *   id kind taskName payloadFormat payload missed overlap source specHash status runCount
 *   createdAt updatedAt                                                       (always there)
 *   cron tz everyMs at queue priority maxRuns startAt endAt nextRunAt lastRunAt lastTaskId
 *   pausedAt                                                                  (when set)
 * Times are epoch ms, `overlap` '1' / '0', `payload` the JSON string literal of the payload's
 * data (UTF-8 has no form for a lone surrogate; JSON.stringify escapes it). The Lua scripts read
 * and write status, nextRunAt, runCount, lastRunAt, lastTaskId, updatedAt and pausedAt.
 */

const ms = (date: Date | undefined): string | undefined => (date === undefined ? undefined : String(date.getTime()));
const num = (value: number | undefined): string | undefined => (value === undefined ? undefined : String(value));

/** The hash of a schedule as a flat `[field, value, …]` list (absent fields left out). */
export function scheduleFields(s: ScheduleRecord): string[] {
  const fields: Array<[string, string | undefined]> = [
    ['id', s.id],
    ['kind', s.kind],
    ['cron', s.cron],
    ['tz', s.tz],
    ['everyMs', num(s.everyMs)],
    ['at', ms(s.at)],
    ['taskName', s.taskName],
    ['queue', s.queue],
    ['priority', num(s.priority)],
    ['payloadFormat', s.payload.format],
    ['payload', JSON.stringify(s.payload.data)],
    ['maxRuns', num(s.maxRuns)],
    ['startAt', ms(s.startAt)],
    ['endAt', ms(s.endAt)],
    ['missed', s.missed],
    ['overlap', s.overlap ? '1' : '0'],
    ['source', s.source],
    ['specHash', s.specHash],
    ['status', s.status],
    ['nextRunAt', ms(s.nextRunAt)],
    ['lastRunAt', ms(s.lastRunAt)],
    ['runCount', String(s.runCount)],
    ['lastTaskId', s.lastTaskId],
    ['createdAt', ms(s.createdAt)],
    ['updatedAt', ms(s.updatedAt)],
    ['pausedAt', ms(s.pausedAt)],
  ];
  return fields.flatMap(([field, value]) => (value === undefined ? [] : [field, value]));
}

/** A schedule from its hash (HGETALL as a flat list or an object); `where` names the key in the error a damaged one throws. */
export function scheduleFromHash(hash: readonly string[] | Readonly<Record<string, string>>, where: string): ScheduleRecord {
  const h: Record<string, string> = Array.isArray(hash) ? Object.fromEntries(pairs(hash)) : { ...(hash as Record<string, string>) };
  const text = (field: string): string => {
    const value = h[field];
    if (value === undefined) throw new RecordDamageError(`${where}: field ${field} is missing`);
    return value;
  };
  const number = (field: string): number | undefined => {
    if (h[field] === undefined) return undefined;
    const value = Number(h[field]);
    if (!Number.isFinite(value)) throw new RecordDamageError(`${where}: field ${field} holds no number (${JSON.stringify(h[field]!.slice(0, 40))})`);
    return value;
  };
  const requiredNumber = (field: string): number => {
    text(field);
    return number(field)!;
  };
  const date = (field: string): Date | undefined => {
    const value = number(field);
    return value === undefined ? undefined : new Date(value);
  };
  let data: unknown;
  try {
    data = JSON.parse(text('payload'));
  } catch {
    throw new RecordDamageError(`${where}: field payload holds no JSON string`);
  }
  if (typeof data !== 'string') throw new RecordDamageError(`${where}: field payload holds no JSON string`);
  const record: ScheduleRecord = {
    id: text('id'),
    kind: text('kind') as ScheduleKind,
    cron: h.cron,
    tz: h.tz,
    everyMs: number('everyMs'),
    at: date('at'),
    taskName: text('taskName'),
    queue: h.queue,
    priority: number('priority'),
    payload: { format: text('payloadFormat'), data },
    maxRuns: number('maxRuns'),
    startAt: date('startAt'),
    endAt: date('endAt'),
    missed: text('missed') as MissedFirePolicy,
    overlap: text('overlap') === '1',
    source: text('source') as ScheduleSource,
    specHash: text('specHash'),
    status: text('status') as ScheduleStatus,
    nextRunAt: date('nextRunAt'),
    lastRunAt: date('lastRunAt'),
    runCount: requiredNumber('runCount'),
    lastTaskId: h.lastTaskId,
    createdAt: new Date(requiredNumber('createdAt')),
    updatedAt: new Date(requiredNumber('updatedAt')),
    pausedAt: date('pausedAt'),
  } satisfies Record<keyof ScheduleRecord, unknown>;
  return record;
}

function* pairs(flat: readonly string[]): Generator<[string, string]> {
  for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i]!, flat[i + 1]!];
}
