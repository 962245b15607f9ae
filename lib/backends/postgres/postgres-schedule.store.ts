import type { ScheduleRecord, ScheduleStatus } from '../../models/schedule.model.js';
import type { NewTask } from '../../models/task.model.js';
import type { FireOutcome, ScheduleAdvance, ScheduleExpectation, ScheduleStore } from '../../storage/schedule.store.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresDb } from './postgres-db.js';
import { SCHEDULE_COLUMNS, scheduleFromRow, scheduleValues, type ScheduleRow } from './postgres-schedule-row.js';
import type { PostgresCall } from './postgres-storage.error.js';
import { optionalDate } from './postgres-values.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** What the schedule store needs from the task queue it enqueues into (same schema). */
export interface PostgresScheduleTaskSink {
  /** Stores tasks as `enqueue` does, inside the caller's write transaction. */
  insertTasks(write: PostgresWrite, tasks: readonly NewTask[]): Promise<EnqueueOutcome[]>;
  assertOpen(operation: string): void;
}

const DUE = `status = 'active' AND next_run_at IS NOT NULL`;
const VALUES = SCHEDULE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ');
const ALL_BUT_ID = SCHEDULE_COLUMNS.filter((column) => column !== 'id');
/** `$2, …`: the values after the id, in SCHEDULE_COLUMNS order. */
const VALUES_BUT_ID = ALL_BUT_ID.map((_, i) => `$${i + 2}`).join(', ');
const EXPECTED_AT = SCHEDULE_COLUMNS.length + 1;

/**
 * Schedules in `<project>_schedules`, beside the task queue. A fire is one transaction: the
 * compare-and-set on `next_run_at` (an UPDATE, whose row lock makes racing fires wait and then
 * find the time moved on) and the enqueue of its task commit together, so of any number of
 * instances in any process exactly one claims each tick. A save with an expectation is one
 * statement for the same reason.
 */
export class PostgresScheduleStore implements ScheduleStore {
  private readonly db: PostgresDb;
  private readonly table: string;

  constructor(
    connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly tasks: PostgresScheduleTaskSink,
  ) {
    this.db = connection.db;
    this.table = connection.tables.schedules;
  }

  async saveSchedule(schedule: ScheduleRecord, expected?: ScheduleExpectation): Promise<boolean> {
    this.tasks.assertOpen('saveSchedule');
    const values = scheduleValues(schedule);
    const insert = `INSERT INTO ${this.table} (${SCHEDULE_COLUMNS.join(', ')}) VALUES (${VALUES})`;
    let sql: string;
    if (expected === undefined) {
      sql = `${insert} ON CONFLICT (id) DO UPDATE SET ${ALL_BUT_ID.map((column) => `${column} = EXCLUDED.${column}`).join(', ')} RETURNING id`;
    } else if (expected.absent) {
      sql = `${insert} ON CONFLICT (id) DO NOTHING RETURNING id`;
    } else {
      const at = EXPECTED_AT;
      sql = `UPDATE ${this.table} SET (${ALL_BUT_ID.join(', ')}) = ROW(${VALUES_BUT_ID})
        WHERE id = $1 AND spec_hash = $${at} AND status = $${at + 1} AND run_count = $${at + 2} AND next_run_at IS NOT DISTINCT FROM $${at + 3}::bigint
        RETURNING id`;
      values.push(expected.specHash, expected.status, expected.runCount, expected.nextRunAt?.getTime() ?? null);
    }
    const saved = await this.run('saveSchedule', sql, values, { operation: `saveSchedule("${schedule.id}")` });
    return saved.length > 0;
  }

  async getSchedule(id: string): Promise<ScheduleRecord | undefined> {
    this.tasks.assertOpen('getSchedule');
    const [row] = await this.run<ScheduleRow>('getSchedule', `SELECT * FROM ${this.table} WHERE id = $1`, [id], { operation: `getSchedule("${id}")` });
    return row && scheduleFromRow(row);
  }

  async listSchedules(): Promise<ScheduleRecord[]> {
    this.tasks.assertOpen('listSchedules');
    // By code point, as the other backends order ids, whatever the database's collation.
    const rows = await this.run<ScheduleRow>('listSchedules', `SELECT * FROM ${this.table} ORDER BY id COLLATE "C"`, [], { operation: 'listSchedules' });
    return rows.map(scheduleFromRow);
  }

  async deleteSchedule(id: string): Promise<boolean> {
    this.tasks.assertOpen('deleteSchedule');
    const rows = await this.run('deleteSchedule', `DELETE FROM ${this.table} WHERE id = $1 RETURNING id`, [id], { operation: `deleteSchedule("${id}")` });
    return rows.length > 0;
  }

  async setScheduleStatus(id: string, status: ScheduleStatus, nextRunAt?: Date): Promise<ScheduleRecord | undefined> {
    this.tasks.assertOpen('setScheduleStatus');
    // One statement: the updated row, or (when it already had the status) the row as it is.
    const sql = `WITH changed AS (
        UPDATE ${this.table} SET status = $2::text, next_run_at = $3::bigint, paused_at = CASE WHEN $2::text = 'paused' THEN $4::bigint END, updated_at = $4::bigint
        WHERE id = $1 AND status <> $2::text RETURNING *
      )
      SELECT * FROM changed UNION ALL SELECT * FROM ${this.table} WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM changed)`;
    const params = [id, status, nextRunAt?.getTime() ?? null, Date.now()];
    const [row] = await this.run<ScheduleRow>('setScheduleStatus', sql, params, { operation: `setScheduleStatus("${id}")` });
    return row && scheduleFromRow(row);
  }

  async dueSchedules(now: Date, limit: number): Promise<ScheduleRecord[]> {
    this.tasks.assertOpen('dueSchedules');
    const sql = `SELECT * FROM ${this.table} WHERE ${DUE} AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2`;
    const rows = await this.run<ScheduleRow>('dueSchedules', sql, [now.getTime(), limit], { operation: 'dueSchedules' });
    return rows.map(scheduleFromRow);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.tasks.assertOpen('nextDueAt');
    const [row] = await this.run<{ soonest: number | null }>('nextDueAt', `SELECT min(next_run_at) AS soonest FROM ${this.table} WHERE ${DUE}`, [], {
      operation: 'nextDueAt of schedules',
    });
    return optionalDate(row!.soonest);
  }

  async fireSchedule(id: string, expectedNextRunAt: Date, advance: ScheduleAdvance, task?: NewTask): Promise<FireOutcome> {
    this.tasks.assertOpen('fireSchedule');
    const { status, nextRunAt, runCount, lastRunAt } = advance;
    const claim = `UPDATE ${this.table}
      SET status = $2, next_run_at = $3, run_count = $4, last_run_at = $5, updated_at = $6, last_task_id = COALESCE($7, last_task_id)
      WHERE id = $1 AND status = 'active' AND next_run_at = $8 RETURNING id`;
    const call: PostgresCall = { operation: `fireSchedule("${id}")`, tasks: task && [task] };
    return this.guarded('fireSchedule', () =>
      this.writer.write(call, async (write): Promise<FireOutcome> => {
        const params = [id, status, nextRunAt?.getTime() ?? null, runCount, lastRunAt?.getTime() ?? null, write.now, task?.id ?? null, expectedNextRunAt.getTime()];
        const claimed = await write.query(claim, params);
        if (claimed.length === 0) return { claimed: false };
        if (task === undefined) return { claimed: true };
        const [enqueued] = await this.tasks.insertTasks(write, [task]);
        // A held key names the task that holds it: the fire's task is that one.
        if (enqueued!.id !== task.id) await write.query(`UPDATE ${this.table} SET last_task_id = $2 WHERE id = $1`, [id, enqueued!.id]);
        return { claimed: true, enqueued };
      }),
    );
  }

  private run<R extends object = Record<string, unknown>>(operation: string, sql: string, params: readonly unknown[], call: PostgresCall): Promise<R[]> {
    return this.guarded(operation, () => this.db.query<R>(sql, params, call));
  }

  /** Runs a call; one that fails because the task queue closed meanwhile rejects with StoreClosedError. */
  private async guarded<R>(operation: string, call: () => Promise<R>): Promise<R> {
    try {
      return await call();
    } catch (error) {
      this.tasks.assertOpen(operation);
      throw error;
    }
  }
}
