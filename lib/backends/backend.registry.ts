import { MemoryEventStore, MemoryResultStore, MemoryTaskQueueStore } from './memory/index.js';
import type { EventStore } from '../storage/event.store.js';
import type { ResultStore } from '../storage/result.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import { OmniQError } from '../errors/omniq.errors.js';

export interface BackendContext {
  projectName: string;
}

/** Opens the stores of one backend kind, chosen by the scheme of a URL (`memory://`, …). */
export interface Backend {
  createTaskQueue(url: URL, context: BackendContext): Promise<TaskQueueStore>;
  createResultStore(url: URL, context: BackendContext): Promise<ResultStore>;
  createEventStore(url: URL, context: BackendContext): Promise<EventStore>;
}

const memoryBackend: Backend = {
  createTaskQueue: async () => new MemoryTaskQueueStore(),
  createResultStore: async () => new MemoryResultStore(),
  createEventStore: async () => new MemoryEventStore(),
};

const BACKENDS: Readonly<Record<string, Backend>> = {
  memory: memoryBackend,
};

export class BackendUrlError extends OmniQError {
  override name = 'BackendUrlError';
}

/** The backend for a store URL; throws naming the option and the URL when it is malformed or unknown. */
export function backendFor(option: string, url: string): { backend: Backend; url: URL } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new BackendUrlError(`${option}: "${url}" is not a valid backend URL (expected e.g. ${Object.keys(BACKENDS).map((s) => `${s}://`).join(', ')})`);
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  const backend = BACKENDS[scheme];
  if (!backend) {
    throw new BackendUrlError(`${option}: unknown backend "${scheme}" in "${url}"; known backends: ${Object.keys(BACKENDS).join(', ')}`);
  }
  return { backend, url: parsed };
}
