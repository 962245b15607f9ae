import type { EncodedValue } from './encoded-value.model.js';
import type { TaskError } from './task.model.js';

/** How an attempt that produced a stored result ended. */
export type ResultStatus = 'success' | 'failed' | 'timeout' | 'cancelled' | 'expired';

/** A task's outcome as stored, with the value still encoded. */
export interface ResultRecord {
  taskId: string;
  taskName: string;
  queue: string;
  status: ResultStatus;
  value?: EncodedValue;
  error?: TaskError;
  createdAt: Date;
  startedAt?: Date;
  completedAt: Date;
  durationMs?: number;
  workerId?: string;
  attempts: number;
  scheduleId?: string;
  /** The result disappears from the store after this time (purgeExpired). */
  expiresAt?: Date;
}

/** A task's outcome as the service returns it: the value decoded. */
export type TaskResult<R = unknown> = Omit<ResultRecord, 'value'> & { value?: R };
