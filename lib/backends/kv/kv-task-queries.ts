import { InvalidQueryError } from '../../errors/omniq.errors.js';
import { TASK_STATUSES, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { Page, QueueStatusCount, TaskListFilter, TaskSelector } from '../../storage/task-queue.store.js';
import { mapLimit } from './kv-concurrency.js';
import { cloneTask } from './kv-task-codec.js';
import type { TaskSummary } from './kv-task-records.js';
import type { KvTasks } from './kv-tasks.js';

/*
 * The task store's views over every task (list, counts, bulk selections). They work from the
 * index's summaries, caught up with the storage first, so final tasks are not read unless they
 * are on the page.
 */

const DEFAULT_PAGE_SIZE = 100;
/** `<seq>:<record key>`: enqueue order, the key breaking ties between processes' sequences. */
const CURSOR = /^(\d+):(.+)$/;

type Position = Pick<TaskSummary, 'seq' | 'key'>;

/** Enqueue order, the same in every process: seq, then record key. */
const byEnqueueOrder = (a: Position, b: Position): number => a.seq - b.seq || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

const cursorOf = (task: TaskSummary): string => `${task.seq}:${task.key}`;

/** The summaries matching `selector`, oldest first, its statuses narrowed to `allowed`. */
export async function selectTasks(tasks: KvTasks, selector: TaskSelector, allowed: readonly TaskStatus[] = TASK_STATUSES): Promise<TaskSummary[]> {
  const wanted = typeof selector.status === 'string' ? [selector.status] : (selector.status ?? allowed);
  const statuses = new Set(wanted.filter((status) => allowed.includes(status)));
  await tasks.index.refreshAll();
  return tasks.index
    .summaries()
    .filter(
      (task) =>
        statuses.has(task.status) &&
        (selector.queue === undefined || task.queue === selector.queue) &&
        (selector.name === undefined || task.name === selector.name),
    )
    .sort(byEnqueueOrder);
}

export async function listTasks(tasks: KvTasks, filter: TaskListFilter): Promise<Page<TaskRecord>> {
  const offset = filter.offset ?? 0;
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  const matching = await selectTasks(tasks, filter);
  let from = 0;
  if (filter.after !== undefined) {
    const cursor = CURSOR.exec(filter.after);
    if (cursor === null) throw new InvalidQueryError('listTasks', 'after', filter.after, 'a nextCursor this store returned');
    const mark: Position = { seq: Number(cursor[1]), key: cursor[2]! };
    while (from < matching.length && byEnqueueOrder(matching[from]!, mark) <= 0) from += 1;
  }
  const onPage = matching.slice(from + offset, from + offset + limit);
  // Only the page is read in full; a task deleted meanwhile drops out of it. Cached versions are
  // shared, so callers get copies.
  const page = await mapLimit(onPage, tasks.concurrency, async (task) => {
    const version = tasks.index.liveVersion(task.id) ?? (await tasks.readOrReport(task.id));
    return version && cloneTask(version.body.task);
  });
  const more = from + offset + limit < matching.length && onPage.length > 0;
  return {
    items: page.filter((task): task is TaskRecord => task !== undefined),
    total: matching.length,
    offset,
    limit,
    ...(more ? { nextCursor: cursorOf(onPage.at(-1)!) } : {}),
  };
}

/** The tasks with these ids, read from their records, in order. */
export async function getTasks(tasks: KvTasks, ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
  const distinct = [...new Set(ids)];
  const found = await mapLimit(distinct, tasks.concurrency, async (id) => (await tasks.readOrReport(id))?.body.task);
  const byId = new Map(distinct.map((id, index) => [id, found[index]]));
  // A repeated id gets its own copy.
  const handedOut = new Set<string>();
  return ids.map((id) => {
    const task = byId.get(id);
    if (task === undefined || !handedOut.has(id)) {
      handedOut.add(id);
      return task;
    }
    return cloneTask(task);
  });
}

export async function countTasks(tasks: KvTasks): Promise<QueueStatusCount[]> {
  await tasks.index.refreshAll();
  const byQueue = new Map<string, Map<TaskStatus, number>>();
  for (const { queue, status } of tasks.index.summaries()) {
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
