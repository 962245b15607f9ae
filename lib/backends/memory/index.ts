export * from './memory.backend.js';
export * from './memory.engine.js';
export * from './memory-task-queue.store.js';
export * from './memory-result.store.js';
export * from './memory-event.store.js';
export * from './memory-schedule.store.js';
