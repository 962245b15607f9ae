import type { TaskRecord, TaskStatus } from '../../models/task.model.js';
import { leaseEvent, unrunOutcome } from '../../storage/outcomes.js';
import type { ReclaimReport, WriteScope } from '../../storage/task-queue.store.js';
import { mapLimit } from './kv-concurrency.js';
import type { IdempotencyKeys } from './kv-idempotency-keys.js';
import { EntryLog, newReport, pendingEntry, unrunEntry } from './kv-outbox-entries.js';
import type { Outbox } from './kv-outbox.js';
import { DELETE } from './kv-records.js';
import { cloneTask, type TaskVersion } from './kv-task-codec.js';
import type { TaskLinks } from './kv-task-records.js';
import type { KvTasks } from './kv-tasks.js';
import { copyDate, finished, FINAL, isLapsed, isOverdue, reclaimed } from './kv-task-transitions.js';

const DELAYED = new Set<TaskStatus>(['scheduled', 'retrying']);

export interface MaintenanceParts {
  tasks: KvTasks;
  keys: IdempotencyKeys;
  dependents: TaskLinks;
  outbox: Outbox;
  wake(queues: Iterable<string>): Promise<void>;
}

/**
 * The task queue's maintenance, run by the elected leader. Each call works from this process's
 * index of the live tasks and claims each task it changes with onBusy 'skip': a task another
 * writer holds is that writer's, and the next run gets it if it still qualifies.
 */
export class TaskMaintenance {
  constructor(private readonly parts: MaintenanceParts) {}

  /**
   * A task whose last allowed lapse this is ends in the same write as a failure would: its end's
   * event (after the `reclaimed` one), result and cascade go in its outbox entry.
   */
  async reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    const at = copyDate(now);
    const nowMs = at.getTime();
    const lapsed = (await this.liveTasks()).filter(({ body }) => isLapsed(body.task, nowMs));
    lapsed.sort((a, b) => (a.body.task.leaseExpiresAt?.getTime() ?? 0) - (b.body.task.leaseExpiresAt?.getTime() ?? 0));
    const log = new EntryLog();
    const landed = await this.parts.tasks.claimUpTo(lapsed, limit, (body) => {
      if (!isLapsed(body.task, nowMs)) return undefined;
      const task = reclaimed(body.task, at, maxLapses);
      const reclaimedEvent = scope.events ? [leaseEvent(body.task, 'reclaimed', at)] : [];
      if (task.status === 'failed') {
        const dead = unrunOutcome(task, at);
        const events = scope.events ? [...reclaimedEvent, dead.event] : undefined;
        const entry = pendingEntry(scope, { dependents: true, result: scope.results ? dead.result : undefined, events });
        return log.append({ ...body, endScope: { ...scope } }, task, entry);
      }
      return scope.events ? log.append(body, task, pendingEntry(scope, { events: reclaimedEvent })) : log.plain({ ...body, task });
    });
    const report = newReport();
    await this.parts.outbox.drain(log.items(landed, () => report));
    await this.parts.wake(landed.filter(({ body }) => body.task.status !== 'failed').map(({ body }) => body.task.queue));
    return { tasks: landed.map(({ body }) => cloneTask(body.task)), ended: report.changed };
  }

  async promoteDue(now: Date, limit: number): Promise<number> {
    const nowMs = now.getTime();
    const isDue = (task: TaskRecord): boolean => DELAYED.has(task.status) && task.damaged === undefined && task.runAt.getTime() <= nowMs;
    const due = (await this.liveTasks()).filter(({ body }) => isDue(body.task));
    due.sort((a, b) => a.body.task.runAt.getTime() - b.body.task.runAt.getTime());
    const landed = await this.parts.tasks.claimUpTo(due, limit, (body) =>
      isDue(body.task) ? { ...body, task: { ...body.task, status: 'pending', updatedAt: copyDate(now) } } : undefined,
    );
    await this.parts.wake(landed.map(({ body }) => body.task.queue));
    return landed.length;
  }

  async nextDueAt(): Promise<Date | undefined> {
    let soonest: Date | undefined;
    for (const { body } of await this.liveTasks()) {
      if (!DELAYED.has(body.task.status) || body.task.damaged !== undefined) continue;
      if (soonest === undefined || body.task.runAt < soonest) soonest = body.task.runAt;
    }
    return soonest && copyDate(soonest);
  }

  /** Expires overdue waiting tasks, each with its dependents; returns the expired, then the dependents cancelled. */
  async expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    const at = copyDate(now);
    const nowMs = at.getTime();
    // A damaged task is reserve's to set aside: its dates may be the neutral ones it reads as.
    const overdue = (await this.liveTasks()).filter(({ body }) => isOverdue(body.task, nowMs) && body.task.damaged === undefined);
    overdue.sort((a, b) => a.body.task.expiresAt!.getTime() - b.body.task.expiresAt!.getTime());
    const log = new EntryLog();
    const landed = await this.parts.tasks.claimUpTo(overdue, limit, (body) => {
      if (!isOverdue(body.task, nowMs) || body.task.damaged !== undefined) return undefined;
      const task = finished(body.task, 'expired', at);
      return log.append({ ...body, endScope: { ...scope } }, task, unrunEntry(task, scope, at));
    });
    const report = newReport();
    await this.parts.outbox.drain(log.items(landed, () => report));
    return [...landed.map(({ body }) => cloneTask(body.task)), ...report.changed];
  }

  /** Deletes final tasks completed before `before`, oldest first; not those whose effects are still to apply. */
  async purgeFinished(before: Date, limit: number): Promise<number> {
    const cutoff = before.getTime();
    const isPurgeable = (status: TaskStatus, completedAtMs: number | undefined): boolean =>
      FINAL.has(status) && completedAtMs !== undefined && completedAtMs < cutoff;
    const { tasks, keys, dependents } = this.parts;
    await tasks.index.refreshAll();
    const purgeable = tasks.index.summaries().filter((task) => isPurgeable(task.status, task.completedAtMs));
    purgeable.sort((a, b) => a.completedAtMs! - b.completedAtMs!);
    let purged = 0;
    for (let next = 0; purged < limit && next < purgeable.length; ) {
      const batch = purgeable.slice(next, next + Math.min(limit - purged, this.parts.tasks.concurrency));
      next += batch.length;
      await mapLimit(batch, this.parts.tasks.concurrency, async ({ id }) => {
        const outcome = await tasks.mutate(
          id,
          (body) => (isPurgeable(body.task.status, body.task.completedAt?.getTime()) && !body.pending ? DELETE : undefined),
          { onBusy: 'wait' },
        );
        if (outcome.kind !== 'deleted') return;
        purged += 1;
        const { key, dependsOn } = outcome.before.body.task;
        if (key !== undefined) await keys.release(key, id);
        await dependents.unlink(id, dependsOn);
      });
    }
    return purged;
  }

  private async liveTasks(): Promise<TaskVersion[]> {
    await this.parts.tasks.index.refreshLive();
    return this.parts.tasks.index.versions();
  }
}
