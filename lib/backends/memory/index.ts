export * from './memory-task-queue.store.js';
export * from './memory-result.store.js';
export * from './memory-event.store.js';
