import { resolve } from 'node:path';
import type { EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import { newUuid } from '../../utils/uuid.js';
import type { BackendLogger } from '../shared/backend-logger.js';
import { StoreRelease } from '../shared/store-release.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { SqliteCoordination } from './sqlite-coordination.js';
import { SqliteEventStore } from './sqlite-event.store.js';
import { SqliteNotificationFeed } from './sqlite-notification-feed.js';
import { SqliteNotificationLog } from './sqlite-notification-log.js';
import { SqliteNotifier } from './sqlite-notifier.js';
import { SqliteResultStore } from './sqlite-result.store.js';
import { SqliteTaskQueueStore } from './sqlite-task-queue.store.js';
import { SqliteWriter } from './sqlite-writer.js';

/**
 * The stores on one SQLite connection: task queue (with schedules), results and events in one
 * atomic domain, sharing one notifier and one writer. Another engine on the same file (in this
 * process or another) is a peer: it sees the same tasks and hears this one's notifications.
 *
 * Closing the engine closes its three stores; closing the stores one by one does the same once
 * the last is closed. Either way the notifier's watch stops first, then `disconnect` runs once.
 */
export class SqliteEngine implements StorageEngine {
  /** This engine instance: the origin of the notification rows it writes. */
  readonly id = newUuid();
  readonly capabilities: EngineCapabilities;
  readonly tasks: SqliteTaskQueueStore;
  readonly results: SqliteResultStore;
  readonly events: SqliteEventStore;
  readonly notifier: SqliteNotifier;
  private readonly coordination: SqliteCoordination;
  /** The last store closed stops the notifier's watch, then disconnects. */
  private readonly stores: StoreRelease;

  constructor(
    connection: SqliteConnection,
    disconnect: () => Promise<void>,
    logger: BackendLogger,
  ) {
    const { db, tables, locks } = connection;
    // A database in memory has no other connection to tell.
    const log = db.memory ? undefined : new SqliteNotificationLog(db, tables, this.id);
    const feed =
      log && new SqliteNotificationFeed(log, resolve(db.name), (channel, messages) => this.notifier.deliver(channel, messages), () => db.open);
    this.notifier = new SqliteNotifier(db, locks, log, feed);
    const writer = new SqliteWriter(db, this.notifier, log, locks);
    this.stores = new StoreRelease(3, () => {
      this.notifier.close();
      this.coordination.close();
      return disconnect();
    });
    const { release } = this.stores;
    this.coordination = new SqliteCoordination(db, tables, locks);
    this.results = new SqliteResultStore(connection, writer, this.notifier, release);
    this.events = new SqliteEventStore(connection, writer, feed, release);
    this.tasks = new SqliteTaskQueueStore(
      connection,
      {
        writer,
        notifier: this.notifier,
        coordination: this.coordination,
        results: this.results,
        events: this.events,
        logger: logger('OmniQSqliteTaskQueue'),
      },
      release,
    );
    this.capabilities = Object.freeze({ crossProcessNotify: this.notifier.crossProcess, atomicCompletion: true });
  }

  async close(): Promise<void> {
    await Promise.all([this.tasks.close(), this.results.close(), this.events.close()]);
    await this.stores.closed;
  }
}
