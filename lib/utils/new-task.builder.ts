import { newUuid } from './uuid.js';
import type { ResolvedTaskDefaults } from '../config/omniq-config.js';
import type { EncodedValue } from '../models/encoded-value.model.js';
import type { NewTask } from '../models/task.model.js';
import type { EnqueueOptions, TaskHandlerOptions } from '../interfaces/task-options.interface.js';
import { stripUndefined } from '../config/omniq-config.js';

/**
 * Builds the stored form of a task. Options apply in order: module defaults < `@Task()` options <
 * `enqueue()` options.
 */
export function buildNewTask(
  name: string,
  payload: EncodedValue,
  defaults: ResolvedTaskDefaults,
  handlerOptions: TaskHandlerOptions,
  options: Omit<EnqueueOptions, 'onSuccess' | 'onFailure'>,
  now: Date,
  callbacks: Pick<NewTask, 'onSuccess' | 'onFailure'> = {},
): NewTask {
  const o = { ...defaults, ...stripUndefined(handlerOptions), ...stripUndefined(options) };
  const runAt = options.runAt ?? new Date(now.getTime() + (options.delayMs ?? 0));
  return {
    id: options.id ?? newUuid(),
    name,
    queue: o.queue,
    priority: o.priority,
    payload,
    createdAt: now,
    runAt: runAt < now ? now : runAt,
    maxRetries: o.maxRetries,
    retryDelayMs: o.retryDelayMs,
    retryBackoff: o.retryBackoff,
    retryMaxDelayMs: o.retryMaxDelayMs,
    timeoutMs: o.timeoutMs,
    ttlMs: o.ttlMs,
    expiresAt: o.ttlMs === undefined ? undefined : new Date(now.getTime() + o.ttlMs),
    resultTtlMs: o.resultTtlMs,
    storeResult: o.storeResult,
    dependsOn: options.dependsOn ?? [],
    onParentFailure: options.onParentFailure ?? 'cancel',
    onSuccess: callbacks.onSuccess,
    onFailure: callbacks.onFailure,
    tags: options.tags ?? [],
    description: options.description,
    key: options.key,
    dedupeWindowMs: options.dedupeWindowMs,
  };
}
