export * from './codec.js';
export * from './parent-result.js';
