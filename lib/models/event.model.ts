import type { TaskError } from './task.model.js';

export type TaskEventType =
  | 'enqueued'
  | 'started'
  | 'completed'
  | 'failed'
  | 'retry'
  | 'timeout'
  | 'cancelled'
  | 'expired'
  | 'progress'
  | 'released'
  | 'reclaimed'
  | 'schedule_paused'
  | 'schedule_resumed'
  | 'queue_paused'
  | 'queue_resumed';

export const TASK_EVENT_TYPES: readonly TaskEventType[] = [
  'enqueued',
  'started',
  'completed',
  'failed',
  'retry',
  'timeout',
  'cancelled',
  'expired',
  'progress',
  'released',
  'reclaimed',
  'schedule_paused',
  'schedule_resumed',
  'queue_paused',
  'queue_resumed',
];

/** One transition in a task's (or a schedule's) life. Events never carry payload contents. */
export interface TaskEvent {
  id: string;
  type: TaskEventType;
  timestamp: Date;
  taskId?: string;
  taskName?: string;
  queue?: string;
  scheduleId?: string;
  workerId?: string;
  attempt?: number;
  durationMs?: number;
  message?: string;
  error?: TaskError;
  /** Small structured detail (e.g. the next retry time); never the payload. */
  data?: Record<string, unknown>;
}
