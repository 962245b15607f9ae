import { DuplicateTaskIdError, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, TASK_STATUSES, WAITING_TASK_STATUSES } from '../../models/task.model.js';
import type { NewTask, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { EnqueueOutcome, QueueStatusCount, ReserveRequest } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import type { NotifyHub } from './memory-notifier.js';
import { MemoryTaskIndex, type TaskSlot } from './memory-task-index.js';
import { copyTask, storedTask } from './memory-task-record.js';

export const WAITING: ReadonlySet<TaskStatus> = new Set(WAITING_TASK_STATUSES);
export const FINAL: ReadonlySet<TaskStatus> = new Set(FINAL_TASK_STATUSES);
/** The final statuses that cancel the dependents needing the task to succeed. */
export const ENDED_BADLY: ReadonlySet<TaskStatus> = new Set<TaskStatus>(['failed', 'cancelled', 'expired']);
const NO_SLOTS: ReadonlySet<TaskSlot> = new Set();

/**
 * The tasks of one memory storage and the primitives every transition is made of. Tasks are filed
 * in a {@link MemoryTaskIndex} (heaps) so that reserve, promotion, expiry and lease reclaim never
 * scan; a task blocked by dependencies sits in no ready or delayed heap until its last parent
 * ends as it needs. Records are copied in and out, never shared with callers. Wake-ups and cancel
 * requests go to the hub as part of the change that causes them.
 */
export class MemoryTasks {
  /** Every task by id. Map order is insertion order, which is enqueue order (`seq`). */
  readonly slots = new Map<string, TaskSlot>();
  /** Queues reserve passes over. */
  readonly paused = new Set<string>();
  private readonly index = new MemoryTaskIndex();
  /** Idempotency key -> id of the live task holding it. */
  private readonly liveKeys = new Map<string, string>();
  /** Idempotency key -> the ended task that keeps it for its dedupe window, until when. */
  private readonly heldKeys = new Map<string, { id: string; untilMs: number }>();
  /** Parent id -> waiting tasks whose blockedBy names it. */
  private readonly dependents = new Map<string, Set<TaskSlot>>();
  /** Parent id -> every task listing it in dependsOn (requeue revives among these). */
  private readonly children = new Map<string, Set<TaskSlot>>();
  private readonly statusCounts = new Map<string, Map<TaskStatus, number>>();
  private nextSeq = 0;

  constructor(private readonly hub: NotifyHub) {}

  /** Checks and stores a batch in one step: a failed check throws before anything is stored. */
  enqueue(tasks: readonly NewTask[], nowMs: number): EnqueueOutcome[] {
    const outcomes = this.keyOutcomes(tasks, nowMs);
    this.check(tasks, outcomes);
    this.insertAll(tasks, outcomes, nowMs);
    return outcomes;
  }

  /** Which tasks a held key keeps from being created (naming the holder instead). Changes nothing. */
  keyOutcomes(tasks: readonly NewTask[], nowMs: number): EnqueueOutcome[] {
    let claimed: Map<string, string> | undefined;
    return tasks.map((task): EnqueueOutcome => {
      if (task.key === undefined) return { id: task.id, created: true };
      const holder = this.keyHolder(task.key, nowMs) ?? claimed?.get(task.key);
      if (holder !== undefined) return { id: holder, created: false };
      (claimed ??= new Map()).set(task.key, task.id);
      return { id: task.id, created: true };
    });
  }

  /**
   * The enqueue checks, changing nothing. `ids` collects the batch's ids (a settle call passes one
   * set for all its outboxes). A parent in the batch that its key keeps from being created counts
   * as unknown for the tasks that are created: they would wait for a task that never exists.
   */
  check(tasks: readonly NewTask[], outcomes: readonly EnqueueOutcome[], ids = new Set<string>()): void {
    for (const task of tasks) {
      if (this.slots.has(task.id) || ids.has(task.id)) throw new DuplicateTaskIdError(task.id);
      ids.add(task.id);
    }
    let notCreated: Set<string> | undefined;
    for (let i = 0; i < tasks.length; i++) {
      if (!outcomes[i]!.created) (notCreated ??= new Set()).add(tasks[i]!.id);
    }
    for (let i = 0; i < tasks.length; i++) {
      const task = tasks[i]!;
      if (task.dependsOn.length > 0) this.checkParents(task, ids, outcomes[i]!.created ? notCreated : undefined);
    }
  }

  /** Stores the tasks the outcomes say are created, in order. */
  insertAll(tasks: readonly NewTask[], outcomes: readonly EnqueueOutcome[], nowMs: number): void {
    for (let i = 0; i < tasks.length; i++) {
      if (outcomes[i]!.created) this.fileWaiting(this.insert(tasks[i]!), nowMs);
    }
  }

  /** Leases up to `request.limit` due tasks of the unpaused queues, in the contract's order; returns copies. */
  reserve(request: ReserveRequest, now: Date): TaskRecord[] {
    const nowMs = now.getTime();
    const leaseExpiresAt = new Date(nowMs + request.leaseMs);
    this.promoteDue(now, Number.POSITIVE_INFINITY, false);
    const reserved: TaskRecord[] = [];
    let lapsedAllowed = request.maxLapsed ?? Number.POSITIVE_INFINITY;
    const lapsedFrom = request.lapsedFrom ?? 1;
    let passedOver: TaskSlot[] | undefined;
    for (const queue of request.queues) {
      if (this.paused.has(queue)) continue;
      const heaps = this.index.readyHeaps(queue, request.names);
      while (reserved.length < request.limit) {
        const slot = this.index.best(heaps, nowMs);
        if (slot === undefined) break;
        if (slot.rec.lapses >= lapsedFrom && lapsedAllowed-- <= 0) {
          // Off its heap for the rest of this call, so the next best shows; filed back below.
          this.index.setAside(slot);
          (passedOver ??= []).push(slot);
          continue;
        }
        this.lease(slot, request.workerId, now, leaseExpiresAt);
        reserved.push(copyTask(slot.rec));
      }
    }
    if (passedOver !== undefined) for (const slot of passedOver) this.index.enterReady(slot);
    return reserved;
  }

  /**
   * Moves up to `limit` delayed tasks due by `now` to pending, into their ready heaps. Reserve
   * does it quietly before it looks; the leader's promoteDue wakes the queues' workers.
   */
  promoteDue(now: Date, limit: number, wake: boolean): number {
    let promoted = 0;
    for (; promoted < limit; promoted++) {
      const slot = this.index.takeDue(now.getTime());
      if (slot === undefined) break;
      if (slot.rec.status !== 'pending') {
        this.setStatus(slot, 'pending');
        slot.rec.updatedAt = now;
      }
      this.index.enterReady(slot);
      if (wake) this.hub.send('wake', slot.rec.queue);
    }
    return promoted;
  }

  holds(slot: TaskSlot, token: string): boolean {
    return slot.rec.status === 'running' && slot.rec.leaseToken === token;
  }

  extendLease(slot: TaskSlot, leaseExpiresAt: Date, now: Date): void {
    this.index.leave(slot);
    slot.rec.leaseExpiresAt = leaseExpiresAt;
    slot.rec.updatedAt = now;
    this.index.enterLeased(slot);
  }

  /**
   * Gives the task its final status: out of every heap, lease cleared, its key freed (or held for
   * its dedupe window), no longer waiting for any parent. Its own dependents are the caller's.
   */
  finish(slot: TaskSlot, status: TaskStatus, at: Date): void {
    const rec = slot.rec;
    this.index.leave(slot);
    this.setStatus(slot, status);
    clearLease(rec);
    rec.completedAt = at;
    rec.updatedAt = at;
    if (rec.key !== undefined && this.liveKeys.get(rec.key) === rec.id) {
      this.liveKeys.delete(rec.key);
      if (rec.dedupeWindowMs !== undefined) this.heldKeys.set(rec.key, { id: rec.id, untilMs: at.getTime() + rec.dedupeWindowMs });
    }
    if (slot.blockedBy !== undefined) this.detach(slot);
  }

  hasDependents(parentId: string): boolean {
    return this.dependents.has(parentId);
  }

  /** The tasks waiting for `parentId`'s end, handed over: its end is deciding their fate now. */
  takeDependents(parentId: string): ReadonlySet<TaskSlot> {
    const waiting = this.dependents.get(parentId);
    if (waiting === undefined) return NO_SLOTS;
    this.dependents.delete(parentId);
    return waiting;
  }

  /** `parentId` ended as `child` needs: once no parent is left, it is filed to run. */
  unblock(child: TaskSlot, parentId: string, nowMs: number): void {
    child.blockedBy?.delete(parentId);
    if (WAITING.has(child.rec.status)) this.fileWaiting(child, nowMs);
  }

  /** Every task listing `parentId` in dependsOn. */
  childrenOf(parentId: string): ReadonlySet<TaskSlot> {
    return this.children.get(parentId) ?? NO_SLOTS;
  }

  /** Ends a lease without ending the task (retry, release); the caller sets what else changes, then files it. */
  leaveLease(slot: TaskSlot, status: TaskStatus, runAt: Date, now: Date): void {
    this.index.leave(slot);
    this.setStatus(slot, status);
    clearLease(slot.rec);
    slot.rec.runAt = runAt;
    slot.rec.updatedAt = now;
  }

  /** The running task whose lease lapsed first, by `nowMs`, taken off the lease heap for {@link reclaim}. */
  takeLapsed(nowMs: number): TaskSlot | undefined {
    return this.index.takeLapsed(nowMs);
  }

  /** Sends a task whose lease lapsed back to waiting, attempts unchanged, its lapse counted (a cancel request stays). */
  reclaim(slot: TaskSlot, now: Date): void {
    this.setStatus(slot, slot.rec.runAt.getTime() > now.getTime() ? 'retrying' : 'pending');
    clearLease(slot.rec);
    slot.rec.updatedAt = now;
    this.fileWaiting(slot, now.getTime());
  }

  /**
   * Sends an ended task back to waiting (requeue, or a dependent that requeue revives): a fresh
   * TTL (else an expired task would expire again at once), its key held again unless a live task
   * holds it, waiting again for the parents that have not ended as it needs.
   */
  rewait(slot: TaskSlot, status: TaskStatus, now: Date): void {
    const rec = slot.rec;
    this.setStatus(slot, status);
    rec.updatedAt = now;
    rec.completedAt = undefined;
    rec.cancelledBy = undefined;
    if (rec.ttlMs !== undefined) rec.expiresAt = new Date(now.getTime() + rec.ttlMs);
    if (rec.key !== undefined && !this.liveKeys.has(rec.key)) this.liveKeys.set(rec.key, rec.id);
    for (const parentId of rec.dependsOn) {
      // A parent that is gone was purged, so it had ended: the wait for it is over.
      const parent = this.slots.get(parentId)?.rec.status;
      if (parent !== undefined && !parentMet(rec, parent)) this.waitFor(slot, parentId);
    }
    this.fileWaiting(slot, now.getTime());
  }

  requestCancel(slot: TaskSlot, now: Date): void {
    slot.rec.cancelRequestedAt = now;
    slot.rec.updatedAt = now;
    this.hub.send('control', `cancel:${slot.rec.id}`);
  }

  /** The waiting task whose deadline passed first, by `nowMs`. */
  firstOverdue(nowMs: number): TaskSlot | undefined {
    return this.index.firstOverdue(nowMs);
  }

  nextDueAt(): Date | undefined {
    const ms = this.index.nextDelayedMs();
    return ms === undefined ? undefined : new Date(ms);
  }

  /** Deletes up to `limit` final tasks completed before `beforeMs`, oldest enqueued first. */
  purgeFinished(beforeMs: number, limit: number): number {
    let purged = 0;
    for (const slot of this.slots.values()) {
      if (purged >= limit) break;
      const rec = slot.rec;
      if (!FINAL.has(rec.status) || rec.completedAt === undefined || rec.completedAt.getTime() >= beforeMs) continue;
      this.countStatus(rec.queue, rec.status, -1);
      for (const parentId of rec.dependsOn) {
        const siblings = this.children.get(parentId);
        siblings?.delete(slot);
        if (siblings?.size === 0) this.children.delete(parentId);
      }
      this.children.delete(rec.id);
      if (rec.key !== undefined && this.heldKeys.get(rec.key)?.id === rec.id) this.heldKeys.delete(rec.key);
      this.slots.delete(rec.id);
      purged += 1;
    }
    return purged;
  }

  counts(): QueueStatusCount[] {
    const rows: QueueStatusCount[] = [];
    for (const [queue, byStatus] of this.statusCounts) {
      for (const status of TASK_STATUSES) {
        const count = byStatus.get(status) ?? 0;
        if (count > 0) rows.push({ queue, status, count });
      }
    }
    return rows;
  }

  pause(queue: string): boolean {
    if (this.paused.has(queue)) return false;
    this.paused.add(queue);
    this.hub.send('control', `pause:${queue}`);
    return true;
  }

  resume(queue: string): boolean {
    if (!this.paused.delete(queue)) return false;
    this.hub.send('control', `resume:${queue}`);
    this.hub.send('wake', queue);
    return true;
  }

  /** Files a waiting task and wakes its queue's workers when a reserve would take it now. */
  fileWaiting(slot: TaskSlot, nowMs: number): void {
    if (this.index.enterWaiting(slot, nowMs)) this.hub.send('wake', slot.rec.queue);
  }

  private checkParents(task: NewTask, ids: ReadonlySet<string>, notCreated: ReadonlySet<string> | undefined): void {
    let unknown: string[] | undefined;
    for (const parentId of task.dependsOn) {
      const parent = this.slots.get(parentId)?.rec.status;
      if (parent === undefined) {
        if (!ids.has(parentId) || notCreated?.has(parentId)) (unknown ??= []).push(parentId);
      } else if (task.onParentFailure === 'cancel' && ENDED_BADLY.has(parent)) {
        throw new ParentEndedError(task.id, parentId, parent);
      }
    }
    if (unknown !== undefined) throw new UnknownParentError(task.id, unknown);
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
      const siblings = this.children.get(parentId) ?? new Set<TaskSlot>();
      siblings.add(slot);
      this.children.set(parentId, siblings);
      // A parent later in the same batch is not stored yet: wait for it.
      const parent = this.slots.get(parentId)?.rec.status;
      if (parent === undefined || !parentMet(rec, parent)) this.waitFor(slot, parentId);
    }
    this.slots.set(rec.id, slot);
    this.countStatus(rec.queue, rec.status, 1);
    if (rec.key !== undefined) this.liveKeys.set(rec.key, rec.id);
    return slot;
  }

  private waitFor(slot: TaskSlot, parentId: string): void {
    (slot.blockedBy ??= new Set()).add(parentId);
    const waiting = this.dependents.get(parentId) ?? new Set<TaskSlot>();
    waiting.add(slot);
    this.dependents.set(parentId, waiting);
  }

  /** Stops the task waiting for its parents (it ended). */
  private detach(slot: TaskSlot): void {
    for (const parentId of slot.blockedBy ?? []) {
      const waiting = this.dependents.get(parentId);
      waiting?.delete(slot);
      if (waiting?.size === 0) this.dependents.delete(parentId);
    }
    slot.blockedBy = undefined;
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
}

/** Whether a parent with status `parent` no longer holds `child` back. */
const parentMet = (child: TaskRecord, parent: TaskStatus): boolean =>
  parent === 'success' || (child.onParentFailure === 'run' && FINAL.has(parent));

function clearLease(rec: TaskRecord): void {
  rec.workerId = undefined;
  rec.leaseToken = undefined;
  rec.leaseExpiresAt = undefined;
}
