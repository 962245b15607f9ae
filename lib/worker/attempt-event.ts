import type { NewEvent } from '../events/event.recorder.js';
import type { TaskEventType } from '../models/event.model.js';
import type { TaskRecord } from '../models/task.model.js';

export type AttemptEventDetail = Pick<NewEvent, 'durationMs' | 'error' | 'data' | 'timestamp'>;

/** An event about one attempt of a task (one literal: spreading a base object costs on this hot path). */
export function attemptEvent(task: TaskRecord, workerId: string, type: TaskEventType, detail: AttemptEventDetail = {}): NewEvent {
  return {
    type,
    taskId: task.id,
    taskName: task.name,
    queue: task.queue,
    scheduleId: task.scheduleId,
    workerId,
    attempt: task.attempts,
    durationMs: detail.durationMs,
    error: detail.error,
    data: detail.data,
    timestamp: detail.timestamp,
  };
}
