/**
 * `@omniq/nestjs/testing`: the conformance suite every storage backend passes, for store authors
 * to run from their own tests (jest, or vitest with `globals: true`), and the fixtures it uses.
 */
export { describeEngineConformance } from './conformance.js';
export type { ConformanceTarget, DamageField } from './harness.js';
export {
  countMap,
  ids,
  newEvent,
  newResult,
  newSchedule,
  newTask,
  reserveRequest,
  taskError,
  testClock,
  WRITE_ALL,
} from './fixtures.js';
export { TestFrameworkMissingError } from './test-globals.js';
