export * from './sqlite.backend.js';
export * from './sqlite-engine.js';
export * from './sqlite-task-queue.store.js';
export * from './sqlite-result.store.js';
export * from './sqlite-event.store.js';
export * from './sqlite-schedule.store.js';
export * from './sqlite-storage.error.js';
