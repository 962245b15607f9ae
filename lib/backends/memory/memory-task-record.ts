import type { NewTask, TaskCallback, TaskRecord, TaskStatus } from '../../models/task.model.js';

export const copyDate = (date: Date | undefined): Date | undefined =>
  date === undefined ? undefined : new Date(date.getTime());

/*
 * Records are built field by field (spreading a 30-field record is several times slower), and
 * `satisfies` makes a field added to the model fail to compile until it is copied here.
 *
 * The stored record and the copies handed out are deliberately two separate literals: V8 decides
 * per allocation site whether objects are born in old space, and a site shared with the long-lived
 * stored records made every short-lived copy from reserve an old-space object, costing about a
 * third of the drain throughput in garbage collection.
 */

const copyCallback = (callback: TaskCallback | undefined): TaskCallback | undefined =>
  callback && { task: callback.task, args: callback.args && { format: callback.args.format, data: callback.args.data } };

/** The record the store keeps for a newly enqueued task. */
export function storedTask(task: NewTask, status: TaskStatus): TaskRecord {
  return {
    id: task.id,
    name: task.name,
    queue: task.queue,
    priority: task.priority,
    payload: { format: task.payload.format, data: task.payload.data },
    createdAt: new Date(task.createdAt.getTime()),
    runAt: new Date(task.runAt.getTime()),
    maxRetries: task.maxRetries,
    retryDelayMs: task.retryDelayMs,
    retryBackoff: task.retryBackoff,
    retryMaxDelayMs: task.retryMaxDelayMs,
    timeoutMs: task.timeoutMs,
    ttlMs: task.ttlMs,
    expiresAt: copyDate(task.expiresAt),
    resultTtlMs: task.resultTtlMs,
    storeResult: task.storeResult,
    dependsOn: task.dependsOn.slice(),
    onParentFailure: task.onParentFailure,
    onSuccess: copyCallback(task.onSuccess),
    onFailure: copyCallback(task.onFailure),
    tags: task.tags.slice(),
    description: task.description,
    scheduleId: task.scheduleId,
    key: task.key,
    dedupeWindowMs: task.dedupeWindowMs,
    status,
    attempts: 0,
    lapses: 0,
    startedAt: undefined,
    completedAt: undefined,
    updatedAt: new Date(task.createdAt.getTime()),
    lastError: undefined,
    cancelledBy: undefined,
    cancelRequestedAt: undefined,
    progress: undefined,
    workerId: undefined,
    leaseToken: undefined,
    leaseExpiresAt: undefined,
    damaged: undefined,
  } satisfies Record<keyof TaskRecord, unknown>;
}

/** A deep copy of a stored record, for a caller. */
export function copyTask(rec: TaskRecord): TaskRecord {
  return {
    id: rec.id,
    name: rec.name,
    queue: rec.queue,
    priority: rec.priority,
    payload: { format: rec.payload.format, data: rec.payload.data },
    createdAt: new Date(rec.createdAt.getTime()),
    runAt: new Date(rec.runAt.getTime()),
    maxRetries: rec.maxRetries,
    retryDelayMs: rec.retryDelayMs,
    retryBackoff: rec.retryBackoff,
    retryMaxDelayMs: rec.retryMaxDelayMs,
    timeoutMs: rec.timeoutMs,
    ttlMs: rec.ttlMs,
    expiresAt: copyDate(rec.expiresAt),
    resultTtlMs: rec.resultTtlMs,
    storeResult: rec.storeResult,
    dependsOn: rec.dependsOn.slice(),
    onParentFailure: rec.onParentFailure,
    onSuccess: copyCallback(rec.onSuccess),
    onFailure: copyCallback(rec.onFailure),
    tags: rec.tags.slice(),
    description: rec.description,
    scheduleId: rec.scheduleId,
    key: rec.key,
    dedupeWindowMs: rec.dedupeWindowMs,
    status: rec.status,
    attempts: rec.attempts,
    lapses: rec.lapses,
    startedAt: copyDate(rec.startedAt),
    completedAt: copyDate(rec.completedAt),
    updatedAt: new Date(rec.updatedAt.getTime()),
    lastError: rec.lastError && { ...rec.lastError },
    cancelledBy: rec.cancelledBy,
    cancelRequestedAt: copyDate(rec.cancelRequestedAt),
    progress: rec.progress === undefined ? undefined : structuredClone(rec.progress),
    workerId: rec.workerId,
    leaseToken: rec.leaseToken,
    leaseExpiresAt: copyDate(rec.leaseExpiresAt),
    damaged: rec.damaged,
  } satisfies Record<keyof TaskRecord, unknown>;
}
