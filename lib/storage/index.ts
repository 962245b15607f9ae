export * from './task-queue.store.js';
export * from './result.store.js';
export * from './event.store.js';
export * from './schedule.store.js';
export * from './notifier.js';
export * from './coordination.js';
export * from './engine.js';
export * from './outcomes.js';
