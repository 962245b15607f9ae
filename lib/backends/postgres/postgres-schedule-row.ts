import type { MissedFirePolicy, ScheduleKind, ScheduleRecord, ScheduleSource, ScheduleStatus } from '../../models/schedule.model.js';
import { optional, optionalDate, pgText, textFromPg } from './postgres-values.js';

/** A `<project>_schedules` row as the driver returns it (bigint read as number). */
export interface ScheduleRow {
  id: string;
  kind: string;
  cron: string | null;
  tz: string | null;
  every_ms: number | null;
  at: number | null;
  task_name: string;
  queue: string | null;
  priority: number | null;
  payload_format: string;
  payload_data: string;
  max_runs: number | null;
  start_at: number | null;
  end_at: number | null;
  missed: string;
  overlap: boolean;
  source: string;
  spec_hash: string;
  status: string;
  next_run_at: number | null;
  last_run_at: number | null;
  run_count: number;
  last_task_id: string | null;
  created_at: number;
  updated_at: number;
  paused_at: number | null;
}

/** Every column, in the order of `scheduleValues`. */
export const SCHEDULE_COLUMNS = [
  'id',
  'kind',
  'cron',
  'tz',
  'every_ms',
  'at',
  'task_name',
  'queue',
  'priority',
  'payload_format',
  'payload_data',
  'max_runs',
  'start_at',
  'end_at',
  'missed',
  'overlap',
  'source',
  'spec_hash',
  'status',
  'next_run_at',
  'last_run_at',
  'run_count',
  'last_task_id',
  'created_at',
  'updated_at',
  'paused_at',
] as const satisfies readonly (keyof ScheduleRow)[];

/** The values of a schedule's row, in SCHEDULE_COLUMNS order (null for absent). */
export function scheduleValues(s: ScheduleRecord): unknown[] {
  const values: ScheduleRow = {
    id: s.id,
    kind: s.kind,
    cron: s.cron ?? null,
    tz: s.tz ?? null,
    every_ms: s.everyMs ?? null,
    at: s.at?.getTime() ?? null,
    task_name: s.taskName,
    queue: s.queue ?? null,
    priority: s.priority ?? null,
    payload_format: s.payload.format,
    payload_data: pgText(s.payload.data),
    max_runs: s.maxRuns ?? null,
    start_at: s.startAt?.getTime() ?? null,
    end_at: s.endAt?.getTime() ?? null,
    missed: s.missed,
    overlap: s.overlap,
    source: s.source,
    spec_hash: s.specHash,
    status: s.status,
    next_run_at: s.nextRunAt?.getTime() ?? null,
    last_run_at: s.lastRunAt?.getTime() ?? null,
    run_count: s.runCount,
    last_task_id: s.lastTaskId ?? null,
    created_at: s.createdAt.getTime(),
    updated_at: s.updatedAt.getTime(),
    paused_at: s.pausedAt?.getTime() ?? null,
  };
  return SCHEDULE_COLUMNS.map((column) => values[column]);
}

export function scheduleFromRow(row: ScheduleRow): ScheduleRecord {
  return {
    id: row.id,
    kind: row.kind as ScheduleKind,
    cron: optional(row.cron),
    tz: optional(row.tz),
    everyMs: optional(row.every_ms),
    at: optionalDate(row.at),
    taskName: row.task_name,
    queue: optional(row.queue),
    priority: optional(row.priority),
    payload: { format: row.payload_format, data: textFromPg(row.payload_data) },
    maxRuns: optional(row.max_runs),
    startAt: optionalDate(row.start_at),
    endAt: optionalDate(row.end_at),
    missed: row.missed as MissedFirePolicy,
    overlap: row.overlap,
    source: row.source as ScheduleSource,
    specHash: row.spec_hash,
    status: row.status as ScheduleStatus,
    nextRunAt: optionalDate(row.next_run_at),
    lastRunAt: optionalDate(row.last_run_at),
    runCount: row.run_count,
    lastTaskId: optional(row.last_task_id),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    pausedAt: optionalDate(row.paused_at),
  } satisfies Record<keyof ScheduleRecord, unknown>;
}
