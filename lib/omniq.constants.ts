/** DI token of the task-queue store. */
export const OMNIQ_TASK_QUEUE = 'OMNIQ_TASK_QUEUE';
/** DI token of the result store. */
export const OMNIQ_RESULT_STORE = 'OMNIQ_RESULT_STORE';
/** DI token of the event store. */
export const OMNIQ_EVENT_STORE = 'OMNIQ_EVENT_STORE';
/** DI token of the resolved configuration (defaults applied, validated). */
export const OMNIQ_CONFIG = 'OMNIQ_CONFIG';
/** DI token of the payload/result codec. */
export const OMNIQ_CODEC = 'OMNIQ_CODEC';
/**
 * DI token of the `AttemptInstrumentation[]` the worker calls beside its own logging (optional;
 * OmniQMetricsModule provides it). One provider gives the whole array, from a global module or
 * one OmniQModule imports.
 */
export const OMNIQ_INSTRUMENTATION = 'OMNIQ_INSTRUMENTATION';
/** DI token of the `EnqueueListener[]` told about every task the submitter stored (optional; OmniQMetricsModule provides it). */
export const OMNIQ_ENQUEUE_LISTENERS = 'OMNIQ_ENQUEUE_LISTENERS';

/** Reflect-metadata key set by `@Task()` on a method. */
export const TASK_METADATA = 'omniq:task';

/** Reflect-metadata key set by `@Scheduled()` on a method (an array: a method may carry several). */
export const SCHEDULED_METADATA = 'omniq:scheduled';
