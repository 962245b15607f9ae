import type { LoggerService } from '@nestjs/common';
import type { EventStore } from './event.store.js';
import type { ResultStore } from './result.store.js';
import type { TaskQueueStore } from './task-queue.store.js';

export interface EngineCapabilities {
  /** Notifications reach every instance on the same storage, in any process (see Notifier.crossProcess). */
  readonly crossProcessNotify: boolean;
  /**
   * The engine's result and event stores share its task queue's atomic domain: a transition that
   * is asked to record (see WriteScope) writes results and events in the same atomic step as the
   * task's change.
   */
  readonly atomicCompletion: boolean;
}

/** The stores one backend URL opens: one atomic domain (the same database, folder or memory). */
export interface StorageEngine {
  readonly capabilities: EngineCapabilities;
  readonly tasks: TaskQueueStore;
  readonly results: ResultStore;
  readonly events: EventStore;
  /** Closes the three stores (idempotent). */
  close(): Promise<void>;
}

export interface BackendContext {
  /** Namespaces what the backend stores (table prefixes, key prefixes, subjects). */
  projectName: string;
  /** Folder of the embedded backends' data (default `./omniq_data`): where a URL without a path (`file://`) points. */
  baseDir: string;
  /** Backend-specific options (`storageOptions` / OMNIQ_STORAGE_OPTIONS), the same for every backend; each reads the keys it lists. */
  storageOptions: Readonly<Record<string, unknown>>;
  /**
   * The logger of a backend component (`'OmniQFileTaskQueue'`), following OmniQ's `logging`
   * settings. Absent (an engine opened outside a module): Nest's `new Logger(context)`.
   */
  logger?: (context: string) => LoggerService;
}

/** A kind of storage, chosen by the scheme of a URL (`sqlite://…`). Loaded only when a URL of its scheme is used. */
export interface Backend {
  /** The `storageOptions` keys it reads; a key no backend in use reads is warned about at startup. */
  readonly storageOptions: readonly string[];
  /** Opens the engine a URL names; the URL is passed whole, as written, so file paths need no decoding. */
  open(url: string, context: BackendContext): Promise<StorageEngine>;
}
