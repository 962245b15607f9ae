import type { TaskError, TaskRecord, TaskStatus } from '../../models/task.model.js';
import type { ReclaimReport, WriteScope } from '../../storage/task-queue.store.js';
import { lapsedError, leaseEvent, parentFailedError, unrunOutcome } from '../../storage/outcomes.js';
import type { TaskSlot } from './memory-task-index.js';
import { copyTask } from './memory-task-record.js';
import { ENDED_BADLY, WAITING } from './memory-tasks.js';
import type { MemoryStorage } from './memory-storage.js';

/**
 * How tasks end and come back, each in one synchronous step over the storage: the task, the
 * dependents its end unblocks or cancels (transitively), and, as the WriteScope says, the results
 * and events of what ended unrun, straight into the storage's result and event logs.
 */
export class MemoryTaskEndings {
  constructor(private readonly storage: MemoryStorage) {}

  /**
   * Ends a task that held its lease with a handler outcome (the caller set `lastError`); returns
   * the dependents its end cancelled, as copies, or undefined when it cancelled none (the common
   * case allocates nothing).
   */
  endAttempt(slot: TaskSlot, status: TaskStatus, at: Date, scope: WriteScope): TaskRecord[] | undefined {
    this.storage.tasks.finish(slot, status, at);
    return this.cascade(slot, scope, undefined);
  }

  /**
   * Ends a waiting task without running it (cancel, expiry; the caller set `lastError`), writes
   * its unrun outcome, then its dependents'; appends it and them to `ended`.
   */
  endUnrun(slot: TaskSlot, status: 'cancelled' | 'expired', at: Date, scope: WriteScope, ended: TaskRecord[]): void {
    this.storage.tasks.finish(slot, status, at);
    this.writeUnrun(slot.rec, at, scope);
    ended.push(copyTask(slot.rec));
    this.cascade(slot, scope, ended);
  }

  /**
   * Cancels a waiting task with its dependents (appended to `ended`), or asks the holder of a
   * running one to stop; returns whether it changed anything (false: ended, or already asked).
   */
  cancel(slot: TaskSlot, error: TaskError, now: Date, scope: WriteScope, ended: TaskRecord[]): boolean {
    const rec = slot.rec;
    if (WAITING.has(rec.status)) {
      rec.lastError = { ...error };
      this.endUnrun(slot, 'cancelled', now, scope, ended);
      return true;
    }
    if (rec.status !== 'running' || rec.cancelRequestedAt !== undefined) return false;
    this.storage.tasks.requestCancel(slot, now);
    return true;
  }

  /** Ends as expired up to `limit` waiting tasks whose deadline passed by `now`, each with its cascade. */
  expireOverdue(now: Date, limit: number, scope: WriteScope): TaskRecord[] {
    const ended: TaskRecord[] = [];
    for (let expired = 0; expired < limit; expired++) {
      const slot = this.storage.tasks.firstOverdue(now.getTime());
      if (slot === undefined) break;
      this.endUnrun(slot, 'expired', now, scope, ended);
    }
    return ended;
  }

  /**
   * Sends up to `limit` lapsed leases' tasks back to waiting, with a `reclaimed` event each when
   * the scope has events; a task whose lapses reach `maxLapses` ends failed instead, with its
   * cascade.
   */
  reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): ReclaimReport {
    const report: ReclaimReport = { tasks: [], ended: [] };
    while (report.tasks.length < limit) {
      const slot = this.storage.tasks.takeLapsed(now.getTime());
      if (slot === undefined) break;
      const rec = slot.rec;
      // Built before the reclaim clears the lease: the event and error name the attempt that lost it.
      if (scope.events) this.storage.events.append(leaseEvent(rec, 'reclaimed', now));
      rec.lapses += 1;
      if (rec.lapses < maxLapses) {
        this.storage.tasks.reclaim(slot, now);
        report.tasks.push(copyTask(rec));
        continue;
      }
      rec.lastError = lapsedError(rec, rec.lapses);
      this.storage.tasks.finish(slot, 'failed', now);
      this.writeUnrun(rec, now, scope);
      report.tasks.push(copyTask(rec));
      this.cascade(slot, scope, report.ended);
    }
    return report;
  }

  /**
   * Sends a failed, cancelled or expired task back to pending, and with it the dependents its end
   * cancelled (transitively, through theirs), waiting again for their parents; returns those.
   * With `scope.results` their results go, since they are to run again. Undefined, and no
   * change, for a task in any other status.
   */
  requeue(slot: TaskSlot, scope: WriteScope): TaskSlot[] | undefined {
    const rec = slot.rec;
    if (!ENDED_BADLY.has(rec.status)) return undefined;
    const now = new Date();
    rec.attempts = 0;
    rec.lapses = 0;
    rec.runAt = now;
    rec.startedAt = undefined;
    rec.cancelRequestedAt = undefined;
    this.storage.tasks.rewait(slot, 'pending', now);
    if (scope.results) this.storage.results.delete(rec.id);
    return this.revive(slot, now, scope);
  }

  private revive(root: TaskSlot, now: Date, scope: WriteScope): TaskSlot[] {
    const revived: TaskSlot[] = [];
    const parents = [root];
    for (let next = 0; next < parents.length; next++) {
      const parentId = parents[next]!.rec.id;
      for (const child of this.storage.tasks.childrenOf(parentId)) {
        if (child.rec.status !== 'cancelled' || child.rec.cancelledBy !== parentId) continue;
        // The ParentFailedError was about the parent's end, which is undone.
        child.rec.lastError = undefined;
        this.storage.tasks.rewait(child, child.rec.runAt.getTime() > now.getTime() ? 'scheduled' : 'pending', now);
        if (scope.results) this.storage.results.delete(child.rec.id);
        revived.push(child);
        parents.push(child);
      }
    }
    return revived;
  }

  /**
   * Decides the fate of everything waiting for `root`'s end, transitively: dependents that needed
   * it to succeed and it did not are cancelled (`cancelledBy` naming the parent whose end
   * cancelled them) and decide their own dependents' fate in turn; the others stop waiting for it.
   */
  private cascade(root: TaskSlot, scope: WriteScope, ended: TaskRecord[] | undefined): TaskRecord[] | undefined {
    const tasks = this.storage.tasks;
    if (!tasks.hasDependents(root.rec.id)) return ended;
    const now = new Date();
    const parents = [root];
    for (let next = 0; next < parents.length; next++) {
      const parent = parents[next]!.rec;
      const failed = parent.status !== 'success';
      for (const child of tasks.takeDependents(parent.id)) {
        if (!failed || child.rec.onParentFailure === 'run') {
          tasks.unblock(child, parent.id, now.getTime());
          continue;
        }
        child.blockedBy?.delete(parent.id);
        child.rec.lastError = parentFailedError(parent);
        child.rec.cancelledBy = parent.id;
        tasks.finish(child, 'cancelled', now);
        this.writeUnrun(child.rec, now, scope);
        (ended ??= []).push(copyTask(child.rec));
        parents.push(child);
      }
    }
    return ended;
  }

  private writeUnrun(rec: TaskRecord, now: Date, scope: WriteScope): void {
    if (!scope.results && !scope.events) return;
    const { event, result } = unrunOutcome(rec, now);
    if (scope.results && result !== undefined) this.storage.results.put(result);
    if (scope.events) this.storage.events.append(event);
  }
}
