import type { EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import type { BackendLogger } from '../shared/backend-logger.js';
import { StoreRelease } from '../shared/store-release.js';
import type { RedisConnection } from './redis-connection.js';
import { RedisCoordination } from './redis-coordination.js';
import { RedisEventStore } from './redis-event.store.js';
import { RedisNotifier } from './redis-notifier.js';
import { RedisResultStore } from './redis-result.store.js';
import { RedisScheduleStore } from './redis-schedule.store.js';
import { RedisTaskQueueStore } from './redis-task-queue.store.js';

/**
 * The stores on one project's keys of one Redis server or cluster: task queue (with schedules),
 * results and events in one atomic domain (every key shares one hash tag, so each transition is
 * one Lua script), sharing one client and one notifier (with its subscriber connection). Another
 * engine on the same URL, prefix and project (in this process or another) is a peer: it sees the
 * same tasks and hears this one's notifications.
 *
 * Closing the engine closes its three stores; closing the stores one by one does the same once
 * the last is closed. Either way the notifier stops first, then the connection closes (an
 * application's own client is left open).
 */
export class RedisEngine implements StorageEngine {
  readonly capabilities: EngineCapabilities = Object.freeze({ crossProcessNotify: true, atomicCompletion: true });
  readonly tasks: RedisTaskQueueStore;
  readonly results: RedisResultStore;
  readonly events: RedisEventStore;
  readonly notifier: RedisNotifier;
  /** The last store closed stops the notifier, then closes the connection. */
  private readonly stores: StoreRelease;

  constructor(
    connection: RedisConnection,
    logger: BackendLogger,
  ) {
    this.notifier = new RedisNotifier(connection, logger('OmniQRedisNotifier'));
    const coordination = new RedisCoordination(connection);
    this.stores = new StoreRelease(3, () => this.notifier.close().then(() => connection.close()));
    const { release } = this.stores;
    this.results = new RedisResultStore(connection, this.notifier, release);
    this.events = new RedisEventStore(connection, this.notifier, release);
    this.tasks = new RedisTaskQueueStore(
      connection,
      {
        notifier: this.notifier,
        coordination,
        results: this.results,
        events: this.events,
        schedules: new RedisScheduleStore(connection),
        logger: logger('OmniQRedisTaskQueue'),
      },
      release,
    );
  }

  /** Subscribes to the project's notifications before the engine is handed out; on failure nothing stays open but the connection (its opener's to close). */
  async start(): Promise<this> {
    try {
      await this.notifier.start();
    } catch (error) {
      await this.notifier.close();
      throw error;
    }
    return this;
  }

  async close(): Promise<void> {
    await Promise.all([this.tasks.close(), this.results.close(), this.events.close()]);
    await this.stores.closed;
  }
}
