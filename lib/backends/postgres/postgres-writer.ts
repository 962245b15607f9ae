import { WRITE_NOTHING, type WriteScope } from '../../storage/task-queue.store.js';
import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { PgQueryable, PostgresDb } from './postgres-db.js';
import type { PostgresCall } from './postgres-storage.error.js';
import { PostgresWrite, type StagedNotifications } from './postgres-write.js';

/** Where a write's gathered rows go: the engine's result and event stores write them on the transaction's connection. */
export interface WriteSinks {
  insertResults(tx: PostgresWrite, results: readonly ResultRecord[]): Promise<void>;
  insertEvents(tx: PgQueryable, events: readonly TaskEvent[]): Promise<void>;
  /**
   * Events with seqs `lo`..`hi` were inserted by a statement of this engine's own (a settle's),
   * committed or about to be: the event store's stream treats them as it treats the rows its own
   * inserts take.
   */
  eventsInserted(lo: number, hi: number): void;
}

/** Hears what a committed write announces (the engine's notifier). */
export interface WritePublisher {
  publish(staged: StagedNotifications): void;
  /** A NOTIFY payload waking the peers of `queues`, for a write's own statement to send, or undefined (see PostgresNotifier.inlineWake). */
  inlineWake(queues: readonly string[], now: number): string | undefined;
}

/**
 * Runs an engine's writes, each one transaction (see PostgresDb.transaction): `work` changes the
 * tasks and gathers results, events and notifications on its PostgresWrite; the results and
 * events are inserted before COMMIT, the notifications published and the effects run after it.
 * A retried transaction starts with a fresh PostgresWrite, so nothing of a rolled-back try leaks.
 */
export class PostgresWriter {
  constructor(
    private readonly db: PostgresDb,
    private readonly sinks: WriteSinks,
    private readonly publisher: WritePublisher,
  ) {}

  async write<R>(call: PostgresCall, work: (write: PostgresWrite) => Promise<R>, scope: WriteScope = WRITE_NOTHING, now?: number): Promise<R> {
    let committed: PostgresWrite | undefined;
    const result = await this.db.transaction(call, async (tx) => {
      const write = new PostgresWrite(tx, scope, now ?? Date.now());
      const value = await work(write);
      if (write.results.length > 0) await this.sinks.insertResults(write, write.results);
      if (write.events.length > 0) await this.sinks.insertEvents(tx, write.events);
      committed = write;
      return value;
    });
    this.committed(committed!);
    return result;
  }

  /**
   * A write that is one statement, autocommitted: one round trip, no BEGIN and COMMIT. `work`
   * runs exactly one query on its PostgresWrite, and that statement inserts the results and
   * events it stores itself (gathering none on the write; it reports their seqs through
   * `eventsInserted`); a deadlock runs it again. Notifications and effects as for `write`.
   */
  async statement<R>(call: PostgresCall, work: (write: PostgresWrite) => Promise<R>, scope: WriteScope, now: number): Promise<R> {
    const write = new PostgresWrite({ query: (sql, params) => this.db.statement(sql, params ?? [], call) }, scope, now);
    const value = await work(write);
    this.committed(write);
    return value;
  }

  /** See WritePublisher.inlineWake. */
  inlineWake(queues: readonly string[], now: number): string | undefined {
    return this.publisher.inlineWake(queues, now);
  }

  /** Seqs `lo`..`hi` were taken by events a write's own statement inserted (see WriteSinks.eventsInserted). */
  eventsInserted(lo: number, hi: number): void {
    this.sinks.eventsInserted(lo, hi);
  }

  private committed(write: PostgresWrite): void {
    const staged = write.staged();
    if (staged !== undefined) this.publisher.publish(staged);
    for (const effect of write.effects) effect();
  }
}
