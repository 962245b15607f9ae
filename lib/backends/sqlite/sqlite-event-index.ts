import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { SqliteTables } from './sqlite-tables.js';

/** The `meta` mark below which (inclusive) every event with a task id is in events_by_task. */
export const EVENTS_INDEXED_THROUGH = 'events_indexed_through';

/** An append that leaves this many events unindexed indexes them, so queries never catch up on many. */
const APPEND_BACKLOG = 5_000;

/**
 * Finds events by task id. An index on the events table's task_id would cost every append one
 * random page write per event (task ids are random UUIDs), which measured at four times the cost
 * of the rest of an append. Instead `events_by_task` is filled in bulk: thousands of sorted keys at
 * once write each index page once rather than once per event. Appends fill it once APPEND_BACKLOG
 * events wait, and a query by task fills it first, so queries still see every event.
 */
export class SqliteEventTaskIndex {
  private readonly selectMark: SqliteStatement<unknown[]>;
  private readonly indexBacklog: SqliteStatement;
  private readonly advanceMark: SqliteStatement;
  private readonly forgetEntries: SqliteStatement;

  constructor(db: SqliteDatabase, { events, eventsByTask, meta }: SqliteTables) {
    const mark = `SELECT value FROM ${meta} WHERE name = '${EVENTS_INDEXED_THROUGH}'`;
    this.selectMark = db.prepare(mark).raw(true);
    this.indexBacklog = db.prepare(
      `INSERT OR IGNORE INTO ${eventsByTask} (task_id, seq)
        SELECT task_id, seq FROM ${events} WHERE seq > (${mark}) AND task_id IS NOT NULL ORDER BY task_id, seq`,
    );
    this.advanceMark = db.prepare(
      `UPDATE ${meta} SET value = MAX(value, (SELECT COALESCE(MAX(seq), 0) FROM ${events})) WHERE name = '${EVENTS_INDEXED_THROUGH}'`,
    );
    this.forgetEntries = db.prepare(
      `DELETE FROM ${eventsByTask} WHERE (task_id, seq) IN (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))`,
    );
  }

  /** After an append (in its transaction), given the seq of its last event. */
  appended(lastSeq: number): void {
    const [indexedThrough] = this.selectMark.get() as [number];
    if (lastSeq - indexedThrough >= APPEND_BACKLOG) this.catchUp();
  }

  /** Indexes every event appended so far; runs in a write transaction. */
  catchUp(): void {
    this.indexBacklog.run();
    this.advanceMark.run();
  }

  /** Drops the entries of events about to be deleted, given as [seq, task id] (null task ids are never indexed). */
  forget(events: ReadonlyArray<readonly unknown[]>): void {
    this.forgetEntries.run(JSON.stringify(events.filter(([, taskId]) => taskId !== null).map(([seq, taskId]) => [taskId, seq])));
  }
}
