import type { ResultRecord } from '../../models/result.model.js';
import type { Notifier } from '../../storage/notifier.js';
import type { ResultStore } from '../../storage/result.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { BATCH_ROWS, batches, lastByKey, unnestRows } from './postgres-batch.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresDb } from './postgres-db.js';
import { RESULT_COLUMNS, resultFromRow, resultValues, type ResultRow } from './postgres-result-row.js';
import type { PostgresCall } from './postgres-storage.error.js';
import type { PostgresWrite } from './postgres-write.js';
import type { WritePublisher } from './postgres-writer.js';

const TYPES = Object.values(RESULT_COLUMNS);
const NAMES = Object.keys(RESULT_COLUMNS);
/** A result is live until its expiry, by the caller's clock. */
const LIVE = '(expires_at IS NULL OR expires_at > $2)';
const UPDATES = NAMES.filter((name) => name !== 'task_id')
  .map((name) => `${name} = EXCLUDED.${name}`)
  .join(', ');

/**
 * Task results in `<project>_results`, one row per task id: a put of any number of results is one
 * upsert per BATCH_ROWS (in one transaction when there are more), and the engine's task queue
 * writes results here inside its own transactions (`insertRows`). Every result stored notifies
 * `result` with its task id once it committed, to every engine on the schema (the notifier's
 * NOTIFY). Purges delete a batch per statement through the expiry and completion indexes, so none
 * holds many row locks for long.
 */
export class PostgresResultStore implements ResultStore {
  private readonly db: PostgresDb;
  private readonly table: string;
  private readonly lifecycle = new StoreLifecycle('PostgresResultStore');

  constructor(
    connection: PostgresConnection,
    /** The engine's notifier: `result` is heard here, and put publishes through it. */
    readonly notifier: Notifier & WritePublisher,
    private readonly release: () => Promise<void>,
  ) {
    this.db = connection.db;
    this.table = connection.tables.results;
  }

  async put(results: readonly ResultRecord[]): Promise<void> {
    this.lifecycle.assertOpen('put');
    if (results.length === 0) return;
    const rows = lastByKey(results, (result) => result.taskId);
    const call: PostgresCall = { operation: 'put results', tasks: rows.map((result) => ({ id: result.taskId })) };
    await this.lifecycle.whileOpen('put', async () => {
      const slices = batches(rows);
      if (slices.length > 1) {
        await this.db.transaction(call, async (tx) => {
          for (const slice of slices) await tx.query(...this.upsert(slice));
        });
      } else await this.db.query(...this.upsert(rows), call);
    });
    this.notifier.publish({ wake: new Set(), result: rows.map((result) => result.taskId), control: [] });
  }

  /** Stores results inside the caller's write transaction, announcing each (once it commits). */
  async insertRows(write: PostgresWrite, results: readonly ResultRecord[]): Promise<void> {
    const rows = lastByKey(results, (result) => result.taskId);
    for (const slice of batches(rows)) await write.query(...this.upsert(slice));
    for (const result of rows) write.resultStored(result.taskId);
  }

  async get(taskId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const sql = `SELECT * FROM ${this.table} WHERE task_id = $1 AND ${LIVE}`;
    const [row] = await this.lifecycle.whileOpen('get', () => this.db.query<ResultRow>(sql, [taskId, Date.now()], { operation: 'get result', tasks: [{ id: taskId }] }));
    return row && resultFromRow(row);
  }

  async latestForSchedule(scheduleId: string): Promise<ResultRecord | undefined> {
    this.lifecycle.assertOpen('latestForSchedule');
    const sql = `SELECT * FROM ${this.table} WHERE schedule_id = $1 AND ${LIVE} ORDER BY completed_at DESC LIMIT 1`;
    const call = { operation: `latestForSchedule("${scheduleId}")` };
    const [row] = await this.lifecycle.whileOpen('latestForSchedule', () => this.db.query<ResultRow>(sql, [scheduleId, Date.now()], call));
    return row && resultFromRow(row);
  }

  async delete(taskId: string): Promise<boolean> {
    this.lifecycle.assertOpen('delete');
    const sql = `DELETE FROM ${this.table} WHERE task_id = $1 RETURNING task_id`;
    const rows = await this.lifecycle.whileOpen('delete', () => this.db.query(sql, [taskId], { operation: 'delete result', tasks: [{ id: taskId }] }));
    return rows.length > 0;
  }

  async purgeExpired(now: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeExpired');
    return this.purgeInBatches('purgeExpired', 'expires_at IS NOT NULL AND expires_at <= $1', 'expires_at', now, limit);
  }

  async purgeCompletedBefore(before: Date, limit?: number): Promise<number> {
    this.lifecycle.assertOpen('purgeCompletedBefore');
    return this.purgeInBatches('purgeCompletedBefore', 'completed_at < $1', 'completed_at', before, limit);
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    await this.release();
  }

  /** The upsert of up to BATCH_ROWS results with distinct task ids (a later result replaces the stored one), with its parameters. */
  private upsert(rows: readonly ResultRecord[]): [string, unknown[]] {
    const { source, params } = unnestRows(rows.map(resultValues), TYPES);
    return [`INSERT INTO ${this.table} (${NAMES.join(', ')}) SELECT * FROM ${source} ON CONFLICT (task_id) DO UPDATE SET ${UPDATES}`, params];
  }

  /**
   * Deletes the rows `where` selects (bound: the time), oldest `order` first along its index, a
   * batch per statement, until `limit` or none is left.
   */
  private async purgeInBatches(operation: string, where: string, order: string, at: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    // The batch's rows by their key (`IN (…)` may hash-join a scan of the whole table), `where`
    // checked again on delete: a result a put just replaced is the new one, and may have to stay.
    const sql = `WITH purged AS (
        DELETE FROM ${this.table} WHERE task_id = ANY(ARRAY(SELECT task_id FROM ${this.table} WHERE ${where} ORDER BY ${order} LIMIT $2)) AND ${where}
        RETURNING 1
      ) SELECT count(*) AS purged FROM purged`;
    let purged = 0;
    for (;;) {
      const batch = Math.min(BATCH_ROWS, limit - purged);
      if (batch <= 0) return purged;
      const [row] = await this.lifecycle.whileOpen(operation, () => this.db.query<{ purged: number }>(sql, [at.getTime(), batch], { operation }));
      purged += row!.purged;
      if (row!.purged < batch) return purged;
    }
  }
}
