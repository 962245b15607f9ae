import type { ResultRecord } from '../../models/result.model.js';
import type { NotifyHub } from './memory-notifier.js';
import { copyDate } from './memory-task-record.js';

/** Field by field: spreading is several times slower, and every finished task stores a result. */
export function copyResult(result: ResultRecord): ResultRecord {
  return {
    taskId: result.taskId,
    taskName: result.taskName,
    queue: result.queue,
    status: result.status,
    value: result.value && { format: result.value.format, data: result.value.data },
    error: result.error && { ...result.error },
    createdAt: new Date(result.createdAt.getTime()),
    startedAt: copyDate(result.startedAt),
    completedAt: new Date(result.completedAt.getTime()),
    durationMs: result.durationMs,
    workerId: result.workerId,
    attempts: result.attempts,
    scheduleId: result.scheduleId,
    expiresAt: copyDate(result.expiresAt),
  } satisfies Record<keyof ResultRecord, unknown>;
}

export const isExpired = (result: ResultRecord, nowMs: number): boolean =>
  result.expiresAt !== undefined && result.expiresAt.getTime() <= nowMs;

/**
 * The results of one memory storage, shared by its result stores and written directly by its
 * task stores' transitions (so a settlement's result lands in the same synchronous step as the
 * task's end). Indexed by schedule so `latestForSchedule` looks only at that schedule's results.
 * Every result stored notifies `result` with its task id.
 */
export class MemoryResults {
  private readonly byTask = new Map<string, ResultRecord>();
  /** Schedule id -> task ids of its stored results. */
  private readonly bySchedule = new Map<string, Set<string>>();

  constructor(private readonly hub: NotifyHub) {}

  /** Stores a copy of `result`, replacing the task's previous one. */
  put(result: ResultRecord): void {
    this.delete(result.taskId);
    const stored = copyResult(result);
    this.byTask.set(stored.taskId, stored);
    if (stored.scheduleId !== undefined) {
      const taskIds = this.bySchedule.get(stored.scheduleId) ?? new Set<string>();
      taskIds.add(stored.taskId);
      this.bySchedule.set(stored.scheduleId, taskIds);
    }
    this.hub.send('result', stored.taskId);
  }

  /** The stored result itself (callers copy it before handing it out), unless it expired by `nowMs`. */
  get(taskId: string, nowMs: number): ResultRecord | undefined {
    const result = this.byTask.get(taskId);
    return result === undefined || isExpired(result, nowMs) ? undefined : result;
  }

  latestForSchedule(scheduleId: string, nowMs: number): ResultRecord | undefined {
    let latest: ResultRecord | undefined;
    for (const taskId of this.bySchedule.get(scheduleId) ?? []) {
      const result = this.byTask.get(taskId) as ResultRecord;
      if (isExpired(result, nowMs)) continue;
      if (latest === undefined || result.completedAt.getTime() > latest.completedAt.getTime()) latest = result;
    }
    return latest;
  }

  delete(taskId: string): boolean {
    const result = this.byTask.get(taskId);
    if (result === undefined) return false;
    this.byTask.delete(taskId);
    if (result.scheduleId !== undefined) {
      const taskIds = this.bySchedule.get(result.scheduleId);
      taskIds?.delete(taskId);
      if (taskIds?.size === 0) this.bySchedule.delete(result.scheduleId);
    }
    return true;
  }

  /** Deletes up to `limit` results completed before `beforeMs`, in the order they were stored. */
  purgeCompletedBefore(beforeMs: number, limit: number): number {
    let purged = 0;
    for (const result of this.byTask.values()) {
      if (purged >= limit) break;
      if (result.completedAt.getTime() < beforeMs && this.delete(result.taskId)) purged += 1;
    }
    return purged;
  }

  /** Deletes up to `limit` results expired by `nowMs`, in the order they were stored. */
  purgeExpired(nowMs: number, limit: number): number {
    let purged = 0;
    for (const result of this.byTask.values()) {
      if (purged >= limit) break;
      if (isExpired(result, nowMs) && this.delete(result.taskId)) purged += 1;
    }
    return purged;
  }
}
