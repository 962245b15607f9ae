import type { ResultRecord } from '../models/result.model.js';
import type { TaskRecord } from '../models/task.model.js';
import type { ResultStore } from '../storage/result.store.js';
import type { EventRecorder } from './event.recorder.js';

/**
 * Records how a task that will not run again ended without a handler outcome (cancelled or
 * expired): its result, when it stores results, so `waitForResult` settles, and the event.
 */
export async function recordFinalOutcome(
  results: ResultStore,
  recorder: EventRecorder,
  task: TaskRecord,
  status: 'cancelled' | 'expired',
): Promise<void> {
  const now = new Date();
  const error = task.lastError ?? {
    name: status === 'expired' ? 'TaskExpiredError' : 'TaskCancelledError',
    message: status === 'expired' ? `Task expired unrun (ttl ${task.ttlMs} ms)` : 'Task cancelled',
  };
  // The event first, like the worker: once the result is there, the timeline is complete.
  await recorder.record({ type: status, taskId: task.id, taskName: task.name, queue: task.queue, scheduleId: task.scheduleId, error });
  if (task.storeResult) {
    const result: ResultRecord = {
      taskId: task.id,
      taskName: task.name,
      queue: task.queue,
      status,
      error,
      createdAt: task.createdAt,
      completedAt: task.completedAt ?? now,
      attempts: task.attempts,
      scheduleId: task.scheduleId,
      expiresAt: task.resultTtlMs === undefined ? undefined : new Date(now.getTime() + task.resultTtlMs),
    };
    await results.put([result]);
  }
}
