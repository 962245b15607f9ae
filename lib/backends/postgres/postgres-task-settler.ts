import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { NewTask, TaskRecord, TaskStatus } from '../../models/task.model.js';
import { leaseEvent } from '../../storage/outcomes.js';
import type { EnqueueOutcome, Settlement, SettleReport, WriteScope } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { cascadesByRoot, type EndedTask, type PostgresTaskGraph } from './postgres-task-graph.js';
import type { PostgresTaskInserter } from './postgres-task-inserter.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import { SettleStatements, type SettledStatementRow, type SettleParams } from './postgres-task-settle-statement.js';
import { slices, STATEMENT_ROWS } from './postgres-task-write-sql.js';
import { jsonOrNull } from './postgres-values.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** What the settle statement returns of a task it changed; all columns where a release event is built from it. */
type SettledRow = Pick<TaskRow, 'id' | 'name' | 'queue'> & Partial<TaskRow> & { ord: number; has_dependents: boolean; held_by?: string | null };

const NO_TASKS: readonly TaskRecord[] = Object.freeze([]);
const NO_OUTCOMES: readonly EnqueueOutcome[] = Object.freeze([]);
// A plain settlement reports what every other plain one does: one shared object instead of one per task.
const NOT_HELD: SettleReport = Object.freeze({ held: false });
const HELD: SettleReport = Object.freeze({ held: true, ended: NO_TASKS, enqueued: NO_OUTCOMES });

const isReleased = (event: TaskEvent): boolean => event.type === 'released';

/** A release whose `released` event the store builds, from the task as its holder had it. */
const needsHolder = (settlement: Settlement): boolean => settlement.outcome === 'release' && !settlement.events?.some(isReleased);

/** Whether a settlement can settle in the one statement: it enqueues nothing and needs no event built from its task. */
const inOneStatement = (settlement: Settlement, scope: WriteScope): boolean =>
  (settlement.enqueue === undefined || settlement.enqueue.length === 0) &&
  (settlement.result === undefined || settlement.result.taskId === settlement.id) &&
  (!scope.events || !needsHolder(settlement));

/**
 * The indexes of the settlements to write: of settlements naming one lease twice only the first
 * can hold it (any held one ends the lease).
 */
function distinctLeases(settlements: readonly Settlement[]): number[] {
  const leases = new Set<string>();
  const entries: number[] = [];
  settlements.forEach(({ id, token }, index) => {
    const lease = `${id}\u0000${token}`;
    if (leases.has(lease)) return;
    leases.add(lease);
    entries.push(index);
  });
  return entries;
}

/** The settle statements' parameters for `settlements`. */
function settleParams(settlements: readonly Settlement[], now: number): SettleParams {
  return {
    ids: settlements.map((settlement) => settlement.id),
    tokens: settlements.map((settlement) => settlement.token),
    statuses: settlements.map(statusAfter),
    at: settlements.map((settlement) => changedAt(settlement, now)),
    runAt: settlements.map((settlement) => (settlement.outcome === 'retry' ? settlement.retryAt.getTime() : settlement.outcome === 'release' ? now : null)),
    errors: settlements.map((settlement) => (settlement.outcome === 'success' || settlement.outcome === 'release' ? null : jsonOrNull(settlement.error))),
  };
}

/** The status a settlement leaves its task in. */
const statusAfter = (settlement: Settlement): TaskStatus =>
  settlement.outcome === 'retry' ? 'retrying' : settlement.outcome === 'release' ? 'pending' : settlement.outcome;

/** When a settlement changes its task: at the end's `at` (success, failed, cancelled; default now), else now. */
const changedAt = (settlement: Settlement, now: number): number =>
  settlement.outcome === 'retry' || settlement.outcome === 'release' ? now : (settlement.at?.getTime() ?? now);

/**
 * Ends attempts, a whole batch at once. Tasks without dependents (`has_dependents`, the usual
 * case) whose settlement enqueues nothing settle in one autocommitted statement: the lease
 * check, the change, their results and events (see SettleStatements). The others — and any the
 * statement did not change, which it cannot tell from a lease not held — settle in one
 * transaction: one statement changes every task whose lease the batch holds, one statement per
 * cascade level handles the dependents of the tasks that ended (when they have any), one stores
 * the callbacks of all held settlements; results and events are written before COMMIT. A
 * settlement whose token is not the task's lease writes nothing at all.
 */
export class PostgresTaskSettler {
  private readonly statements: SettleStatements;
  private readonly settleSql: string;
  private readonly settleWithHolderSql: string;

  constructor(
    connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly graph: PostgresTaskGraph,
    private readonly inserter: PostgresTaskInserter,
  ) {
    const { tasks } = connection.tables;
    this.statements = new SettleStatements(connection.tables);
    this.settleSql = `${this.statements.update} RETURNING s.ord, t.id, t.name, t.queue, t.has_dependents`;
    // The statement's subqueries read the rows as they were before it: the worker that held the task.
    this.settleWithHolderSql = `${this.statements.update} RETURNING s.ord, t.*, (SELECT o.worker_id FROM ${tasks} o WHERE o.seq = t.seq) AS held_by`;
  }

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    const now = Date.now();
    if (settlements.length > STATEMENT_ROWS || !settlements.every((settlement) => inOneStatement(settlement, scope))) {
      return this.writer.write({ operation: 'settle', tasks: settlements }, (write) => this.settleIn(write, settlements), scope, now);
    }
    const entries = distinctLeases(settlements);
    const changed = await this.writer.statement({ operation: 'settle', tasks: settlements }, (write) => this.settleAlone(write, settlements, entries), scope, now);
    const reports = new Array<SettleReport>(settlements.length).fill(NOT_HELD);
    const rest: number[] = [];
    for (const index of entries) {
      if (changed.has(index)) reports[index] = HELD;
      else rest.push(index);
    }
    if (rest.length === 0) return reports;
    const others = rest.map((index) => settlements[index]!);
    const settled = await this.writer.write({ operation: 'settle', tasks: others }, (write) => this.settleIn(write, others), scope);
    rest.forEach((index, position) => (reports[index] = settled[position]!));
    return reports;
  }

  /** The one-statement settle of the `entries` of `settlements` (see inOneStatement); returns the indexes of those it changed. */
  private async settleAlone(write: PostgresWrite, settlements: readonly Settlement[], entries: readonly number[]): Promise<Set<number>> {
    const of = entries.map((index) => settlements[index]!);
    const results: Array<{ ord: number; result: ResultRecord }> = [];
    const events: Array<{ ord: number; event: TaskEvent }> = [];
    of.forEach((settlement, position) => {
      if (write.scope.results && settlement.result !== undefined) results.push({ ord: position + 1, result: settlement.result });
      if (write.scope.events && settlement.events !== undefined) for (const event of settlement.events) events.push({ ord: position + 1, event });
    });
    const rows = await write.query<SettledStatementRow>(...this.statements.oneStatement(settleParams(of, write.now), results, events));
    const changed = new Set<number>();
    for (const row of rows) {
      if (row.ord === null) {
        if (row.lo !== null) {
          this.writer.eventsInserted(row.lo, row.hi!);
          write.insertedEvents();
        }
        continue;
      }
      const settlement = of[row.ord - 1]!;
      changed.add(entries[row.ord - 1]!);
      if (settlement.outcome === 'release' || (settlement.outcome === 'retry' && settlement.retryAt.getTime() <= write.now)) write.wake(row.queue);
      if (write.scope.results && settlement.result !== undefined) write.resultStored(settlement.result.taskId);
    }
    return changed;
  }

  private async settleIn(write: PostgresWrite, settlements: readonly Settlement[]): Promise<SettleReport[]> {
    const held = await this.change(write, settlements);
    const ended = settlements.flatMap((settlement, index): EndedTask[] => {
      const row = held[index];
      if (row === undefined || !row.has_dependents || settlement.outcome === 'retry' || settlement.outcome === 'release') return [];
      return [{ id: row.id, name: row.name, status: settlement.outcome }];
    });
    const cascades = ended.length === 0 ? new Map<string, TaskRecord[]>() : cascadesByRoot(ended.map((row) => row.id), await this.graph.afterEnd(write, ended));
    const outbox: NewTask[] = [];
    settlements.forEach((settlement, index) => {
      const row = held[index];
      if (row === undefined) return;
      if (settlement.outcome === 'retry' && settlement.retryAt.getTime() <= write.now) write.wake(row.queue);
      if (settlement.outcome === 'release') {
        if (row.held_by !== undefined && !settlement.events?.some(isReleased)) write.event(leaseEvent(this.holderOf(row), 'released', new Date(write.now)));
        write.wake(row.queue);
      }
      if (settlement.result !== undefined) write.result(settlement.result);
      if (settlement.events !== undefined) write.eventsOf(settlement.events);
      if (settlement.enqueue !== undefined) for (const task of settlement.enqueue) outbox.push(task);
    });
    const enqueued = outbox.length === 0 ? [] : await this.inserter.insert(write, outbox);
    let next = 0;
    return settlements.map((settlement, index) => {
      const row = held[index];
      if (row === undefined) return NOT_HELD;
      const count = settlement.enqueue?.length ?? 0;
      const outcomes = count === 0 ? NO_OUTCOMES : enqueued.slice(next, (next += count));
      const dependents = cascades.get(row.id) ?? NO_TASKS;
      return dependents === NO_TASKS && outcomes === NO_OUTCOMES ? HELD : { held: true, ended: dependents, enqueued: outcomes };
    });
  }

  /**
   * Changes the tasks whose lease the batch holds; returns their rows by settlement index. Of
   * settlements naming one lease twice only the first can hold it: any held one ends the lease.
   */
  private async change(write: PostgresWrite, settlements: readonly Settlement[]): Promise<(SettledRow | undefined)[]> {
    const entries = distinctLeases(settlements);
    const withHolder = write.scope.events && settlements.some(needsHolder);
    const held: (SettledRow | undefined)[] = new Array<SettledRow | undefined>(settlements.length);
    for (const slice of slices(entries)) {
      const { ids, tokens, statuses, at, runAt, errors } = settleParams(slice.map((index) => settlements[index]!), write.now);
      const rows = await write.query<SettledRow>(withHolder ? this.settleWithHolderSql : this.settleSql, [ids, tokens, statuses, at, runAt, errors]);
      for (const row of rows) held[slice[row.ord - 1]!] = row;
    }
    return held;
  }

  /** The released task as its holder had it: running, with the attempt it gives back. */
  private holderOf(row: SettledRow): TaskRecord {
    const task = taskFromRow(row as TaskRow);
    return { ...task, status: 'running', attempts: task.attempts + 1, workerId: row.held_by ?? undefined };
  }
}
