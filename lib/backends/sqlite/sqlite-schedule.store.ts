import type { MissedFirePolicy, ScheduleKind, ScheduleRecord, ScheduleSource, ScheduleStatus } from '../../models/schedule.model.js';
import type { NewTask } from '../../models/task.model.js';
import { meetsExpectation, type FireOutcome, type ScheduleAdvance, type ScheduleExpectation, type ScheduleStore } from '../../storage/schedule.store.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteStatement } from './sqlite-database.types.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteWriter } from './sqlite-writer.js';
import { BOUND, optional, optionalDate, textFromColumn, textValue } from './sqlite-values.js';

interface ScheduleRow {
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
  payload_data: string | Buffer;
  max_runs: number | null;
  start_at: number | null;
  end_at: number | null;
  missed: string;
  overlap: number;
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

const COLUMNS = [
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

function scheduleValues(s: ScheduleRecord): unknown[] {
  const values: Record<keyof ScheduleRow, unknown> = {
    id: s.id,
    kind: s.kind,
    cron: s.cron,
    tz: s.tz,
    every_ms: s.everyMs,
    at: s.at?.getTime(),
    task_name: s.taskName,
    queue: s.queue,
    priority: s.priority,
    payload_format: s.payload.format,
    payload_data: textValue(s.payload.data),
    max_runs: s.maxRuns,
    start_at: s.startAt?.getTime(),
    end_at: s.endAt?.getTime(),
    missed: s.missed,
    overlap: s.overlap ? 1 : 0,
    source: s.source,
    spec_hash: s.specHash,
    status: s.status,
    next_run_at: s.nextRunAt?.getTime(),
    last_run_at: s.lastRunAt?.getTime(),
    run_count: s.runCount,
    last_task_id: s.lastTaskId,
    created_at: s.createdAt.getTime(),
    updated_at: s.updatedAt.getTime(),
    paused_at: s.pausedAt?.getTime(),
  };
  return COLUMNS.map((column) => values[column]);
}

function scheduleFromRow(row: ScheduleRow): ScheduleRecord {
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
    payload: { format: row.payload_format, data: textFromColumn(row.payload_data) },
    maxRuns: optional(row.max_runs),
    startAt: optionalDate(row.start_at),
    endAt: optionalDate(row.end_at),
    missed: row.missed as MissedFirePolicy,
    overlap: row.overlap === 1,
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

/** What the schedule store needs from the task queue it enqueues into (same database). */
export interface ScheduleTaskSink {
  /** Stores tasks as `enqueue` does, joining the caller's write transaction. */
  insertTasks(tasks: readonly NewTask[]): EnqueueOutcome[];
  assertOpen(operation: string): void;
}

/**
 * Schedules in `<project>_schedules`, beside the task queue. A fire is one `BEGIN IMMEDIATE`
 * transaction: the compare-and-set on `next_run_at` and the enqueue of its task commit together,
 * so of any number of instances (in any process) exactly one claims each tick.
 */
export class SqliteScheduleStore implements ScheduleStore {
  private readonly upsert: SqliteStatement;
  private readonly select: SqliteStatement<ScheduleRow>;
  private readonly selectAll: SqliteStatement<ScheduleRow>;
  private readonly remove: SqliteStatement;
  private readonly updateStatus: SqliteStatement;
  private readonly selectDue: SqliteStatement<ScheduleRow>;
  private readonly selectNextDue: SqliteStatement<unknown[]>;
  private readonly claim: SqliteStatement;
  private readonly recordTask: SqliteStatement;
  private readonly locks: SqliteLocks;

  constructor(
    connection: SqliteConnection,
    private readonly writer: SqliteWriter,
    private readonly tasks: ScheduleTaskSink,
  ) {
    const { db } = connection;
    this.locks = connection.locks;
    const table = connection.tables.schedules;
    const due = `status = 'active' AND next_run_at IS NOT NULL`;
    this.upsert = db.prepare(`INSERT OR REPLACE INTO ${table} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
    this.select = db.prepare(`SELECT * FROM ${table} WHERE id = ?`);
    this.selectAll = db.prepare(`SELECT * FROM ${table} ORDER BY id`);
    this.remove = db.prepare(`DELETE FROM ${table} WHERE id = ?`);
    this.updateStatus = db.prepare(
      `UPDATE ${table} SET status = ?, next_run_at = ?, paused_at = CASE WHEN ? = 'paused' THEN ? END, updated_at = ?
        WHERE id = ? AND status <> ?`,
    );
    this.selectDue = db.prepare(`SELECT * FROM ${table} WHERE ${due} AND next_run_at <= ? ORDER BY next_run_at LIMIT ${BOUND}`);
    this.selectNextDue = db.prepare(`SELECT MIN(next_run_at) FROM ${table} WHERE ${due}`).raw(true);
    this.claim = db.prepare(
      `UPDATE ${table} SET status = ?, next_run_at = ?, run_count = ?, last_run_at = ?, updated_at = ?
        WHERE id = ? AND status = 'active' AND next_run_at = ?`,
    );
    this.recordTask = db.prepare(`UPDATE ${table} SET last_task_id = ? WHERE id = ?`);
  }

  async saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean> {
    this.tasks.assertOpen('saveSchedule');
    return this.writer.write({ operation: `saveSchedule("${schedule.id}")` }, () => {
      if (expected) {
        const row = this.select.get(schedule.id);
        if (!meetsExpectation(row && scheduleFromRow(row), expected)) return false;
      }
      this.upsert.run(scheduleValues(schedule));
      return true;
    });
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    this.tasks.assertOpen('getSchedule');
    const row = await this.read(`getSchedule("${id}")`, () => this.select.get(id));
    return row && scheduleFromRow(row);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.tasks.assertOpen('listSchedules');
    return (await this.read('listSchedules', () => this.selectAll.all())).map(scheduleFromRow);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.tasks.assertOpen('deleteSchedule');
    return this.locks.run({ operation: `deleteSchedule("${id}")` }, () => this.remove.run(id).changes > 0);
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    this.tasks.assertOpen('setScheduleStatus');
    const row = await this.writer.write({ operation: `setScheduleStatus("${id}")` }, () => {
      const now = Date.now();
      this.updateStatus.run(status, nextRunAt?.getTime(), status, now, now, id, status);
      return this.select.get(id);
    });
    return row && scheduleFromRow(row);
  }

  async dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    this.tasks.assertOpen('dueSchedules');
    return (await this.read('dueSchedules', () => this.selectDue.all(now.getTime(), limit))).map(scheduleFromRow);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.tasks.assertOpen('nextDueAt');
    const [soonest] = (await this.read('nextDueAt of schedules', () => this.selectNextDue.get())) as [number | null];
    return optionalDate(soonest);
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    this.tasks.assertOpen('fireSchedule');
    return this.writer.write({ operation: `fireSchedule("${id}")`, tasks: task && [task] }, (): FireOutcome => {
      const { status, nextRunAt, runCount, lastRunAt } = advance;
      const claimed = this.claim.run(status, nextRunAt?.getTime(), runCount, lastRunAt?.getTime(), Date.now(), id, expectedNextRunAt.getTime());
      if (claimed.changes === 0) return { claimed: false };
      if (task === undefined) return { claimed: true };
      const [enqueued] = this.tasks.insertTasks([task]);
      this.recordTask.run(enqueued!.id, id);
      return { claimed: true, enqueued };
    });
  }

  /** A read, waiting between timers in the rare case that SQLite reports the file busy. */
  private read<R>(operation: string, work: () => R): R | Promise<R> {
    return this.locks.run({ operation }, work);
  }
}
