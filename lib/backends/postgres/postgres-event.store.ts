import type { Observable } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery, EventStore } from '../../storage/event.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { BATCH_ROWS, batches, unnestRows } from './postgres-batch.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PgQueryable, PostgresDb } from './postgres-db.js';
import { EVENT_COLUMNS, eventFromRow, eventValues, type EventRow } from './postgres-event-row.js';
import { PostgresEventStream } from './postgres-event-stream.js';
import type { PostgresNotifier } from './postgres-notifier.js';

const DEFAULT_QUERY_LIMIT = 1000;
const TYPES = Object.values(EVENT_COLUMNS);
const NAMES = Object.keys(EVENT_COLUMNS);

/**
 * Lifecycle events in `<project>_events`, ordered by timestamp then append order (`seq`). An
 * append of any number of events is one insert per BATCH_ROWS (in one transaction when there are
 * more); the engine's task queue inserts events here inside its own transactions (`insertRows`).
 * Queries by task, schedule, type and time go through their own indexes. `stream()` carries what
 * every engine on the schema commits (see PostgresEventStream). A purge deletes a batch per
 * statement through the time index.
 */
export class PostgresEventStore implements EventStore {
  private readonly db: PostgresDb;
  private readonly table: string;
  private readonly eventStream: PostgresEventStream;
  private readonly lifecycle = new StoreLifecycle('PostgresEventStore');

  constructor(
    connection: PostgresConnection,
    private readonly notifier: PostgresNotifier,
    private readonly release: () => Promise<void>,
  ) {
    this.db = connection.db;
    this.table = connection.tables.events;
    this.eventStream = new PostgresEventStream(this.db, this.table, notifier);
  }

  async append(events: readonly TaskEvent[]): Promise<void> {
    this.lifecycle.assertOpen('append');
    if (events.length === 0) return;
    const call = { operation: 'append events' };
    await this.lifecycle.whileOpen('append', async () => {
      const slices = batches(events);
      if (slices.length > 1) {
        await this.db.transaction(call, async (tx) => {
          for (const slice of slices) await this.insert(tx, slice);
        });
      } else await this.insert({ query: (sql, params) => this.db.query(sql, params, call) }, events);
    });
    // The streams of this engine and its peers read them back (a writer's transaction hints them through its staged notifications).
    this.notifier.publish({ wake: new Set(), result: [], control: [], events: true });
  }

  /** Stores events inside the caller's transaction. */
  async insertRows(tx: PgQueryable, events: readonly TaskEvent[]): Promise<void> {
    for (const slice of batches(events)) await this.insert(tx, slice);
  }

  /** Seqs `lo`..`hi` were taken by events a statement of the engine's own inserted (a settle's): the stream reads them as its own inserts'. */
  inserted(lo: number, hi: number): void {
    this.eventStream.inserted(lo, hi);
  }

  async query(query: EventQuery = {}): Promise<TaskEvent[]> {
    this.lifecycle.assertOpen('query');
    const params: unknown[] = [];
    const param = (value: unknown, type: string): string => `$${params.push(value)}::${type}`;
    const terms: string[] = [];
    if (query.taskId !== undefined) terms.push(`task_id = ${param(query.taskId, 'text')}`);
    if (query.scheduleId !== undefined) terms.push(`schedule_id = ${param(query.scheduleId, 'text')}`);
    if (query.types !== undefined) terms.push(`type = ANY(${param(query.types, 'text[]')})`);
    if (query.queue !== undefined) terms.push(`queue = ${param(query.queue, 'text')}`);
    if (query.since !== undefined) terms.push(`timestamp >= ${param(query.since.getTime(), 'bigint')}`);
    if (query.until !== undefined) terms.push(`timestamp < ${param(query.until.getTime(), 'bigint')}`);
    const where = terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '';
    const direction = query.order === 'desc' ? 'DESC' : 'ASC';
    const sql = `SELECT * FROM ${this.table} ${where} ORDER BY timestamp ${direction}, seq ${direction} LIMIT ${param(query.limit ?? DEFAULT_QUERY_LIMIT, 'bigint')}`;
    const call = { operation: 'query events', tasks: query.taskId === undefined ? undefined : [{ id: query.taskId }] };
    const rows = await this.lifecycle.whileOpen('query', () => this.db.query<EventRow>(sql, params, call));
    return rows.map(eventFromRow);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeOlderThan');
    // `= ANY(ARRAY(…))`: the batch's rows by their key, where `IN (…)` may hash-join a scan of the whole table.
    const sql = `WITH purged AS (
        DELETE FROM ${this.table} WHERE seq = ANY(ARRAY(SELECT seq FROM ${this.table} WHERE timestamp < $1 LIMIT $2)) RETURNING 1
      ) SELECT count(*) AS purged FROM purged`;
    let purged = 0;
    for (;;) {
      const [row] = await this.lifecycle.whileOpen('purgeOlderThan', () => this.db.query<{ purged: number }>(sql, [cutoff.getTime(), BATCH_ROWS], { operation: 'purgeOlderThan' }));
      purged += row!.purged;
      if (row!.purged < BATCH_ROWS) return purged;
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

  /** One insert of up to BATCH_ROWS events, in their order (so their seqs keep the append order); tells the stream the seqs it took. */
  private async insert(on: PgQueryable, events: readonly TaskEvent[]): Promise<void> {
    const { source, params } = unnestRows(events.map(eventValues), TYPES);
    const sql = `WITH inserted AS (INSERT INTO ${this.table} (${NAMES.join(', ')}) SELECT * FROM ${source} RETURNING seq)
      SELECT min(seq) AS lo, max(seq) AS hi FROM inserted`;
    const [taken] = await on.query<{ lo: number; hi: number }>(sql, params);
    this.eventStream.inserted(taken!.lo, taken!.hi);
  }
}
