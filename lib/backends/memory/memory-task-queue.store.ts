import { newUuid } from '../../utils/uuid.js';
import { DuplicateTaskIdError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, TASK_STATUSES, WAITING_TASK_STATUSES } from '../../models/task.model.js';
import { MemoryScheduleStore } from './memory-schedule.store.js';
import type { ScheduleStore } from '../../storage/schedule.store.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type {
  CancelOutcome,
  EnqueueOutcome,
  LeaseRef,
  Page,
  QueueStatusCount,
  ReserveRequest,
  Settlement,
  TaskListFilter,
  TaskQueueStore,
  Unsubscribe,
} from '../../storage/task-queue.store.js';
import { Listeners } from '../shared/listeners.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import { MemoryTaskIndex, type TaskSlot } from './memory-task-index.js';
import { copyDate, copyTask, storedTask } from './memory-task-record.js';

const DEFAULT_PAGE_SIZE = 100;
const WAITING = new Set(WAITING_TASK_STATUSES);
const FINAL = new Set(FINAL_TASK_STATUSES);
const REQUEUEABLE = new Set<TaskStatus>(['failed', 'cancelled', 'expired']);

/**
 * The task queue in process memory. Tasks are filed in a {@link MemoryTaskIndex} (heaps) so that
 * reserve, expiry and lease reclaim never scan; a task blocked by dependencies sits in no ready
 * heap until its last parent succeeds. Records are copied in and out, never shared with callers.
 *
 * Wake listeners are called via queueMicrotask, after the change is stored, so a listener can
 * neither fail nor re-enter the call that woke it. There are no timers: a task whose runAt
 * arrives later is found by the next poll.
 *
 * A lapsed lease is reclaimed (made reservable) when `reserve` or `expireOverdue` next runs;
 * until another worker reserves the task, its old holder's token is still accepted.
 */
export class MemoryTaskQueueStore implements TaskQueueStore {
  private readonly slots = new Map<string, TaskSlot>();
  private readonly index = new MemoryTaskIndex();
  /** Idempotency key -> id of the live task holding it. */
  private readonly liveKeys = new Map<string, string>();
  /** Idempotency key -> the ended task that keeps it for its dedupe window, until when. */
  private readonly heldKeys = new Map<string, { id: string; untilMs: number }>();
  /** Parent id -> tasks still blocked by it. */
  private readonly dependents = new Map<string, Set<TaskSlot>>();
  /** Parent id -> every task listing it in dependsOn. */
  private readonly children = new Map<string, Set<TaskSlot>>();
  private readonly statusCounts = new Map<string, Map<TaskStatus, number>>();
  private readonly wakeListeners = new Listeners<string>();
  private nextSeq = 0;
  private readonly lifecycle = new StoreLifecycle('MemoryTaskQueueStore');
  readonly schedules: ScheduleStore = new MemoryScheduleStore(this);

  async enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    this.lifecycle.assertOpen('enqueue');
    const ids = new Set<string>();
    for (const task of tasks) {
      if (this.slots.has(task.id) || ids.has(task.id)) throw new DuplicateTaskIdError(task.id);
      ids.add(task.id);
    }
    const nowMs = Date.now();
    const woken = new Set<string>();
    const outcomes = tasks.map((task): EnqueueOutcome => {
      const holder = task.key === undefined ? undefined : this.keyHolder(task.key, nowMs);
      if (holder !== undefined) return { id: holder, created: false };
      const slot = this.insert(task);
      if (this.index.enterWaiting(slot, nowMs)) woken.add(task.queue);
      return { id: task.id, created: true };
    });
    this.wake(woken);
    return outcomes;
  }

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('reserve');
    // Copied: the caller's Date must not become the record's startedAt. Internal Dates are never
    // mutated, so one instance is shared by the whole batch.
    const now = new Date((request.now ?? new Date()).getTime());
    const nowMs = now.getTime();
    const leaseExpiresAt = new Date(nowMs + request.leaseMs);
    this.index.advance(nowMs);
    const reserved: TaskRecord[] = [];
    for (const queue of request.queues) {
      const heaps = this.index.readyHeaps(queue, request.names);
      while (reserved.length < request.limit) {
        const slot = this.index.best(heaps, nowMs);
        if (slot === undefined) break;
        this.lease(slot, request.workerId, now, leaseExpiresAt);
        reserved.push(copyTask(slot.rec));
      }
    }
    return reserved;
  }

  async settle(settlements: readonly Settlement[]): Promise<boolean[]> {
    this.lifecycle.assertOpen('settle');
    const now = new Date();
    const woken = new Set<string>();
    const results = settlements.map((settlement) => {
      const slot = this.slots.get(settlement.id);
      if (slot === undefined || !this.holdsLease(slot, settlement.token)) return false;
      const rec = slot.rec;
      const at = 'at' in settlement ? (copyDate(settlement.at) ?? now) : now;
      switch (settlement.outcome) {
        case 'success':
          this.finish(slot, 'success', at, woken);
          break;
        case 'failed':
          this.finish(slot, 'failed', at, woken);
          rec.lastError = { ...settlement.error };
          break;
        case 'cancelled':
          this.finish(slot, 'cancelled', at, woken);
          if (settlement.error) rec.lastError = { ...settlement.error };
          break;
        case 'retry':
          this.backToWaiting(slot, 'retrying', new Date(settlement.retryAt.getTime()), now);
          rec.lastError = { ...settlement.error };
          if (this.index.enterWaiting(slot, now.getTime())) woken.add(rec.queue);
          break;
        case 'release':
          this.backToWaiting(slot, 'pending', now, now);
          rec.attempts -= 1;
          if (this.index.enterWaiting(slot, now.getTime())) woken.add(rec.queue);
          break;
      }
      return true;
    });
    this.wake(woken);
    return results;
  }

  async extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]> {
    this.lifecycle.assertOpen('extendLeases');
    const now = new Date();
    return leases.map(({ id, token }) => {
      const slot = this.slots.get(id);
      if (slot === undefined || !this.holdsLease(slot, token)) return false;
      this.index.leave(slot);
      slot.rec.leaseExpiresAt = new Date(now.getTime() + leaseMs);
      slot.rec.updatedAt = now;
      this.index.enterLeased(slot);
      return true;
    });
  }

  async setProgress(id: string, token: string, progress: unknown): Promise<boolean> {
    this.lifecycle.assertOpen('setProgress');
    const slot = this.slots.get(id);
    if (slot === undefined || !this.holdsLease(slot, token)) return false;
    slot.rec.progress = structuredClone(progress);
    slot.rec.updatedAt = new Date();
    return true;
  }

  async expireOverdue(now?: Date, limit = Number.POSITIVE_INFINITY): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('expireOverdue');
    const at = new Date((now ?? new Date()).getTime());
    // A running task whose lease lapsed is waiting again; without this it could never expire.
    this.index.advance(at.getTime());
    const expired: TaskRecord[] = [];
    const woken = new Set<string>();
    while (expired.length < limit) {
      const slot = this.index.firstOverdue(at.getTime());
      if (slot === undefined) break;
      this.finish(slot, 'expired', at, woken);
      expired.push(copyTask(slot.rec));
    }
    this.wake(woken);
    return expired;
  }

  async cancel(id: string, error?: TaskError): Promise<CancelOutcome | undefined> {
    this.lifecycle.assertOpen('cancel');
    const slot = this.slots.get(id);
    if (slot === undefined) return undefined;
    const now = new Date();
    let changed = false;
    if (WAITING.has(slot.rec.status)) {
      const woken = new Set<string>();
      this.finish(slot, 'cancelled', now, woken);
      if (error) slot.rec.lastError = { ...error };
      this.wake(woken);
      changed = true;
    } else if (slot.rec.status === 'running' && slot.rec.cancelRequestedAt === undefined) {
      slot.rec.cancelRequestedAt = now;
      slot.rec.updatedAt = now;
      changed = true;
    }
    return { task: copyTask(slot.rec), changed };
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    this.lifecycle.assertOpen('cancelRequested');
    return ids.filter((id) => {
      const rec = this.slots.get(id)?.rec;
      return rec?.status === 'running' && rec.cancelRequestedAt !== undefined;
    });
  }

  async dependentsOf(id: string): Promise<TaskRecord[]> {
    this.lifecycle.assertOpen('dependentsOf');
    const found = [...(this.children.get(id) ?? [])].filter((slot) => WAITING.has(slot.rec.status));
    return found.sort((a, b) => a.seq - b.seq).map((slot) => copyTask(slot.rec));
  }

  async requeue(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('requeue');
    const slot = this.slots.get(id);
    if (slot === undefined) return undefined;
    const rec = slot.rec;
    if (!REQUEUEABLE.has(rec.status)) return copyTask(rec);
    const now = new Date();
    this.setStatus(slot, 'pending');
    rec.attempts = 0;
    rec.runAt = now;
    rec.updatedAt = now;
    rec.startedAt = undefined;
    rec.completedAt = undefined;
    rec.cancelRequestedAt = undefined;
    // A fresh life gets a fresh TTL; otherwise a requeued expired task would expire again at once.
    if (rec.ttlMs !== undefined) rec.expiresAt = new Date(now.getTime() + rec.ttlMs);
    if (rec.key !== undefined && !this.liveKeys.has(rec.key)) this.liveKeys.set(rec.key, rec.id);
    if (this.index.enterWaiting(slot, now.getTime())) this.wake([rec.queue]);
    return copyTask(rec);
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    this.lifecycle.assertOpen('get');
    const slot = this.slots.get(id);
    return slot && copyTask(slot.rec);
  }

  async list(filter: TaskListFilter = {}): Promise<Page<TaskRecord>> {
    this.lifecycle.assertOpen('list');
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
    const wanted = typeof filter.status === 'string' ? [filter.status] : filter.status;
    const statuses = wanted === undefined ? undefined : new Set(wanted);
    const items: TaskRecord[] = [];
    let total = 0;
    // Map iteration follows insertion, which is enqueue order.
    for (const { rec } of this.slots.values()) {
      if (filter.queue !== undefined && rec.queue !== filter.queue) continue;
      if (filter.name !== undefined && rec.name !== filter.name) continue;
      if (statuses !== undefined && !statuses.has(rec.status)) continue;
      if (total >= offset && items.length < limit) items.push(copyTask(rec));
      total += 1;
    }
    return { items, total, offset, limit };
  }

  async counts(): Promise<QueueStatusCount[]> {
    this.lifecycle.assertOpen('counts');
    const rows: QueueStatusCount[] = [];
    for (const [queue, byStatus] of this.statusCounts) {
      for (const status of TASK_STATUSES) {
        const count = byStatus.get(status) ?? 0;
        if (count > 0) rows.push({ queue, status, count });
      }
    }
    return rows;
  }

  async purgeFinished(before: Date): Promise<number> {
    this.lifecycle.assertOpen('purgeFinished');
    let purged = 0;
    for (const slot of this.slots.values()) {
      const completedAt = slot.rec.completedAt?.getTime();
      if (!FINAL.has(slot.rec.status) || completedAt === undefined || completedAt >= before.getTime()) continue;
      this.countStatus(slot.rec.queue, slot.rec.status, -1);
      for (const parentId of slot.blockedBy ?? []) this.dependents.get(parentId)?.delete(slot);
      for (const parentId of slot.rec.dependsOn) this.children.get(parentId)?.delete(slot);
      this.children.delete(slot.rec.id);
      this.slots.delete(slot.rec.id);
      purged += 1;
    }
    return purged;
  }

  onWake(listener: (queue: string) => void): Unsubscribe {
    this.lifecycle.assertOpen('onWake');
    return this.wakeListeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.lifecycle.close()) this.wakeListeners.clear();
  }

  private insert(task: NewTask): TaskSlot {
    const status = task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending';
    const rec = storedTask(task, status);
    const slot: TaskSlot = {
      rec,
      seq: this.nextSeq++,
      priority: rec.priority,
      runAtMs: rec.runAt.getTime(),
      heapIndex: -1,
      homeHeap: undefined,
      expiry: undefined,
      blockedBy: undefined,
    };
    for (const parentId of rec.dependsOn) {
      const children = this.children.get(parentId) ?? new Set<TaskSlot>();
      children.add(slot);
      this.children.set(parentId, children);
      const parent = this.slots.get(parentId)?.rec.status;
      if (parent === 'success' || (rec.onParentFailure === 'run' && parent !== undefined && FINAL.has(parent))) continue;
      (slot.blockedBy ??= new Set()).add(parentId);
      const waiting = this.dependents.get(parentId) ?? new Set<TaskSlot>();
      waiting.add(slot);
      this.dependents.set(parentId, waiting);
    }
    this.slots.set(rec.id, slot);
    this.countStatus(rec.queue, rec.status, 1);
    if (rec.key !== undefined) this.liveKeys.set(rec.key, rec.id);
    return slot;
  }

  /** Ends a lease without ending the task (retry, release). */
  private backToWaiting(slot: TaskSlot, status: TaskStatus, runAt: Date, now: Date): void {
    this.index.leave(slot);
    this.setStatus(slot, status);
    this.clearLease(slot.rec);
    slot.rec.runAt = runAt;
    slot.rec.updatedAt = now;
  }

  /** Ends the task: frees (or holds for its dedupe window) its key and unblocks its dependents. */
  private finish(slot: TaskSlot, status: TaskStatus, at: Date, woken: Set<string>): void {
    const rec = slot.rec;
    this.index.leave(slot);
    this.setStatus(slot, status);
    this.clearLease(rec);
    rec.completedAt = at;
    rec.updatedAt = at;
    if (rec.key !== undefined && this.liveKeys.get(rec.key) === rec.id) {
      this.liveKeys.delete(rec.key);
      if (rec.dedupeWindowMs !== undefined) this.heldKeys.set(rec.key, { id: rec.id, untilMs: at.getTime() + rec.dedupeWindowMs });
    }
    this.unblockDependents(rec.id, status === 'success', Date.now(), woken);
  }

  /**
   * A parent ended: children waiting for it become free to run when it succeeded, or when they
   * run whatever their parents' outcome. The others stay blocked until they are cancelled.
   */
  private unblockDependents(parentId: string, succeeded: boolean, nowMs: number, woken: Set<string>): void {
    const blocked = this.dependents.get(parentId);
    if (blocked === undefined) return;
    for (const child of blocked) {
      if (!succeeded && child.rec.onParentFailure !== 'run') continue;
      blocked.delete(child);
      child.blockedBy?.delete(parentId);
      if (WAITING.has(child.rec.status) && this.index.enterWaiting(child, nowMs)) woken.add(child.rec.queue);
    }
    if (blocked.size === 0) this.dependents.delete(parentId);
  }

  private keyHolder(key: string, nowMs: number): string | undefined {
    const live = this.liveKeys.get(key);
    if (live !== undefined) return live;
    const held = this.heldKeys.get(key);
    if (held === undefined) return undefined;
    if (held.untilMs > nowMs) return held.id;
    this.heldKeys.delete(key);
    return undefined;
  }

  private lease(slot: TaskSlot, workerId: string, now: Date, leaseExpiresAt: Date): void {
    const rec = slot.rec;
    this.index.leave(slot);
    this.setStatus(slot, 'running');
    rec.attempts += 1;
    rec.startedAt = now;
    rec.updatedAt = now;
    rec.workerId = workerId;
    rec.leaseToken = newUuid();
    rec.leaseExpiresAt = leaseExpiresAt;
    this.index.enterLeased(slot);
  }

  private holdsLease(slot: TaskSlot, token: string): boolean {
    return slot.rec.status === 'running' && slot.rec.leaseToken === token;
  }

  private clearLease(rec: TaskRecord): void {
    rec.workerId = undefined;
    rec.leaseToken = undefined;
    rec.leaseExpiresAt = undefined;
  }

  private setStatus(slot: TaskSlot, status: TaskStatus): void {
    this.countStatus(slot.rec.queue, slot.rec.status, -1);
    this.countStatus(slot.rec.queue, status, 1);
    slot.rec.status = status;
  }

  private countStatus(queue: string, status: TaskStatus, delta: number): void {
    let byStatus = this.statusCounts.get(queue);
    if (byStatus === undefined) this.statusCounts.set(queue, (byStatus = new Map()));
    byStatus.set(status, (byStatus.get(status) ?? 0) + delta);
  }

  private wake(queues: Iterable<string>): void {
    this.wakeListeners.notifyAll(queues);
  }
}
