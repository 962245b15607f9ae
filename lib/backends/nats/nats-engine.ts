import type { EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import { KvTaskQueueStore } from '../kv/kv-task-queue.store.js';
import { OutboxView } from '../kv/kv-outbox-view.js';
import type { BackendLogger } from '../shared/backend-logger.js';
import { NatsBatchJournals } from './nats-batch-journals.js';
import type { NatsLink } from './nats-connection.js';
import { NatsEventStore } from './nats-event.store.js';
import { NatsKvStorage } from './nats-kv-storage.js';
import { NatsNotifier } from './nats-notifier.js';
import { NatsResultStore } from './nats-result.store.js';
import { NatsTaskLinks } from './nats-task-links.js';
import { NatsTaskRecords } from './nats-task-records.js';

/**
 * The stores of one project on a NATS server: the shared key-value task engine
 * (KvTaskQueueStore, with schedules, queue pauses and leader leases) on the KV buckets `tasks`
 * and `records` (NatsKvStorage), results in the bucket `results`, events in the stream `events`,
 * wake-ups on core NATS subjects. Another engine on the same URL, prefix and project (in this
 * process or another) is a peer: it sees the same tasks and hears this one's notifications.
 *
 * A task's end writes its result and events into its record's outbox in the same write, and the
 * result and event stores read through the outboxes (atomicCompletion). The three stores share
 * the notifier: closing the engine closes them; closing them one by one does the same once the
 * last is closed. Either way the task index's feed stops and the connection closes last (an
 * application's own connection is left open).
 */
export class NatsEngine implements StorageEngine {
  readonly capabilities: EngineCapabilities = Object.freeze({ crossProcessNotify: true, atomicCompletion: true });

  private constructor(
    readonly tasks: KvTaskQueueStore,
    readonly results: NatsResultStore,
    readonly events: NatsEventStore,
    private readonly notifier: NatsNotifier,
  ) {}

  /** Creates what is missing (buckets, stream), starts the task index and the notifier, and rolls forward batches a dead process left. */
  static async open(link: NatsLink, logger: BackendLogger): Promise<NatsEngine> {
    const [tasksKv, recordsKv, resultsKv] = await Promise.all([
      link.bucket('tasks'),
      link.bucket('records'),
      link.bucket('results', { maxAgeMs: link.settings.resultsMaxAgeMs, messageTtl: true }),
    ]);
    const records = new NatsTaskRecords(link, tasksKv, recordsKv, logger('OmniQNatsTaskQueue'));
    const links = new NatsTaskLinks(link, recordsKv, records, logger('OmniQNatsTaskQueue'));
    try {
      await Promise.all([records.index.start(), links.start()]);
    } catch (error) {
      await Promise.all([records.index.close(), links.close()]);
      throw error;
    }
    const queuesToWake = async (): Promise<string[]> => {
      await records.index.refreshLive();
      return [...new Set(records.index.versions().map((version) => version.body.task.queue))];
    };
    const notifier = new NatsNotifier(link, logger('OmniQNatsNotifier'), queuesToWake, async () => {
      await link.close();
      await Promise.all([records.index.close(), links.close()]);
    });
    try {
      await notifier.start();
      const outbox = new OutboxView(records);
      const release = async (): Promise<void> => notifier.release();
      const results = new NatsResultStore(link, resultsKv, notifier.acquire(), release, logger('OmniQNatsResultStore'), outbox);
      notifier.acquire();
      const events = await NatsEventStore.open(link, outbox, release, logger('OmniQNatsEventStore'));
      const storage = new NatsKvStorage(link, records, links, new NatsBatchJournals(link, recordsKv, logger('OmniQNatsTaskQueue')), recordsKv);
      const tasks = await KvTaskQueueStore.open({
        storeName: 'NatsTaskQueueStore',
        storage,
        notifier,
        results,
        events,
        logger: logger('OmniQNatsTaskQueue'),
        scheduleLogger: logger('OmniQNatsSchedules'),
      });
      return new NatsEngine(tasks, results, events, notifier);
    } catch (error) {
      await notifier.close();
      await Promise.all([records.index.close(), links.close()]);
      throw error;
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.tasks.close(), this.results.close(), this.events.close()]);
    await this.notifier.closed;
  }
}
