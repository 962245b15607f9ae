import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import { newUuid } from '../../utils/uuid.js';
import { StoreRelease } from '../shared/store-release.js';
import type { BackendLogger } from '../shared/backend-logger.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PgQueryable } from './postgres-db.js';
import { PostgresCoordination } from './postgres-coordination.js';
import { PostgresEventStore } from './postgres-event.store.js';
import { PostgresNotifier } from './postgres-notifier.js';
import { PostgresResultStore } from './postgres-result.store.js';
import { PostgresTaskQueueStore } from './postgres-task-queue.store.js';
import type { PostgresWrite } from './postgres-write.js';
import { PostgresWriter } from './postgres-writer.js';

/**
 * The stores on one PostgreSQL schema: task queue (with schedules), results and events in one
 * atomic domain, sharing one pool, one writer and one notifier (with its LISTEN connection).
 * Another engine on the same schema and project (in this process or another) is a peer: it sees
 * the same tasks and hears this one's notifications.
 *
 * Closing the engine closes its three stores; closing the stores one by one does the same once
 * the last is closed. Either way the notifier stops first, then `disconnect` runs once.
 */
export class PostgresEngine implements StorageEngine {
  /** This engine instance: the origin of the notifications it sends, so it skips its own. */
  readonly id = newUuid();
  readonly capabilities: EngineCapabilities;
  readonly tasks: PostgresTaskQueueStore;
  readonly results: PostgresResultStore;
  readonly events: PostgresEventStore;
  readonly notifier: PostgresNotifier;
  private readonly coordination: PostgresCoordination;
  /** The last store closed stops the notifier, then disconnects. */
  private readonly stores: StoreRelease;

  constructor(
    connection: PostgresConnection,
    disconnect: () => Promise<void>,
    logger: BackendLogger,
  ) {
    this.notifier = new PostgresNotifier(connection, this.id, logger('OmniQPostgresNotifier'));
    const sinks = {
      insertResults: (tx: PostgresWrite, rows: readonly ResultRecord[]) => this.results.insertRows(tx, rows),
      insertEvents: (tx: PgQueryable, rows: readonly TaskEvent[]) => this.events.insertRows(tx, rows),
      eventsInserted: (lo: number, hi: number) => this.events.inserted(lo, hi),
    };
    const writer = new PostgresWriter(connection.db, sinks, this.notifier);
    this.stores = new StoreRelease(3, () => {
      this.coordination.close();
      return this.notifier.close().then(() => disconnect());
    });
    const { release } = this.stores;
    this.coordination = new PostgresCoordination(connection);
    this.results = new PostgresResultStore(connection, this.notifier, release);
    this.events = new PostgresEventStore(connection, this.notifier, release);
    this.tasks = new PostgresTaskQueueStore(
      connection,
      {
        writer,
        notifier: this.notifier,
        coordination: this.coordination,
        results: this.results,
        events: this.events,
        logger: logger('OmniQPostgresTaskQueue'),
      },
      release,
    );
    this.capabilities = Object.freeze({ crossProcessNotify: this.notifier.crossProcess, atomicCompletion: true });
  }

  /** Opens the LISTEN connection (when storageOptions.listen is on) before the engine is handed out. */
  async start(): Promise<this> {
    await this.notifier.start();
    return this;
  }

  async close(): Promise<void> {
    await Promise.all([this.tasks.close(), this.results.close(), this.events.close()]);
    await this.stores.closed;
  }
}
