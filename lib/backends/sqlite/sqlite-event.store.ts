import type { Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { CHUNK_ROWS, betweenChunks } from './sqlite-chunks.js';
import type { SqliteConnection } from './sqlite-connection.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { SqliteEventTaskIndex } from './sqlite-event-index.js';
import { SqliteEventStream } from './sqlite-event-stream.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteNotificationFeed } from './sqlite-notification-feed.js';
import type { SqliteWriter } from './sqlite-writer.js';
import { EVENT_COLUMNS, eventFromRow, eventRow, type EventRow } from './sqlite-event-row.js';
import { BOUND } from './sqlite-values.js';

const DEFAULT_QUERY_LIMIT = 1000;

/**
 * Lifecycle events in `<project>_events`, ordered by timestamp then append order (seq). An append
 * of many events is one transaction; the engine's task queue also writes events here inside its
 * own transitions (`writeRows`). Queries by task go through a bulk-filled index (see
 * SqliteEventTaskIndex). `stream()` carries the events stored in the file, by this engine or
 * another, read back once committed, so they equal what `query` returns (see SqliteEventStream).
 * A purge deletes a chunk of CHUNK_ROWS events per transaction, so it never holds the lock long.
 */
export class SqliteEventStore implements EventStore {
  private readonly db: SqliteDatabase;
  private readonly table: string;
  private readonly byTask: string;
  private readonly taskIndex: SqliteEventTaskIndex;
  private readonly insert: SqliteStatement;
  private readonly selectOlder: SqliteStatement<unknown[]>;
  private readonly deleteSeqs: SqliteStatement;
  private readonly locks: SqliteLocks;
  private readonly queryStatements = new Map<string, SqliteStatement<EventRow>>();
  private readonly eventStream: SqliteEventStream;
  private readonly lifecycle = new StoreLifecycle('SqliteEventStore');

  constructor(
    connection: SqliteConnection,
    private readonly writer: SqliteWriter,
    feed: SqliteNotificationFeed | undefined,
    private readonly release: () => Promise<void>,
  ) {
    this.db = connection.db;
    this.locks = connection.locks;
    this.table = connection.tables.events;
    this.byTask = connection.tables.eventsByTask;
    this.taskIndex = new SqliteEventTaskIndex(this.db, connection.tables);
    this.insert = this.db.prepare(`INSERT INTO ${this.table} (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})`);
    this.selectOlder = this.db.prepare(`SELECT seq, task_id FROM ${this.table} WHERE timestamp < ? ORDER BY timestamp LIMIT ${BOUND}`).raw(true);
    const each = 'SELECT value FROM json_each(?)';
    this.deleteSeqs = this.db.prepare(`DELETE FROM ${this.table} WHERE seq IN (${each})`);
    this.eventStream = new SqliteEventStream(this.db, connection.tables, feed);
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    if (events.length === 0) return;
    await this.writer.write({ operation: 'append events' }, () => this.writeRows(events));
  }

  /** Stores events inside the caller's write; the stream hears them once it committed. */
  writeRows(events: readonly TaskEvent[]): void {
    const rows = events.map(eventRow);
    let lastSeq = 0;
    // Bound by position: better-sqlite3 binds named parameters several times slower.
    for (const row of rows) lastSeq = Number(this.insert.run(EVENT_COLUMNS.map((column) => row[column])).lastInsertRowid);
    this.taskIndex.appended(lastSeq);
    if (this.eventStream.observed) this.writer.onCommit(this.eventStream.catchUp);
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
    if (query.taskId === undefined) return (await this.locks.run({ operation: 'query events' }, read)).map(eventFromRow);
    // A query by task first indexes what appends left unindexed, so it sees every event.
    const rows = await this.writer.write({ operation: 'query events', tasks: [{ id: query.taskId }] }, () => {
      this.taskIndex.catchUp();
      return read();
    });
    return rows.map(eventFromRow);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    let purged = 0;
    for (;;) {
      const deleted = await this.writer.write({ operation: 'purgeOlderThan' }, () => {
        const older = this.selectOlder.all(cutoff.getTime(), CHUNK_ROWS);
        if (older.length === 0) return 0;
        this.taskIndex.forget(older);
        return this.deleteSeqs.run(JSON.stringify(older.map(([seq]) => seq))).changes;
      });
      purged += deleted;
      if (deleted < CHUNK_ROWS) return purged;
      await betweenChunks();
    }
  }

  stream(): Observable<TaskEvent> {
    return this.eventStream.observable;
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.eventStream.complete();
    await this.release();
  }

  private statement(sql: string): SqliteStatement<EventRow> {
    let statement = this.queryStatements.get(sql);
    if (statement === undefined) this.queryStatements.set(sql, (statement = this.db.prepare<EventRow>(sql)));
    return statement;
  }
}
