import type { TaskEvent } from '../../models/event.model.js';
import type { TaskRecord } from '../../models/task.model.js';
import { leaseEvent } from '../../storage/outcomes.js';
import type { EnqueueOutcome, Settlement, SettleReport } from '../../storage/task-queue.store.js';
import { NO_TASKS, type SqliteTaskGraph } from './sqlite-task-graph.js';
import type { SqliteTaskInserter } from './sqlite-task-inserter.js';
import { taskFromRow } from './sqlite-task-row.js';
import type { TaskWrite } from './sqlite-task-write.js';
import type { SqliteTaskQueries } from './sqlite-task.queries.js';
import { jsonOrNull } from './sqlite-values.js';

const NO_OUTCOMES: readonly EnqueueOutcome[] = Object.freeze([]);
// A plain settlement reports what every other plain one does: one shared object instead of one per task.
const NOT_HELD: SettleReport = Object.freeze({ held: false });
const HELD: SettleReport = Object.freeze({ held: true, ended: NO_TASKS, enqueued: NO_OUTCOMES });

const isReleased = (event: TaskEvent): boolean => event.type === 'released';

/**
 * Ends attempts inside the caller's write transaction, one settlement after the other: the lease
 * check and the task's change are one statement, and only when it changed the task do the
 * cascade, the settlement's result and events and its callback tasks follow. A stale token writes
 * nothing at all.
 */
export class SqliteTaskSettler {
  constructor(
    private readonly sql: SqliteTaskQueries,
    private readonly graph: SqliteTaskGraph,
    private readonly inserter: SqliteTaskInserter,
  ) {}

  settle(settlement: Settlement, write: TaskWrite): SettleReport {
    const { id, token } = settlement;
    switch (settlement.outcome) {
      case 'success':
      case 'failed':
      case 'cancelled': {
        const error = settlement.outcome === 'success' ? null : jsonOrNull(settlement.error);
        const ended = this.sql.finish(id, token, settlement.outcome, settlement.at?.getTime() ?? write.now, error);
        if (ended === undefined) return NOT_HELD;
        const [queue, name] = ended as [string, string];
        write.counts.move(queue, 'running', settlement.outcome);
        return this.held(settlement, write, this.graph.afterEnd(id, name, settlement.outcome, write));
      }
      case 'retry': {
        const retryAt = settlement.retryAt.getTime();
        const queue = this.sql.retry(id, token, retryAt, write.now, JSON.stringify(settlement.error));
        if (queue === undefined) return NOT_HELD;
        write.counts.move(queue, 'running', 'retrying');
        if (retryAt <= write.now) write.wake(queue);
        return this.held(settlement, write, NO_TASKS);
      }
      case 'release': {
        // The released event names the attempt, so it is built from the task as its holder had it, unless the caller brings one.
        const holder = write.scope.events && !settlement.events?.some(isReleased) ? this.sql.get(id) : undefined;
        const queue = this.sql.release(id, token, write.now);
        if (queue === undefined) return NOT_HELD;
        if (holder !== undefined) write.event(leaseEvent(taskFromRow(holder), 'released', new Date(write.now)));
        write.counts.move(queue, 'running', 'pending');
        write.wake(queue);
        return this.held(settlement, write, NO_TASKS);
      }
    }
  }

  /** The rest of a held settlement: its result, events and callback tasks. */
  private held(settlement: Settlement, write: TaskWrite, ended: readonly TaskRecord[]): SettleReport {
    if (settlement.result !== undefined) write.result(settlement.result);
    if (settlement.events !== undefined) write.eventsOf(settlement.events);
    const enqueued = settlement.enqueue?.length ? this.inserter.insert(settlement.enqueue, write) : NO_OUTCOMES;
    if (ended === NO_TASKS && enqueued === NO_OUTCOMES) return HELD;
    return { held: true, ended, enqueued };
  }
}
