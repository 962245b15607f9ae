import type { Backend } from '../backend.registry.js';
import { MemoryEventStore } from './memory-event.store.js';
import { MemoryResultStore } from './memory-result.store.js';
import { MemoryTaskQueueStore } from './memory-task-queue.store.js';

/** `memory://`: the stores in this process's memory, gone when it ends. */
export const memoryBackend: Backend = {
  storageOptions: [],
  createTaskQueue: async () => new MemoryTaskQueueStore(),
  createResultStore: async () => new MemoryResultStore(),
  createEventStore: async () => new MemoryEventStore(),
};
