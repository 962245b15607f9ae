import type { NewTask } from '../models/task.model.js';

/** When a task became due, in epoch ms: its runAt, or its enqueue for a runAt given in the past. */
export function dueTime(task: Pick<NewTask, 'runAt' | 'createdAt'>): number {
  return Math.max(task.runAt.getTime(), task.createdAt.getTime());
}
