import { Logger } from '@nestjs/common';
import type { OmniQConfig } from './config/omniq-config.js';
import type { StoreOption } from './interfaces/omniq-options.interface.js';
import type { EventStore } from './storage/event.store.js';
import type { ResultStore } from './storage/result.store.js';
import type { TaskQueueStore } from './storage/task-queue.store.js';
import { backendFor, type Backend, type BackendContext } from './backends/backend.registry.js';
import { SharedResources } from './backends/shared-resources.js';
import { createLogger } from './config/omniq-logger.js';

interface Closeable {
  close(): Promise<void>;
}

/**
 * The three stores of one OmniQ module. Stores opened from URLs belong to OmniQ and are closed
 * at application shutdown; store instances passed in the options stay their owner's.
 */
export class OmniQStores {
  private closing: Promise<void> | undefined;

  private constructor(
    readonly taskQueue: TaskQueueStore,
    readonly resultStore: ResultStore,
    readonly eventStore: EventStore,
    private readonly owned: readonly Closeable[],
  ) {}

  static async open(config: OmniQConfig): Promise<OmniQStores> {
    const context: BackendContext = {
      projectName: config.projectName,
      baseDir: config.baseDir,
      storageOptions: config.storageOptions,
      resources: new SharedResources(),
    };
    const specs = { taskQueue: config.taskQueue, resultStore: config.resultStore, eventStore: config.eventStore };
    const backends = new Map<string, Backend>();
    for (const [option, spec] of Object.entries(specs)) if (typeof spec === 'string') backends.set(option, backendFor(option, spec));
    const unread = unreadStorageOptions(config.storageOptions, [...backends.values()]);
    if (unread) createLogger('OmniQ', config.logging).warn(unread);
    const owned: Closeable[] = [];
    const open = async <S extends Closeable>(
      option: keyof typeof specs,
      spec: StoreOption<S>,
      create: (backend: Backend, url: string) => Promise<S>,
    ): Promise<S> => {
      if (typeof spec !== 'string') return spec;
      const store = await create(backends.get(option)!, spec);
      owned.push(store);
      return store;
    };
    try {
      const taskQueue = await open('taskQueue', config.taskQueue, (b, url) => b.createTaskQueue(url, context));
      const resultStore = await open('resultStore', config.resultStore, (b, url) => b.createResultStore(url, context));
      const eventStore = await open('eventStore', config.eventStore, (b, url) => b.createEventStore(url, context));
      return new OmniQStores(taskQueue, resultStore, eventStore, owned);
    } catch (error) {
      await Promise.allSettled(owned.map((store) => store.close()));
      throw error;
    }
  }

  /** Closes the stores OmniQ opened; safe to call more than once. */
  close(): Promise<void> {
    return (this.closing ??= Promise.allSettled(this.owned.map((store) => store.close())).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') new Logger('OmniQ').error(`Closing a store failed: ${String(result.reason)}`);
      }
    }));
  }
}

/**
 * A storage option no backend in use reads has no effect. It is a warning, not an error, for the
 * reason inert worker settings are: one environment file often serves several deployments (and
 * OmniQ implementations) whose backends differ.
 */
function unreadStorageOptions(options: Readonly<Record<string, unknown>>, backends: readonly Backend[]): string | undefined {
  const read = new Set(backends.flatMap((backend) => backend.storageOptions));
  const unread = Object.keys(options).filter((key) => !read.has(key));
  if (unread.length === 0) return undefined;
  const known = read.size === 0 ? 'the backends in use read no storage options' : `the backends in use read: ${[...read].join(', ')}`;
  return `storageOptions ${unread.join(', ')} have no effect: no backend in use reads them (${known})`;
}
