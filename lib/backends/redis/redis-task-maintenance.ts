import type { TaskRecord } from '../../models/task.model.js';
import { lapsedError, leaseEvent } from '../../storage/outcomes.js';
import type { ReclaimReport, WriteScope } from '../../storage/task-queue.store.js';
import type { RedisConnection } from './redis-connection.js';
import { eventToJson } from '../shared/record-json.js';
import type { RedisScript } from './redis-scripts.js';
import { EXPIRE_SCRIPT, LAPSED_SCRIPT, PROMOTE_SCRIPT, PURGE_SCRIPT, RECLAIM_SCRIPT } from './redis-task-maintenance.lua.js';
import { errorJson, tasksFromHashes } from './redis-task-record.js';
import { transitionHead } from './redis-task-transitions.js';

/** Tasks one purge script deletes at most (a purge without a limit runs as many as it takes). */
const PURGE_BATCH = 1_000;
/** Lapsed leases one reclaim script takes at most (4 ARGV values each). */
const RECLAIM_BATCH = 1_000;

/**
 * The leader's calls. reclaimLapsed reads the lapsed leases first, so the `reclaimed` events and
 * dead letters' errors are built in TypeScript (leaseEvent, lapsedError), then applies them in one
 * script that changes each task only while the lease it read is still the task's: a reclaim racing
 * another (leadership overlaps briefly) or a late settle changes nothing twice.
 */
export class RedisTaskMaintenance {
  constructor(private readonly connection: RedisConnection) {}

  async reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport> {
    const report: ReclaimReport = { tasks: [], ended: [] };
    const nowMs = now.getTime();
    while (report.tasks.length < limit) {
      const batch = Math.min(RECLAIM_BATCH, limit - report.tasks.length);
      const lapsed = tasksFromHashes(await this.run<string[][]>(LAPSED_SCRIPT, [this.connection.keys.P, nowMs, batch], 'reclaimLapsed'));
      if (lapsed.length === 0) break;
      const args = transitionHead(this.connection, nowMs, scope);
      for (const task of lapsed) args.push(task.id, task.leaseToken ?? '', scope.events ? eventToJson(leaseEvent(task, 'reclaimed', now)) : '', this.deadError(task, maxLapses));
      const [reclaimed, ended] = await this.run<[string[][], string[][]]>(RECLAIM_SCRIPT, args, 'reclaimLapsed');
      report.tasks.push(...tasksFromHashes(reclaimed));
      report.ended.push(...tasksFromHashes(ended));
      if (lapsed.length < batch) break;
    }
    return report;
  }

  async promoteDue(now: Date, limit: number): Promise<number> {
    if (limit <= 0) return 0;
    return this.run<number>(PROMOTE_SCRIPT, [this.connection.keys.P, now.getTime(), limit], 'promoteDue');
  }

  async nextDueAt(): Promise<Date | undefined> {
    const delayed = `${this.connection.keys.P}delayed`;
    const [, score] = await this.connection.call('nextDueAt', (client) => client.zrange(delayed, 0, 0, 'WITHSCORES'));
    return score === undefined ? undefined : new Date(Number(score));
  }

  async expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    if (limit <= 0) return [];
    const args = [...transitionHead(this.connection, now.getTime(), scope), limit];
    return tasksFromHashes(await this.run<string[][]>(EXPIRE_SCRIPT, args, 'expireOverdue'));
  }

  async purgeFinished(before: Date, limit: number): Promise<number> {
    let purged = 0;
    while (purged < limit) {
      const batch = Math.min(PURGE_BATCH, limit - purged);
      const count = await this.run<number>(PURGE_SCRIPT, [this.connection.keys.P, before.getTime(), batch], 'purgeFinished');
      purged += count;
      if (count < batch) break;
    }
    return purged;
  }

  /** The error of a dead letter when this lapse is the task's last, else ''. */
  private deadError(task: TaskRecord, maxLapses: number): string {
    const lapses = task.lapses + 1;
    return lapses >= maxLapses ? errorJson(lapsedError(task, lapses)) : '';
  }

  private run<T>(script: RedisScript, args: (string | number)[], operation: string): Promise<T> {
    return this.connection.run<T>(script, [`${this.connection.keys.P}seq`], args, operation);
  }
}
