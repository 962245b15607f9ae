import { MAX_TIMER_MS } from '../utils/timer-delay.js';
import { MAX_DUE_DELAY_MS } from './duration.js';

/** What a setting accepts; config.validation.ts turns raw input into the typed value. */
export type SettingType =
  | { kind: 'string' }
  | { kind: 'projectName' }
  | { kind: 'boolean' }
  | { kind: 'integer'; min?: number }
  /**
   * Milliseconds from `min` to `max`: MAX_TIMER_MS for what a timer waits for (a longer timer
   * would fire at once), MAX_DUE_DELAY_MS for what is stored as a due time.
   */
  | { kind: 'duration'; min: number; max: number }
  | { kind: 'logLevel' }
  | { kind: 'componentLevels' }
  | { kind: 'queues' }
  | { kind: 'object' }
  /** A backend URL or type name; `instances`: a store instance is accepted too (module options only). */
  | { kind: 'store'; instances: boolean }
  /** One of `values` (case-insensitive). */
  | { kind: 'enum'; values: readonly string[] }
  /** An ES module file that exists, with an optional `#export`; a URL instance too (module options only). */
  | { kind: 'moduleFile' };

export interface Setting {
  /** Path in the YAML file and in the module options (`worker.concurrency`); absent for environment-only settings. */
  readonly key?: string;
  readonly env?: string;
  /** Stores: the variable that names a backend type rather than a URL. */
  readonly typeEnv?: string;
  readonly type: SettingType;
  /** The value when no source sets it; absent when there is none or it is computed (see `doc`). */
  readonly default?: unknown;
  /** Only the module options and the environment may set it (the YAML file may not name another file). */
  readonly notInYaml?: true;
  readonly doc: string;
}

const STORES = 'a backend URL (memory://, file://path, sqlite://path, postgres://…, …) or type (memory, file, sqlite, postgres, …)';

/** Every OmniQ setting: its YAML key and module option, its environment variable, its type and default. */
export const SETTINGS: readonly Setting[] = [
  { key: 'configFile', env: 'OMNIQ_CONFIG_FILE', type: { kind: 'string' }, notInYaml: true, doc: 'YAML file to read settings from.' },
  { key: 'projectName', env: 'OMNIQ_PROJECT_NAME', type: { kind: 'projectName' }, default: 'omniq', doc: 'Namespaces everything the backends store.' },
  { key: 'baseDir', env: 'OMNIQ_BASE_DIR', type: { kind: 'string' }, default: './omniq_data', doc: "Folder of the embedded backends' data." },
  {
    key: 'backend',
    type: { kind: 'store', instances: false },
    default: 'sqlite',
    doc: `Backend of all three stores: ${STORES}. The default keeps everything in \`<baseDir>/omniq.db\`.`,
  },
  {
    key: 'taskQueue',
    env: 'OMNIQ_TASK_QUEUE_URL',
    typeEnv: 'OMNIQ_TASK_QUEUE_TYPE',
    type: { kind: 'store', instances: true },
    doc: 'Overrides `backend` for the task queue; the module options may pass a store instance.',
  },
  {
    key: 'resultStore',
    env: 'OMNIQ_RESULT_STORAGE_URL',
    typeEnv: 'OMNIQ_RESULT_STORAGE_TYPE',
    type: { kind: 'store', instances: true },
    doc: 'Overrides `backend` for results; the module options may pass a store instance.',
  },
  {
    key: 'eventStore',
    env: 'OMNIQ_EVENT_STORAGE_URL',
    typeEnv: 'OMNIQ_EVENT_STORAGE_TYPE',
    type: { kind: 'store', instances: true },
    doc: 'Overrides `backend` for events; the module options may pass a store instance.',
  },
  { key: 'storageOptions', env: 'OMNIQ_STORAGE_OPTIONS', type: { kind: 'object' }, default: {}, doc: 'Backend-specific options, passed to every backend; a key no backend in use reads is logged as a warning at startup. PostgreSQL reads schema, poolSize, statementTimeoutMs, connectTimeoutMs, ssl and listen; the other built-in backends read none.' },
  {
    key: 'logging.level',
    env: 'OMNIQ_LOG_LEVEL',
    type: { kind: 'logLevel' },
    default: 'log',
    doc: 'Least severe level OmniQ writes (`debug` adds a line per attempt, `verbose` everything); Nest\'s logger levels apply after.',
  },
  { key: 'logging.components', env: 'OMNIQ_COMPONENT_LOG_LEVELS', type: { kind: 'componentLevels' }, default: {}, doc: 'Level per logger context or task name.' },
  { key: 'logging.disabled', env: 'OMNIQ_DISABLE_LOGGING', type: { kind: 'boolean' }, default: false, doc: 'Silences every OmniQ logger.' },
  { key: 'worker.enabled', type: { kind: 'boolean' }, default: true, doc: 'Run a worker in this app.' },
  { key: 'worker.id', type: { kind: 'string' }, doc: 'Stable id for logs, events and leases (default `<hostname>-<pid>-<random>`).' },
  { key: 'worker.concurrency', env: 'OMNIQ_MAX_WORKERS', type: { kind: 'integer', min: 1 }, default: 10, doc: 'Tasks in flight at most.' },
  { key: 'worker.queues', env: 'OMNIQ_DEFAULT_QUEUES', type: { kind: 'queues' }, doc: 'Queues served, highest priority first (default `default`, then the queues of registered tasks).' },
  { key: 'worker.pollIntervalMs', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, default: 1_000, doc: 'How often an idle worker looks for due tasks without a wake-up signal.' },
  { key: 'worker.leaseMs', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, default: 30_000, doc: 'How long a reserved task stays held without a heartbeat.' },
  { key: 'worker.heartbeatMs', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, doc: 'How often leases are renewed (default leaseMs / 3; less than leaseMs).' },
  { key: 'worker.shutdownTimeoutMs', type: { kind: 'duration', min: 0, max: MAX_TIMER_MS }, default: 10_000, doc: 'How long in-flight tasks may finish on shutdown.' },
  {
    key: 'worker.type',
    env: 'OMNIQ_DEFAULT_WORKER',
    type: { kind: 'enum', values: ['async', 'thread', 'process', 'gevent'] },
    default: 'async',
    doc:
      'Where handlers without `@Task({ runIn })` run: `async` on the event loop, `thread` on a worker thread pool, `process` on a child process pool. ' +
      '`gevent` (the seed name) is `async` with `OMNIQ_GEVENT_WORKERS` as its concurrency: Node\'s event loop is its green threads.',
  },
  { key: 'worker.threads', env: 'OMNIQ_THREAD_WORKERS', type: { kind: 'integer', min: 1 }, default: 4, doc: 'Thread pool members: `thread` tasks running at once.' },
  { key: 'worker.processes', env: 'OMNIQ_PROCESS_WORKERS', type: { kind: 'integer', min: 1 }, default: 2, doc: 'Process pool members: `process` tasks running at once.' },
  {
    env: 'OMNIQ_GEVENT_WORKERS',
    type: { kind: 'integer', min: 1 },
    doc: 'With `OMNIQ_DEFAULT_WORKER=gevent`: the concurrency of the async worker (instead of `OMNIQ_MAX_WORKERS`).',
  },
  {
    key: 'worker.poolModule',
    env: 'OMNIQ_POOL_MODULE',
    type: { kind: 'moduleFile' },
    doc:
      'The Nest module thread and process pool members bootstrap: a compiled ES module file (path from the working directory, or file URL), ' +
      'with `#ExportName` unless it exports one module only (`dist/tasks.module.js#TasksModule`).',
  },
  {
    key: 'worker.poolRecycleHeapMb',
    env: 'OMNIQ_POOL_RECYCLE_HEAP_MB',
    type: { kind: 'integer', min: 1 },
    doc: 'A pool member whose heap is above this many MiB after a task is replaced by a fresh one (default never).',
  },
  {
    key: 'worker.poolMaxHeapMb',
    env: 'OMNIQ_POOL_MAX_HEAP_MB',
    type: { kind: 'integer', min: 16 },
    doc: "A pool member's heap limit in MiB: past it the member dies and its task fails as out of memory (default V8's).",
  },
  { key: 'maintenance.enabled', type: { kind: 'boolean' }, default: true, doc: 'Take part in the election of the one instance that runs maintenance.' },
  {
    key: 'maintenance.intervalMs',
    type: { kind: 'duration', min: 1, max: MAX_TIMER_MS },
    default: 1_000,
    doc: 'How often the leader reclaims lapsed leases, promotes due tasks, expires and purges (and others try to lead).',
  },
  {
    key: 'maintenance.leaderTtlMs',
    type: { kind: 'duration', min: 1, max: MAX_TIMER_MS },
    default: 10_000,
    doc: "How long the leader's lease lasts unrenewed: another instance takes over within this long after it dies (more than intervalMs).",
  },
  {
    key: 'maintenance.maxLapses',
    env: 'OMNIQ_MAX_LAPSES',
    type: { kind: 'integer', min: 1 },
    default: 3,
    doc: "How many times a task's lease may lapse (its worker died or froze while running it) before the leader ends it failed, a dead letter with a TaskLapsedError: a poison task stops taking workers down. From 2 up, tasks that were running beside it survive.",
  },
  { key: 'scheduler.enabled', type: { kind: 'boolean' }, default: true, doc: 'Fire due schedules from this app (every instance may: each tick fires once).' },
  { key: 'scheduler.pollIntervalMs', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, default: 1_000, doc: 'How often the scheduler re-reads schedules other instances may have changed.' },
  {
    key: 'scheduler.missedGraceMs',
    type: { kind: 'duration', min: 0, max: MAX_DUE_DELAY_MS },
    default: 60_000,
    doc: "A fire later than this counts as missed (downtime): handled by the schedule's `missed` policy instead of running late.",
  },
  { key: 'taskDefaults.queue', type: { kind: 'string' }, default: 'default', doc: 'Queue of tasks that name none.' },
  { key: 'taskDefaults.priority', type: { kind: 'integer' }, default: 0, doc: 'Priority within a queue; higher runs first.' },
  { key: 'taskDefaults.maxRetries', env: 'OMNIQ_RETRY_ATTEMPTS', type: { kind: 'integer', min: 0 }, default: 3, doc: 'Retries after the first failed attempt.' },
  { key: 'taskDefaults.retryDelayMs', env: 'OMNIQ_RETRY_DELAY', type: { kind: 'duration', min: 0, max: MAX_DUE_DELAY_MS }, default: 5_000, doc: 'Delay before the first retry.' },
  { key: 'taskDefaults.retryBackoff', type: { kind: 'enum', values: ['exponential', 'fixed'] }, default: 'exponential', doc: '`exponential` or `fixed`.' },
  { key: 'taskDefaults.retryMaxDelayMs', type: { kind: 'duration', min: 0, max: MAX_DUE_DELAY_MS }, default: 3_600_000, doc: 'Upper bound of a retry delay.' },
  { key: 'taskDefaults.timeoutMs', env: 'OMNIQ_TASK_TIMEOUT', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, doc: 'Abort an attempt after this long (default none).' },
  { key: 'taskDefaults.ttlMs', env: 'OMNIQ_TASK_TTL', type: { kind: 'duration', min: 1, max: MAX_DUE_DELAY_MS }, doc: 'A task not started within this long of enqueueing expires (default none).' },
  { key: 'taskDefaults.resultTtlMs', env: 'OMNIQ_RESULT_TTL', type: { kind: 'duration', min: 1, max: MAX_DUE_DELAY_MS }, doc: 'Stored results disappear after this long (default kept).' },
  { key: 'taskDefaults.storeResult', type: { kind: 'boolean' }, default: true, doc: "Store handlers' return values." },
  { key: 'allowUnregisteredTasks', type: { kind: 'boolean' }, default: false, doc: 'Accept `enqueue()` of tasks no local `@Task()` registers.' },
  { key: 'resultPollIntervalMs', type: { kind: 'duration', min: 1, max: MAX_TIMER_MS }, default: 500, doc: '`waitForResult` polling of stores that cannot notify across processes (ten times slower where they can: a safety net for a notification lost with its process).' },
];

/** The store settings, which `backend` fills when they are not set. */
export const STORE_KEYS = ['taskQueue', 'resultStore', 'eventStore'] as const;
export type StoreKey = (typeof STORE_KEYS)[number];

