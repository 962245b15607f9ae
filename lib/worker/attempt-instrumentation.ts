import { Logger } from '@nestjs/common';
import type { OmniQLogger } from '../config/omniq-logger.js';
import type { TaskError, TaskRecord } from '../models/task.model.js';

/** How an attempt ended, as the instrumentation sees it. */
export type AttemptEnd =
  | { outcome: 'success'; durationMs: number }
  | { outcome: 'retry'; durationMs: number; error: TaskError; retryInMs: number }
  | { outcome: 'failed' | 'timeout' | 'cancelled'; durationMs: number; error: TaskError }
  /** Released at shutdown, or its lease was lost: no outcome was recorded here. */
  | { outcome: 'released' | 'lease_lost'; durationMs: number };

/**
 * Told about every attempt this worker runs: once when it starts, once when its outcome was
 * recorded (or not, for a lost lease). Metrics and tracing plug in here. Calls are synchronous
 * and on the worker's hot path: an implementation must be cheap and must not throw (a throw is
 * logged and ignored).
 */
export interface AttemptInstrumentation {
  attemptStarted(task: TaskRecord): void;
  attemptEnded(task: TaskRecord, end: AttemptEnd): void;
}

/** The worker's own log lines about attempts: per-attempt lines at `debug`, a final failure at `log`. */
export class AttemptLogging implements AttemptInstrumentation {
  constructor(private readonly logger: OmniQLogger) {}

  attemptStarted(task: TaskRecord): void {
    if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} started`);
  }

  attemptEnded(task: TaskRecord, end: AttemptEnd): void {
    switch (end.outcome) {
      case 'success':
        if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} succeeded in ${end.durationMs} ms`);
        return;
      case 'retry':
        if (Logger.isLevelEnabled('debug')) {
          this.logger.debug(`Task ${task.name} ${task.id} attempt ${task.attempts} failed (${end.error.message}); retry in ${end.retryInMs} ms`);
        }
        return;
      case 'failed':
      case 'timeout':
        this.logger.log(`Task ${task.name} ${task.id} failed for good after ${task.attempts} attempt(s): ${end.error.message}`);
        return;
      case 'released':
        this.logger.warn(`Task ${task.name} ${task.id} aborted by shutdown; released for another worker`);
        return;
      case 'lease_lost':
        this.logger.warn(`Task ${task.name} ${task.id}: its lease was lost; its outcome is not recorded here (another worker may hold it)`);
        return;
      case 'cancelled':
        if (Logger.isLevelEnabled('debug')) this.logger.debug(`Task ${task.name} ${task.id} cancelled`);
    }
  }
}
