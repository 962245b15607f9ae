import { LIVE_TASK_STATUSES, type NewTask, type TaskError, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { TaskEvent } from '../../models/event.model.js';
import type { EventStore } from '../../storage/event.store.js';
import { leaseEvent } from '../../storage/outcomes.js';
import type { ResultStore } from '../../storage/result.store.js';
import type {
  ReclaimReport,
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  RequeueOutcome,
  ReserveRequest,
  SettleReport,
  Settlement,
  TaskListFilter,
  TaskQueueStore,
  TaskSelector,
  WriteScope,
} from '../../storage/task-queue.store.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { MemoryCoordination } from './memory-coordination.js';
import type { MemoryNotifier } from './memory-notifier.js';
import { MemoryScheduleStore } from './memory-schedule.store.js';
import { MemoryStorage, type MemoryDomain } from './memory-storage.js';
import { MemoryTaskEndings } from './memory-task-endings.js';
import type { TaskSlot } from './memory-task-index.js';
import { listTasks, selectTasks } from './memory-task-queries.js';
import { copyTask } from './memory-task-record.js';
import { ENDED_BADLY } from './memory-tasks.js';

const LIVE: ReadonlySet<TaskStatus> = new Set(LIVE_TASK_STATUSES);
const NONE: readonly never[] = Object.freeze([]);
/*
 * Shared, frozen reports: a drain settles tens of thousands of attempts a second, almost all of
 * them held with nothing cascaded or enqueued, and those cost no allocation here.
 */
const NOT_HELD: SettleReport = Object.freeze({ held: false });
const HELD: SettleReport = Object.freeze({ held: true, ended: NONE, enqueued: NONE });

const hasOutbox = (settlement: Settlement): boolean => settlement.enqueue !== undefined && settlement.enqueue.length > 0;
const isReleased = (event: TaskEvent): boolean => event.type === 'released';

/**
 * The task queue in process memory. `new MemoryTaskQueueStore()` keeps its own tasks, schedules
 * and notifier (and `colocated` is empty); a MemoryEngine's task queue shares its storage with
 * the engine's result and event stores and with its peers, and writes results and events into
 * them in the same synchronous step as the task's change.
 *
 * There are no timers: a task whose runAt arrives later is found by the next reserve, and the
 * leader's promoteDue wakes the workers. A lapsed lease stays the holder's until the leader's
 * reclaimLapsed sends the task back.
 */
export class MemoryTaskQueueStore implements TaskQueueStore {
  readonly notifier: MemoryNotifier;
  readonly coordination: MemoryCoordination;
  readonly schedules: MemoryScheduleStore;
  private readonly storage: MemoryStorage;
  private readonly endings: MemoryTaskEndings;
  private readonly ownsNotifier: boolean;
  private readonly lifecycle = new StoreLifecycle('MemoryTaskQueueStore');

  /**
   * @param domain the engine's storage and notifier; omitted, a store of its own.
   * @param colocated the engine's result and event stores, on the same storage.
   */
  constructor(
    domain?: MemoryDomain,
    readonly colocated: { readonly results?: ResultStore; readonly events?: EventStore } = {},
  ) {
    const { storage, notifier } = domain ?? MemoryStorage.standalone();
    this.storage = storage;
    this.notifier = notifier;
    this.ownsNotifier = domain === undefined;
    this.endings = new MemoryTaskEndings(storage);
    this.coordination = new MemoryCoordination(storage.leaders, this.lifecycle);
    this.schedules = new MemoryScheduleStore(storage);
  }

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    return this.storage.tasks.enqueue(tasks, Date.now());
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    // Copied: the caller's Date must not become the record's startedAt. Internal Dates are never
    // mutated, so one instance is shared by the whole batch.
    return this.storage.tasks.reserve(request, new Date((request.now ?? new Date()).getTime()));
  }

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    this.lifecycle.assertOpen('settle');
    const now = new Date();
    // Every outbox is checked before any settlement changes anything: a bad one throws with nothing done.
    if (settlements.some(hasOutbox)) this.checkOutboxes(settlements, now.getTime());
    const reports = new Array<SettleReport>(settlements.length);
    for (let i = 0; i < settlements.length; i++) reports[i] = this.settleOne(settlements[i]!, scope, now);
    return reports;
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    const now = new Date();
    const tasks = this.storage.tasks;
    return leases.map(({ id, token }) => {
      const slot = tasks.slots.get(id);
      if (slot === undefined || !tasks.holds(slot, token)) return false;
      tasks.extendLease(slot, new Date(now.getTime() + leaseMs), now);
      return true;
    });
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    const slot = this.storage.tasks.slots.get(id);
    if (slot === undefined || !this.storage.tasks.holds(slot, token)) return false;
    slot.rec.progress = structuredClone(progress);
    slot.rec.updatedAt = new Date();
    return true;
  }

  async cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    const slot = this.storage.tasks.slots.get(id);
    if (slot === undefined) return undefined;
    const ended: TaskRecord[] = [];
    const changed = this.endings.cancel(slot, error, new Date(), scope, ended);
    return { task: copyTask(slot.rec), changed, ended };
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    return ids.filter((id) => {
      const rec = this.storage.tasks.slots.get(id)?.rec;
      return rec?.status === 'running' && rec.cancelRequestedAt !== undefined;
    });
  }

  async requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined> {
    this.lifecycle.assertOpen('requeue');
    const slot = this.storage.tasks.slots.get(id);
    if (slot === undefined) return undefined;
    const revived = this.endings.requeue(slot, scope);
    return { task: copyTask(slot.rec), changed: revived !== undefined, revived: (revived ?? NONE).map((child) => copyTask(child.rec)) };
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('requeueWhere');
    const requeued: TaskRecord[] = [];
    // Revived dependents are pending by the time the scan reaches them, so each task comes back once.
    for (const slot of selectTasks(this.storage.tasks.slots, selector, ENDED_BADLY)) {
      if (requeued.length >= limit) break;
      this.endings.requeue(slot, scope);
      requeued.push(copyTask(slot.rec));
    }
    return requeued;
  }

  async cancelWhere(
    selector: TaskSelector,
    error: TaskError,
    limit: number,
    scope: WriteScope,
  ): Promise<{ changed: number; ended: TaskRecord[] }> {
    this.lifecycle.assertOpen('cancelWhere');
    const now = new Date();
    const ended: TaskRecord[] = [];
    let changed = 0;
    // The scan reads each status when it reaches the task, so dependents an earlier cancel ended are passed over.
    for (const slot of selectTasks(this.storage.tasks.slots, selector, LIVE)) {
      if (changed >= limit) break;
      if (this.endings.cancel(slot, error, now, scope, ended)) changed += 1;
    }
    return { changed, ended };
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const slot = this.storage.tasks.slots.get(id);
    return slot && copyTask(slot.rec);
  }

  async getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]> {
    this.lifecycle.assertOpen('getMany');
    return ids.map((id) => {
      const slot = this.storage.tasks.slots.get(id);
      return slot && copyTask(slot.rec);
    });
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    return listTasks(this.storage.tasks.slots, filter);
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    return this.storage.tasks.counts();
  }

  async pauseQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('pauseQueue');
    return this.storage.tasks.pause(queue);
  }

  async resumeQueue(queue: string): Promise<boolean> {
    this.lifecycle.assertOpen('resumeQueue');
    return this.storage.tasks.resume(queue);
  }

  async pausedQueues(): Promise<string[]> {
    this.lifecycle.assertOpen('pausedQueues');
    return [...this.storage.tasks.paused].sort();
  }

  async reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    this.lifecycle.assertOpen('reclaimLapsed');
    return this.endings.reclaimLapsed(new Date(now.getTime()), limit, scope, maxLapses);
  }

  async promoteDue(now: Date, limit: number): Promise<number> {
    this.lifecycle.assertOpen('promoteDue');
    return this.storage.tasks.promoteDue(new Date(now.getTime()), limit, true);
  }

  async nextDueAt(): Promise<Date | undefined> {
    this.lifecycle.assertOpen('nextDueAt');
    return this.storage.tasks.nextDueAt();
  }

  async expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    return this.endings.expireOverdue(new Date(now.getTime()), limit, scope);
  }

  async purgeFinished(before: Date, limit = Number.POSITIVE_INFINITY): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    return this.storage.tasks.purgeFinished(before.getTime(), limit);
  }

  async close(): Promise<void> {
    if (!this.lifecycle.close()) return;
    this.schedules.close();
    if (this.ownsNotifier) this.notifier.close();
  }

  private checkOutboxes(settlements: readonly Settlement[], nowMs: number): void {
    const tasks = this.storage.tasks;
    const ids = new Set<string>();
    for (const { enqueue } of settlements) {
      if (enqueue !== undefined && enqueue.length > 0) tasks.check(enqueue, tasks.keyOutcomes(enqueue, nowMs), ids);
    }
  }

  /**
   * One settlement, in one synchronous step: nothing at all for a stale token; else the
   * attempt's result and events (as the scope says), the task's change with its cascade, and the
   * outbox.
   */
  private settleOne(settlement: Settlement, scope: WriteScope, now: Date): SettleReport {
    const tasks = this.storage.tasks;
    const slot = tasks.slots.get(settlement.id);
    if (slot === undefined || !tasks.holds(slot, settlement.token)) return NOT_HELD;
    if (scope.results && settlement.result !== undefined) this.storage.results.put(settlement.result);
    if (scope.events && settlement.events !== undefined) this.storage.events.appendAll(settlement.events);
    const ended = this.applyOutcome(slot, settlement, scope, now);
    if (!hasOutbox(settlement)) return ended === undefined ? HELD : { held: true, ended, enqueued: NONE };
    const outbox = settlement.enqueue!;
    const enqueued = tasks.keyOutcomes(outbox, now.getTime());
    tasks.insertAll(outbox, enqueued, now.getTime());
    return { held: true, ended: ended ?? NONE, enqueued };
  }

  /** Changes the held task as the outcome says; returns the dependents it cancelled, if any. */
  private applyOutcome(slot: TaskSlot, settlement: Settlement, scope: WriteScope, now: Date): TaskRecord[] | undefined {
    const tasks = this.storage.tasks;
    const rec = slot.rec;
    switch (settlement.outcome) {
      case 'success':
        return this.endings.endAttempt(slot, 'success', copyAt(settlement.at, now), scope);
      case 'failed':
        rec.lastError = { ...settlement.error };
        return this.endings.endAttempt(slot, 'failed', copyAt(settlement.at, now), scope);
      case 'cancelled':
        if (settlement.error) rec.lastError = { ...settlement.error };
        return this.endings.endAttempt(slot, 'cancelled', copyAt(settlement.at, now), scope);
      case 'retry':
        tasks.leaveLease(slot, 'retrying', new Date(settlement.retryAt.getTime()), now);
        rec.lastError = { ...settlement.error };
        tasks.fileWaiting(slot, now.getTime());
        return undefined;
      case 'release':
        // The store records the release unless the settlement brings its own event for it.
        if (scope.events && !settlement.events?.some(isReleased)) this.storage.events.append(leaseEvent(rec, 'released', now));
        tasks.leaveLease(slot, 'pending', now, now);
        rec.attempts -= 1;
        tasks.fileWaiting(slot, now.getTime());
        return undefined;
    }
  }
}

const copyAt = (at: Date | undefined, now: Date): Date => (at === undefined ? now : new Date(at.getTime()));
