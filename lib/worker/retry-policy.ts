import type { TaskRecord } from '../models/task.model.js';

/** 2^53 ms is far past any cap (retryMaxDelayMs is at most 100 years), so doubling stops there. */
const MAX_EXPONENT = 53;

/**
 * When the next attempt of a failed task may run: `retryDelayMs · 2^(attempt−1)` for exponential
 * backoff (the same delay for fixed), plus up to 10% random jitter so retries of a burst of
 * failures spread out, capped at `retryMaxDelayMs`. The delay is stored as the retry's due time,
 * not waited for by a timer; bounding the exponent keeps it finite (0 · 2^1024 would be NaN).
 */
export function retryDelayMs(task: Pick<TaskRecord, 'attempts' | 'retryDelayMs' | 'retryBackoff' | 'retryMaxDelayMs'>, random = Math.random): number {
  const exponent = task.retryBackoff === 'fixed' ? 0 : Math.min(MAX_EXPONENT, Math.max(0, task.attempts - 1));
  const base = task.retryDelayMs * 2 ** exponent;
  return Math.min(task.retryMaxDelayMs, Math.round(base + base * 0.1 * random()));
}
