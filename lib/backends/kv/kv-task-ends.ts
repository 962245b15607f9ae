import type { TaskEvent } from '../../models/event.model.js';
import type { TaskError, TaskRecord } from '../../models/task.model.js';
import type { NotifyChannel } from '../../storage/notifier.js';
import { leaseEvent } from '../../storage/outcomes.js';
import type { CancelOutcome, RequeueOutcome, SettleReport, Settlement, WriteScope } from '../../storage/task-queue.store.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { mapLimit, mapLimitByKey } from './kv-concurrency.js';
import { EntryLog, newReport, pendingEntry, unrunEntry, type OutboxReport } from './kv-outbox-entries.js';
import type { Outbox } from './kv-outbox.js';
import { cloneTask, type TaskBody, type TaskVersion } from './kv-task-codec.js';
import type { TaskInserter } from './kv-task-enqueue.js';
import type { KvTasks } from './kv-tasks.js';
import { cancelled, ENDED_BADLY, requeued, settled, WAITING } from './kv-task-transitions.js';

const HELD_PLAIN: SettleReport = Object.freeze({ held: true, ended: Object.freeze([]), enqueued: Object.freeze([]) });
const NOT_HELD: SettleReport = Object.freeze({ held: false });

export interface EndParts {
  tasks: KvTasks;
  outbox: Outbox;
  inserter: TaskInserter;
  wake(queues: Iterable<string>): Promise<void>;
  notify(channel: NotifyChannel, messages: readonly string[]): Promise<void>;
}

/**
 * The transitions that end a task or bring it back (settle, cancel, requeue): each writes the
 * task's change with an outbox entry for what lies outside its record, then drains the entries of
 * the whole call at once (see Outbox).
 */
export class TaskEnds {
  constructor(private readonly parts: EndParts) {}

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    const now = new Date();
    const reports = new Array<SettleReport>(settlements.length);
    const log = new EntryLog();
    const landed: { index: number; version: TaskVersion }[] = [];
    const indexed = settlements.map((settlement, index) => ({ settlement, index }));
    await mapLimitByKey(indexed, ({ settlement }) => settlement.id, this.parts.tasks.concurrency, async ({ settlement, index }) => {
      const version = await this.parts.tasks.mutateHeld(settlement.id, settlement.token, (body) => this.settledBody(body, settlement, scope, now, log));
      if (version === undefined) reports[index] = NOT_HELD;
      else landed.push({ index, version });
    });
    const drained = new Map<number, OutboxReport>();
    const items = log.items(
      landed.map(({ version }) => version),
      (position: number) => {
        const { index } = landed[position]!;
        const report: OutboxReport = { changed: [], enqueued: (settlements[index]!.enqueue ?? []).map((task) => ({ id: task.id, created: true })) };
        drained.set(index, report);
        return report;
      },
    );
    await this.parts.outbox.drain(items);
    for (const { index } of landed) {
      const report = drained.get(index);
      reports[index] = report ? { held: true, ended: report.changed, enqueued: report.enqueued } : HELD_PLAIN;
    }
    const states = landed.map(({ version }) => version.body.task);
    await this.parts.wake(states.filter((task) => WAITING.has(task.status) && task.runAt.getTime() <= now.getTime()).map((task) => task.queue));
    const succeeded = states.filter((task) => task.status === 'success').map((task) => task.id);
    if (succeeded.length > 0) await this.parts.outbox.wakeDependents(succeeded);
    return reports;
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    const current = await this.parts.tasks.read(id);
    if (current === undefined) return undefined;
    // What the end left to apply goes first: its result must not land after this requeue deleted
    // it. Applied now whatever its age (effects are idempotent, so an applier still at it is no harm).
    for (const entry of current.body.pending ?? []) await this.parts.outbox.drain([{ taskId: id, entry: { ...entry, at: Date.now() }, report: newReport() }]);
    const log = new EntryLog();
    const now = new Date();
    const outcome = await this.parts.tasks.mutate(
      id,
      (body) => {
        if (!ENDED_BADLY.has(body.task.status)) return undefined;
        const entry = pendingEntry(scope, { dependents: true, deleteResult: scope.results ? true : undefined });
        return log.append({ ...body, endScope: undefined }, requeued(body.task, now), entry);
      },
      { onBusy: 'wait' },
    );
    if (outcome.kind === 'missing') return undefined;
    if (outcome.kind !== 'written') {
      return { task: cloneTask(outcome.kind === 'unchanged' ? outcome.current.body.task : current.body.task), changed: false, revived: [] };
    }
    const task = outcome.after.body.task;
    const report = newReport();
    await this.parts.outbox.drain(log.items([outcome.after], () => report));
    await this.parts.inserter.reclaimKey(task);
    await this.parts.wake([task.queue]);
    return { task: cloneTask(task), changed: true, revived: report.changed };
  }

  /**
   * Cancels waiting tasks (with their dependents) and asks running ones to stop, in one drain of
   * the entries the cancels wrote; outcomes in input order.
   */
  async cancelMany(ids: readonly string[], error: TaskError, scope: WriteScope): Promise<(CancelOutcome | undefined)[]> {
    const now = new Date();
    const log = new EntryLog();
    const outcomes = await mapLimit(ids, this.parts.tasks.concurrency, (id) =>
      this.parts.tasks.mutate(
        id,
        (body) => {
          const task = cancelled(body.task, now, error);
          if (task === undefined) return undefined;
          if (task.status !== 'cancelled') return log.plain({ ...body, task });
          return log.append({ ...body, endScope: { ...scope } }, task, unrunEntry(task, scope, now));
        },
        { onBusy: 'wait' },
      ),
    );
    const written = outcomes.flatMap((outcome) => (outcome.kind === 'written' ? [outcome.after] : []));
    const reports = written.map(() => newReport());
    await this.parts.outbox.drain(log.items(written, (position: number) => reports[position]!));
    const asked = written.filter(({ body }) => body.task.status === 'running').map(({ body }) => `cancel:${body.task.id}`);
    await this.parts.notify('control', asked);
    const reportOf = new Map(written.map((version, position) => [version, reports[position]!]));
    return outcomes.map((outcome) => {
      if (outcome.kind === 'unchanged') return { task: cloneTask(outcome.current.body.task), changed: false, ended: [] };
      if (outcome.kind !== 'written') return undefined;
      const task = cloneTask(outcome.after.body.task);
      return { task, changed: true, ended: task.status === 'cancelled' ? [task, ...reportOf.get(outcome.after)!.changed] : [] };
    });
  }

  /** A settlement's new body; with an outbox entry when the end has effects beyond the record. */
  private settledBody(body: TaskBody, settlement: Settlement, scope: WriteScope, now: Date, log: EntryLog): TaskBody {
    const task = settled(body.task, settlement, now);
    const badly = ENDED_BADLY.has(task.status);
    const ended: TaskBody = { ...body, endScope: badly ? { ...scope } : undefined };
    const result = scope.results ? settlement.result : undefined;
    const events = scope.events ? this.settlementEvents(body.task, settlement, now) : undefined;
    const enqueue = settlement.enqueue && settlement.enqueue.length > 0 ? [...settlement.enqueue] : undefined;
    // The hot path: a plain end with nothing to write elsewhere is the one write.
    if (!badly && result === undefined && (events === undefined || events.length === 0) && enqueue === undefined) return log.plain({ ...ended, task });
    return log.append(ended, task, pendingEntry(scope, { dependents: badly ? true : undefined, result, events: events?.length ? events : undefined, enqueue }));
  }

  /** A settlement's events, with the `released` event of a release when it brings none. */
  private settlementEvents(held: TaskRecord, settlement: Settlement, now: Date): TaskEvent[] {
    const events = [...(settlement.events ?? [])];
    if (settlement.outcome === 'release' && !events.some((event) => event.type === 'released')) events.push(leaseEvent(held, 'released', now));
    return events;
  }

  /**
   * After an enqueue: a parent that ended badly while its new dependents were stored may have
   * cascaded before it could see them (it lists its dependents after its own write, they read
   * it after theirs: one of the two sees the other). They are cancelled here, as the parent's
   * cascade would have.
   */
  async cancelDoomed(created: readonly TaskRecord[]): Promise<void> {
    const parents = new Set<string>();
    for (const task of created) if (task.onParentFailure === 'cancel') for (const parentId of task.dependsOn) parents.add(parentId);
    if (parents.size > 0) await this.cancelDependentsOf([...parents]);
  }

  /**
   * Runs the cascade of those of `parentIds` that ended failed, cancelled or expired (at least
   * `minAgeMs` ago), with the scope they ended with. A reserve calls it for parents that hold
   * due tasks back for good, giving their own cascade time to run first: the repair of a cascade
   * that a process killed mid-enqueue never ran.
   */
  async cancelDependentsOf(parentIds: readonly string[], minAgeMs = 0): Promise<void> {
    const nowMs = Date.now();
    const versions = await mapLimit(parentIds, this.parts.tasks.concurrency, (id) => this.parts.tasks.readOrReport(id));
    const ended = versions.filter((version): version is TaskVersion => {
      const task = version?.body.task;
      // A damaged task set aside does not cascade (see KvTaskQueueStore.setAside).
      if (task === undefined || !ENDED_BADLY.has(task.status) || task.damaged !== undefined) return false;
      return minAgeMs === 0 || (task.completedAt?.getTime() ?? 0) <= nowMs - minAgeMs;
    });
    // Entries only in memory: the tasks they cancel each get their own, written with the cancel.
    await this.parts.outbox.drain(
      ended.map((version) => ({
        taskId: version.body.task.id,
        entry: pendingEntry(version.body.endScope ?? WRITE_NOTHING, { dependents: true }),
        report: newReport(),
      })),
    );
  }
}
