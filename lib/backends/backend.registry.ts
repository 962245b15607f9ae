import { memoryBackend } from './memory/index.js';
import { fileBackend } from './file/index.js';
import { sqliteBackend } from './sqlite/index.js';
import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import { OmniQError } from '../errors/omniq.errors.js';
import type { SharedResources } from './shared-resources.js';

export interface BackendContext {
  /** Namespaces what the backend stores (table prefixes, key prefixes, subjects). */
  projectName: string;
  /** Folder of the embedded backends' data (default `./omniq_data`): where a URL without a path (`file://`) points. */
  baseDir: string;
  /** Backend-specific options (`storageOptions` / OMNIQ_STORAGE_OPTIONS), the same for every backend; each reads the keys it lists. */
  storageOptions: Readonly<Record<string, unknown>>;
  /** Connections shared by the three stores of one module (same database, one connection). */
  resources: SharedResources;
}

/**
 * Opens the stores of one backend kind, chosen by the scheme of a URL (`memory://`, …). Each
 * method gets the whole URL as written, so file paths need no URL decoding.
 */
export interface Backend {
  /** The `storageOptions` keys it reads; a key no backend in use reads is warned about at startup. */
  readonly storageOptions: readonly string[];
  createTaskQueue(url: string, context: BackendContext): Promise<TaskQueueStore>;
  createResultStore(url: string, context: BackendContext): Promise<ResultStore>;
  createEventStore(url: string, context: BackendContext): Promise<EventStore>;
}

const BACKENDS: Readonly<Record<string, Backend>> = {
  memory: memoryBackend,
  file: fileBackend,
  sqlite: sqliteBackend,
};

export class BackendUrlError extends OmniQError {
  override name = 'BackendUrlError';
}

/** The backend for a store URL; throws naming the option and the URL when it is malformed or unknown. */
export function backendFor(option: string, url: string): Backend {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new BackendUrlError(
      `${option}: "${url}" is not a valid backend URL (expected <backend>://..., e.g. ${Object.keys(BACKENDS).map((s) => `${s}://`).join(', ')})`,
    );
  }
  const backend = BACKENDS[scheme];
  if (!backend) {
    throw new BackendUrlError(`${option}: unknown backend "${scheme}" in "${url}"; known backends: ${Object.keys(BACKENDS).join(', ')}`);
  }
  return backend;
}
