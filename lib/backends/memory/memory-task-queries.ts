import { InvalidQueryError } from '../../errors/omniq.errors.js';
import type { TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { Page, TaskListFilter, TaskSelector } from '../../storage/task-queue.store.js';
import type { TaskSlot } from './memory-task-index.js';
import { copyTask } from './memory-task-record.js';

const DEFAULT_PAGE_SIZE = 100;

/**
 * The stored tasks matching `selector` whose status is also one of `among` (all statuses when
 * omitted), oldest enqueued first. Yields the stored slots: callers copy what they hand out.
 */
export function* selectTasks(
  slots: ReadonlyMap<string, TaskSlot>,
  selector: TaskSelector,
  among?: ReadonlySet<TaskStatus>,
): Generator<TaskSlot> {
  const wanted = typeof selector.status === 'string' ? [selector.status] : selector.status;
  const statuses = wanted === undefined ? among : new Set(wanted.filter((status) => among === undefined || among.has(status)));
  // Map iteration follows insertion, which is enqueue order.
  for (const slot of slots.values()) {
    const rec = slot.rec;
    if (selector.queue !== undefined && rec.queue !== selector.queue) continue;
    if (selector.name !== undefined && rec.name !== selector.name) continue;
    if (statuses !== undefined && !statuses.has(rec.status)) continue;
    yield slot;
  }
}

/**
 * A page of matching tasks. The cursor is the enqueue sequence number of a page's last task: slots
 * are kept in that order, so paging by it is stable while tasks are added and purged.
 */
export function listTasks(slots: ReadonlyMap<string, TaskSlot>, filter: TaskListFilter): Page<TaskRecord> {
  const offset = filter.offset ?? 0;
  const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
  const afterSeq = filter.after === undefined ? -1 : cursorSeq(filter.after);
  const items: TaskRecord[] = [];
  let total = 0;
  let skipped = 0;
  let more = false;
  let lastSeq = -1;
  for (const slot of selectTasks(slots, filter)) {
    total += 1;
    if (slot.seq <= afterSeq) continue;
    if (skipped < offset) {
      skipped += 1;
    } else if (items.length < limit) {
      items.push(copyTask(slot.rec));
      lastSeq = slot.seq;
    } else {
      more = true;
    }
  }
  const page: Page<TaskRecord> = { items, total, offset, limit };
  if (more && items.length > 0) page.nextCursor = String(lastSeq);
  return page;
}

function cursorSeq(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) {
    throw new InvalidQueryError('MemoryTaskQueueStore.list', 'after', cursor, 'a nextCursor from an earlier page of this store');
  }
  return Number(cursor);
}
