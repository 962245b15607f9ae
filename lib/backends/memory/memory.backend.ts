import type { Backend } from '../../storage/engine.js';
import { MemoryEngine } from './memory.engine.js';

/** `memory://`: the stores in this process's memory, gone when it ends. Each open() is a new, empty storage. */
export const memoryBackend: Backend = {
  storageOptions: [],
  open: async () => new MemoryEngine(),
};
