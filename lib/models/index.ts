export * from './encoded-value.model.js';
export * from './task.model.js';
export * from './result.model.js';
export * from './event.model.js';
export * from './schedule.model.js';
