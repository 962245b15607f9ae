import { Subject, type Observable } from 'rxjs';
import type { TaskEvent, TaskEventType } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { SqliteEventTaskIndex } from './sqlite-event-index.js';
import { jsonOrNull, optional } from './sqlite-values.js';

const DEFAULT_QUERY_LIMIT = 1000;

interface EventRow {
  id: string;
  type: string;
  timestamp: number;
  task_id: string | null;
  task_name: string | null;
  queue: string | null;
  schedule_id: string | null;
  worker_id: string | null;
  attempt: number | null;
  duration_ms: number | null;
  message: string | null;
  error: string | null;
  data: string | null;
}

const COLUMNS = [
  'id',
  'type',
  'timestamp',
  'task_id',
  'task_name',
  'queue',
  'schedule_id',
  'worker_id',
  'attempt',
  'duration_ms',
  'message',
  'error',
  'data',
] as const satisfies readonly (keyof EventRow)[];

function eventRow(event: TaskEvent): EventRow {
  return {
    id: event.id,
    type: event.type,
    timestamp: event.timestamp.getTime(),
    task_id: event.taskId ?? null,
    task_name: event.taskName ?? null,
    queue: event.queue ?? null,
    schedule_id: event.scheduleId ?? null,
    worker_id: event.workerId ?? null,
    attempt: event.attempt ?? null,
    duration_ms: event.durationMs ?? null,
    message: event.message ?? null,
    error: jsonOrNull(event.error),
    data: jsonOrNull(event.data),
  } satisfies Record<(typeof COLUMNS)[number], unknown>;
}

function eventFromRow(row: EventRow): TaskEvent {
  return {
    id: row.id,
    type: row.type as TaskEventType,
    timestamp: new Date(row.timestamp),
    taskId: optional(row.task_id),
    taskName: optional(row.task_name),
    queue: optional(row.queue),
    scheduleId: optional(row.schedule_id),
    workerId: optional(row.worker_id),
    attempt: optional(row.attempt),
    durationMs: optional(row.duration_ms),
    message: optional(row.message),
    error: row.error === null ? undefined : JSON.parse(row.error),
    data: row.data === null ? undefined : JSON.parse(row.data),
  } satisfies Record<keyof TaskEvent, unknown>;
}

/**
 * Lifecycle events in `<project>_events`, ordered by timestamp then append order (seq). An append
 * of many events is one transaction. Queries by task go through a bulk-filled index (see
 * SqliteEventTaskIndex). `stream()` carries the events appended through this store, decoded from
 * the stored text so they equal what `query` returns.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: SqliteDatabase;
  private readonly table: string;
  private readonly byTask: string;
  private readonly taskIndex: SqliteEventTaskIndex;
  private readonly purge: SqliteStatement;
  private readonly writeEvents: (rows: readonly EventRow[]) => void;
  private readonly queryStatements = new Map<string, SqliteStatement<EventRow>>();
  private readonly appended = new Subject<TaskEvent>();
  private readonly lifecycle = new StoreLifecycle('SqliteEventStore');

  constructor(
    connection: SqliteConnection,
    private readonly release: () => Promise<void>,
  ) {
    this.db = connection.db;
    this.table = connection.tables.events;
    this.byTask = connection.tables.eventsByTask;
    this.taskIndex = new SqliteEventTaskIndex(this.db, connection.tables);
    const insert = this.db.prepare(
      `INSERT INTO ${this.table} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`,
    );
    this.purge = this.db.prepare(`DELETE FROM ${this.table} WHERE timestamp < ?`);
    // Bound by position: better-sqlite3 binds named parameters several times slower.
    this.writeEvents = this.db.transaction((rows: readonly EventRow[]) => {
      let lastSeq = 0;
      for (const row of rows) lastSeq = Number(insert.run(COLUMNS.map((column) => row[column])).lastInsertRowid);
      this.taskIndex.appended(lastSeq);
    }).immediate;
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    const rows = events.map(eventRow);
    this.writeEvents(rows);
    if (this.appended.observed) for (const row of rows) this.appended.next(eventFromRow(row));
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    const terms: string[] = [];
    if (query.taskId !== undefined) terms.push(`seq IN (SELECT seq FROM ${this.byTask} WHERE task_id = @taskId)`);
    if (query.scheduleId !== undefined) terms.push('schedule_id = @scheduleId');
    if (query.types !== undefined) terms.push('type IN (SELECT value FROM json_each(@types))');
    if (query.queue !== undefined) terms.push('queue = @queue');
    if (query.since !== undefined) terms.push('timestamp >= @since');
    if (query.until !== undefined) terms.push('timestamp < @until');
    const where = terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '';
    const direction = query.order === 'desc' ? 'DESC' : 'ASC';
    const sql = `SELECT * FROM ${this.table} ${where} ORDER BY timestamp ${direction}, seq ${direction} LIMIT @limit`;
    const params = {
      taskId: query.taskId,
      scheduleId: query.scheduleId,
      types: JSON.stringify(query.types),
      queue: query.queue,
      since: query.since?.getTime(),
      until: query.until?.getTime(),
      limit: query.limit ?? DEFAULT_QUERY_LIMIT,
    };
    const read = (): EventRow[] => this.statement(sql).all(params);
    if (query.taskId === undefined) return read().map(eventFromRow);
    // A query by task first indexes what appends left unindexed, so it sees every event.
    const rows = this.db
      .transaction(() => {
        this.taskIndex.catchUp();
        return read();
      })
      .immediate();
    return rows.map(eventFromRow);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    return this.db
      .transaction(() => {
        this.taskIndex.forget(cutoff.getTime());
        return this.purge.run(cutoff.getTime()).changes;
      })
      .immediate();
  }

  stream(): Observable<TaskEvent> {
    return this.appended.asObservable();
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.appended.complete();
    await this.release();
  }

  private statement(sql: string): SqliteStatement<EventRow> {
    let statement = this.queryStatements.get(sql);
    if (statement === undefined) this.queryStatements.set(sql, (statement = this.db.prepare<EventRow>(sql)));
    return statement;
  }
}
