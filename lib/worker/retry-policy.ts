import type { TaskRecord } from '../models/task.model.js';

/**
 * When the next attempt of a failed task may run: `retryDelayMs · 2^(attempt−1)` for exponential
 * backoff (the same delay for fixed), plus up to 10% random jitter so retries of a burst of
 * failures spread out, capped at `retryMaxDelayMs`.
 */
export function retryDelayMs(task: Pick<TaskRecord, 'attempts' | 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>, random = Math.random): number {
  const base = task.retryBackoff === 'fixed' ? task.retryDelayMs : task.retryDelayMs * 2 ** Math.max(0, task.attempts - 1);
  return Math.min(task.retryMaxDelayMs, Math.round(base + base * 0.1 * random()));
}
