export * from './codec.js';
export * from './parent-result.js';
export * from './nesting-limit.js';
