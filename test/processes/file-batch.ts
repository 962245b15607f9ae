import type { NewTask } from '../../lib/models/task.model.js';
import { newTask } from '../../lib/testing/fixtures.js';

/** The batch file-enqueue-process stores: fixed ids, so the test that killed it can name them. */
export function batchTasks(count: number): NewTask[] {
  const createdAt = new Date('2030-01-01T00:00:00.000Z');
  return Array.from({ length: count }, (_, i) => newTask({ id: `batch-${String(i).padStart(5, '0')}`, name: 'fault.batch', createdAt, runAt: createdAt }));
}
