import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import type { NewTask } from '../../models/task.model.js';

/** Adds the ids of tasks `from` to `to` to `ids`, the ids of the call so far; throws DuplicateTaskIdError for an id given twice. */
export function addIds(tasks: readonly NewTask[], from: number, to: number, ids: Set<string>): void {
  for (let i = from; i < to; i++) {
    const { id } = tasks[i]!;
    if (ids.has(id)) throw new DuplicateTaskIdError(id);
    ids.add(id);
  }
}

/** The ids of a call's tasks; throws DuplicateTaskIdError for an id given twice. */
export function idsOf(tasks: readonly NewTask[]): Set<string> {
  const ids = new Set<string>();
  addIds(tasks, 0, tasks.length, ids);
  return ids;
}
