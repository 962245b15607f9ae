import type { OmniQConfig } from './config/omniq-config.js';
import type { StoreOption } from './interfaces/omniq-options.interface.js';
import type { EventStore } from './storage/event.store.js';
import type { ResultStore } from './storage/result.store.js';
import type { WriteScope, TaskQueueStore } from './storage/task-queue.store.js';
import type { Backend, BackendContext, StorageEngine } from './storage/engine.js';
import { loadBackend } from './backends/backend.registry.js';
import { createLogger } from './config/omniq-logger.js';

const STORE_ROLES = { taskQueue: 'tasks', resultStore: 'results', eventStore: 'events' } as const;
type StoreRole = keyof typeof STORE_ROLES;

/**
 * The three stores of one OmniQ module. Each store URL opens an engine, once per distinct URL:
 * stores on the same URL come from one engine and share its atomic domain, so a task's end writes
 * its result and events in the same step (see `scope`). Engines opened from URLs belong to OmniQ
 * and are closed at application shutdown; store instances passed in the options stay their
 * owner's.
 */
export class OmniQStores {
  private closing: Promise<void> | undefined;
  /**
   * What the task queue writes itself in its transitions: the result (event) store when it is the
   * queue's colocated one; the core writes the rest after the queue reported what it did.
   */
  readonly scope: WriteScope;

  private constructor(
    readonly taskQueue: TaskQueueStore,
    readonly resultStore: ResultStore,
    readonly eventStore: EventStore,
    private readonly engines: readonly StorageEngine[],
    private readonly config: OmniQConfig,
  ) {
    this.scope = Object.freeze({
      results: taskQueue.colocated.results === resultStore,
      events: taskQueue.colocated.events === eventStore,
    });
  }

  static async open(config: OmniQConfig): Promise<OmniQStores> {
    const context: BackendContext = {
      projectName: config.projectName,
      baseDir: config.baseDir,
      storageOptions: config.storageOptions,
      logger: (component) => createLogger(component, config.logging),
    };
    const specs: Record<StoreRole, StoreOption<object>> = {
      taskQueue: config.taskQueue,
      resultStore: config.resultStore,
      eventStore: config.eventStore,
    };
    const urls = [...new Set(Object.values(specs).filter((spec): spec is string => typeof spec === 'string'))];
    const roleOf = (url: string): string => (Object.keys(specs) as StoreRole[]).find((role) => specs[role] === url)!;
    const backends = await Promise.all(urls.map((url) => loadBackend(roleOf(url), url)));
    const unread = unreadStorageOptions(config.storageOptions, backends);
    if (unread) createLogger('OmniQ', config.logging).warn(unread);
    const engines = new Map<string, StorageEngine>();
    try {
      for (const [i, url] of urls.entries()) engines.set(url, await backends[i]!.open(url, context));
    } catch (error) {
      await Promise.allSettled([...engines.values()].map((engine) => engine.close()));
      throw error;
    }
    const store = <S>(role: StoreRole): S => {
      const spec = specs[role];
      return (typeof spec === 'string' ? engines.get(spec)![STORE_ROLES[role]] : spec) as S;
    };
    return new OmniQStores(store('taskQueue'), store('resultStore'), store('eventStore'), [...engines.values()], config);
  }

  /** Closes the engines OmniQ opened; safe to call more than once. */
  close(): Promise<void> {
    return (this.closing ??= Promise.allSettled(this.engines.map((engine) => engine.close())).then((results) => {
      for (const result of results) {
        if (result.status === 'rejected') createLogger('OmniQ', this.config.logging).error(`Closing a store failed: ${String(result.reason)}`);
      }
    }));
  }
}

/**
 * A storage option no backend in use reads has no effect. It is a warning, not an error: one
 * environment file often serves several deployments (and OmniQ implementations) whose backends
 * differ.
 */
function unreadStorageOptions(options: Readonly<Record<string, unknown>>, backends: readonly Backend[]): string | undefined {
  const read = new Set(backends.flatMap((backend) => backend.storageOptions));
  const unread = Object.keys(options).filter((key) => !read.has(key));
  if (unread.length === 0) return undefined;
  const known = read.size === 0 ? 'the backends in use read no storage options' : `the backends in use read: ${[...read].join(', ')}`;
  return `storageOptions ${unread.join(', ')} have no effect: no backend in use reads them (${known})`;
}
