import type { EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import { MemoryEventStore } from './memory-event.store.js';
import { MemoryNotifier } from './memory-notifier.js';
import { MemoryResultStore } from './memory-result.store.js';
import { MemoryStorage } from './memory-storage.js';
import { MemoryTaskQueueStore } from './memory-task-queue.store.js';

const CAPABILITIES: EngineCapabilities = Object.freeze({ crossProcessNotify: true, atomicCompletion: true });

/**
 * The three stores over one memory storage, gone when the process ends. Every engine on a memory
 * storage lives in this process, so its notifier reaches them all (`crossProcessNotify`), and a
 * task's end writes its result and events in the same synchronous step (`atomicCompletion`).
 */
export class MemoryEngine implements StorageEngine {
  readonly capabilities = CAPABILITIES;
  readonly tasks: MemoryTaskQueueStore;
  readonly results: MemoryResultStore;
  readonly events: MemoryEventStore;
  private readonly notifier: MemoryNotifier;

  /** A new engine over fresh, empty storage. */
  constructor();
  /** @internal {@link peer}'s way in: another engine over the same storage. */
  constructor(storage: MemoryStorage);
  constructor(private readonly storage = new MemoryStorage()) {
    const domain = { storage, notifier: (this.notifier = new MemoryNotifier(storage.hub)) };
    this.results = new MemoryResultStore(domain);
    this.events = new MemoryEventStore(domain);
    this.tasks = new MemoryTaskQueueStore(domain, { results: this.results, events: this.events });
  }

  /**
   * A second engine over the same storage (tasks, results, events, schedules, leases, paused
   * queues, notifications), with stores of its own: what another instance of the application
   * would open on the same database. Closing either leaves the other working.
   */
  peer(): MemoryEngine {
    return new MemoryEngine(this.storage);
  }

  async close(): Promise<void> {
    await Promise.all([this.tasks.close(), this.results.close(), this.events.close()]);
    this.notifier.close();
  }
}
