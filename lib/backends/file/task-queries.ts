import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { Page, QueueStatusCount, TaskListFilter } from '../../storage/task-queue.store.js';
import { IO_CONCURRENCY, mapLimit } from './concurrency.js';
import { cloneTask } from './task-codec.js';
import type { TaskFiles } from './task-files.js';

/*
 * The task store's views over every task (list, counts). They work from the index's summaries,
 * caught up with the folder first, so final tasks are not read unless they are on the page.
 */

const DEFAULT_PAGE_SIZE = 100;

export async function listTasks(files: TaskFiles, filter: TaskListFilter): Promise<Page<TaskRecord>> {
  const offset = filter.offset ?? 0;
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  const wanted = typeof filter.status === 'string' ? [filter.status] : filter.status;
  const statuses = wanted === undefined ? undefined : new Set(wanted);
  await files.index.refreshAll();
  const matching = files.index
    .summaries()
    .filter((task) => {
      if (filter.queue !== undefined && task.queue !== filter.queue) return false;
      if (filter.name !== undefined && task.name !== filter.name) return false;
      return statuses === undefined || statuses.has(task.status);
    })
    .sort((a, b) => a.seq - b.seq);
  // Only the page is read in full; a task deleted meanwhile drops out of it. Cached versions are
  // shared, so callers get copies.
  const page = await mapLimit(matching.slice(offset, offset + limit), IO_CONCURRENCY, async (task) => {
    const version = files.index.liveVersion(task.key) ?? (await files.readOrReport(task.id));
    return version && cloneTask(version.body.task);
  });
  return { items: page.filter((task): task is TaskRecord => task !== undefined), total: matching.length, offset, limit };
}

export async function countTasks(files: TaskFiles): Promise<QueueStatusCount[]> {
  await files.index.refreshAll();
  const byQueue = new Map<string, Map<TaskStatus, number>>();
  for (const { queue, status } of files.index.summaries()) {
    let byStatus = byQueue.get(queue);
    if (byStatus === undefined) byQueue.set(queue, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }
  const rows: QueueStatusCount[] = [];
  for (const [queue, byStatus] of byQueue) {
    for (const status of TASK_STATUSES) {
      const count = byStatus.get(status) ?? 0;
      if (count > 0) rows.push({ queue, status, count });
    }
  }
  return rows;
}
