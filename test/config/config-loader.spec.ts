import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { Logger, type LoggerService } from '@nestjs/common';
import { loadConfig } from '../../lib/config/config.loader.js';
import { defaultBackendUrl } from '../../lib/backends/backend.registry.js';
import { OmniQConfigError } from '../../lib/config/config.validation.js';
import { resolveConfig } from '../../lib/config/omniq-config.js';
import { MemoryTaskQueueStore } from '../../lib/backends/memory/index.js';
import type { OmniQModuleOptions } from '../../lib/interfaces/omniq-options.interface.js';

type Env = Record<string, string>;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omniq-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function yamlFile(text: string, name = 'omniq.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The lines of the OmniQConfigError thrown for these sources. */
function problems(options: OmniQModuleOptions, env: Env = {}): string[] {
  try {
    loadConfig(options, env);
  } catch (error) {
    if (!(error instanceof OmniQConfigError)) throw error;
    const [title, ...lines] = error.message.split('\n');
    expect(title).toBe('Invalid OmniQ configuration:');
    expect(lines).toHaveLength(error.issues.length);
    return lines.map((line) => line.replace(/^ {2}- /, ''));
  }
  throw new Error('the configuration was accepted');
}

describe('configuration defaults', () => {
  it('applies every built-in default when no source sets anything', () => {
    const { config, warnings } = loadConfig({}, {});
    expect(warnings).toEqual([]);
    expect(config).toEqual({
      projectName: 'omniq',
      baseDir: './omniq_data',
      taskQueue: `sqlite://${resolve('./omniq_data/omniq.db')}`,
      resultStore: `sqlite://${resolve('./omniq_data/omniq.db')}`,
      eventStore: `sqlite://${resolve('./omniq_data/omniq.db')}`,
      storageOptions: {},
      worker: {
        enabled: true,
        id: expect.stringMatching(new RegExp(`^${hostname()}-${process.pid}-[0-9a-f]{6}$`)),
        concurrency: 10,
        queues: undefined,
        pollIntervalMs: 1_000,
        leaseMs: 30_000,
        heartbeatMs: 10_000,
        shutdownTimeoutMs: 10_000,
        type: 'async',
        threads: 4,
        processes: 2,
        poolModule: undefined,
        poolRecycleHeapMb: undefined,
        poolMaxHeapMb: undefined,
      },
      maintenance: { enabled: true, intervalMs: 1_000, leaderTtlMs: 10_000, maxLapses: 3 },
      scheduler: { enabled: true, pollIntervalMs: 1_000, missedGraceMs: 60_000 },
      taskDefaults: {
        queue: 'default',
        priority: 0,
        maxRetries: 3,
        retryDelayMs: 5_000,
        retryBackoff: 'exponential',
        retryMaxDelayMs: 3_600_000,
        timeoutMs: undefined,
        ttlMs: undefined,
        resultTtlMs: undefined,
        storeResult: true,
      },
      allowUnregisteredTasks: false,
      resultPollIntervalMs: 500,
      logging: { level: 'log', components: {}, disabled: false },
    });
  });

  it('derives the heartbeat from the lease', () => {
    expect(loadConfig({ worker: { leaseMs: 900 } }, {}).config.worker.heartbeatMs).toBe(300);
    expect(loadConfig({ worker: { leaseMs: 2 } }, {}).config.worker.heartbeatMs).toBe(1);
  });

  it('reads process.env when resolveConfig is given no environment', () => {
    const saved = process.env.OMNIQ_PROJECT_NAME;
    process.env.OMNIQ_PROJECT_NAME = 'from-process-env';
    try {
      expect(resolveConfig().projectName).toBe('from-process-env');
    } finally {
      if (saved === undefined) delete process.env.OMNIQ_PROJECT_NAME;
      else process.env.OMNIQ_PROJECT_NAME = saved;
    }
  });
});

describe('configuration precedence: defaults < YAML < module options < environment', () => {
  it('lets each source override the one below it, key by key', () => {
    const configFile = yamlFile('projectName: from-yaml\nbaseDir: /yaml\nworker:\n  concurrency: 2\n  leaseMs: 1m\n');
    const options: OmniQModuleOptions = { configFile, baseDir: '/options', worker: { concurrency: 3 } };
    const env = { OMNIQ_MAX_WORKERS: '4' };
    const { config } = loadConfig(options, env);
    expect(config.projectName).toBe('from-yaml');
    expect(config.baseDir).toBe('/options');
    expect(config.worker.concurrency).toBe(4);
    expect(config.worker.leaseMs).toBe(60_000);
    expect(loadConfig(options, {}).config.worker.concurrency).toBe(3);
    expect(loadConfig({ configFile }, {}).config.worker.concurrency).toBe(2);
  });

  it('reads the YAML file named by OMNIQ_CONFIG_FILE in preference to the configFile option', () => {
    const fromOption = yamlFile('projectName: option-file\n', 'a.yaml');
    const fromEnv = yamlFile('projectName: env-file\n', 'b.yaml');
    expect(loadConfig({ configFile: fromOption }, { OMNIQ_CONFIG_FILE: fromEnv }).config.projectName).toBe('env-file');
  });

  it('maps the OMNIQ_* variables of the seeds onto their settings', () => {
    const { config } = loadConfig(
      {},
      {
        OMNIQ_PROJECT_NAME: 'billing',
        OMNIQ_BASE_DIR: '/var/lib/omniq',
        OMNIQ_LOG_LEVEL: 'INFO',
        OMNIQ_DISABLE_LOGGING: 'yes',
        OMNIQ_COMPONENT_LOG_LEVELS: '{"OmniQWorker":"debug","report.build":"WARNING"}',
        OMNIQ_TASK_QUEUE_URL: 'memory://',
        OMNIQ_RESULT_STORAGE_TYPE: 'memory',
        OMNIQ_EVENT_STORAGE_TYPE: 'MEMORY',
        OMNIQ_DEFAULT_WORKER: 'async',
        OMNIQ_MAX_WORKERS: '25',
        OMNIQ_THREAD_WORKERS: '4',
        OMNIQ_PROCESS_WORKERS: '2',
        OMNIQ_TASK_TIMEOUT: '90',
        OMNIQ_TASK_TTL: '1h',
        OMNIQ_RESULT_TTL: '2.5',
        OMNIQ_RETRY_ATTEMPTS: '0',
        OMNIQ_RETRY_DELAY: '500ms',
        OMNIQ_DEFAULT_QUEUES: '["high","default","low"]',
        OMNIQ_STORAGE_OPTIONS: '{"poolSize":4,"ssl":{"rejectUnauthorized":false}}',
      },
    );
    expect(config).toMatchObject({
      projectName: 'billing',
      baseDir: '/var/lib/omniq',
      taskQueue: 'memory://',
      resultStore: 'memory://',
      eventStore: 'memory://',
      storageOptions: { poolSize: 4, ssl: { rejectUnauthorized: false } },
      worker: { concurrency: 25, queues: ['high', 'default', 'low'], type: 'async', threads: 4, processes: 2 },
      taskDefaults: { timeoutMs: 90_000, ttlMs: 3_600_000, resultTtlMs: 2_500, maxRetries: 0, retryDelayMs: 500 },
      logging: { level: 'log', components: { OmniQWorker: 'debug', 'report.build': 'warn' }, disabled: true },
    });
  });

  it('takes durations as ms numbers or strings with a unit in YAML and options, bare numbers as seconds in the environment', () => {
    const configFile = yamlFile('worker:\n  pollIntervalMs: 250\n  shutdownTimeoutMs: 2s\ntaskDefaults:\n  retryMaxDelayMs: 1h\n');
    const { config } = loadConfig({ configFile, taskDefaults: { timeoutMs: 1_500 } }, { OMNIQ_RETRY_DELAY: '3' });
    expect(config.worker.pollIntervalMs).toBe(250);
    expect(config.worker.shutdownTimeoutMs).toBe(2_000);
    expect(config.taskDefaults).toMatchObject({ retryMaxDelayMs: 3_600_000, timeoutMs: 1_500, retryDelayMs: 3_000 });
  });

  it('treats undefined option values as unset, as forRootAsync factories often return them', () => {
    const configFile = yamlFile('projectName: from-yaml\n');
    const { config } = loadConfig({ configFile, projectName: undefined, worker: { concurrency: undefined } }, {});
    expect(config.projectName).toBe('from-yaml');
    expect(config.worker.concurrency).toBe(10);
  });

  it('accepts an empty YAML file', () => {
    expect(loadConfig({ configFile: yamlFile('', 'empty.yaml') }, {}).config.projectName).toBe('omniq');
  });
});

describe('backend selection', () => {
  it('lets one backend set all three stores and each store override it', () => {
    const { config } = loadConfig({ backend: 'memory', eventStore: 'memory://' }, {});
    expect([config.taskQueue, config.resultStore, config.eventStore]).toEqual(['memory://', 'memory://', 'memory://']);
  });

  it('keeps store instances passed in the options', () => {
    const taskQueue = new MemoryTaskQueueStore();
    expect(loadConfig({ taskQueue }, {}).config.taskQueue).toBe(taskQueue);
  });

  it('lets a higher source win over a more specific key of a lower one', () => {
    const configFile = yamlFile('taskQueue: mongo://yaml\n');
    expect(loadConfig({ configFile, backend: 'memory://' }, {}).config.taskQueue).toBe('memory://');
  });

  it('lets the environment override one store alone', () => {
    const problem = problems({ backend: 'memory://' }, { OMNIQ_TASK_QUEUE_URL: 'mongo://env' });
    expect(problem).toEqual([
      'environment variable OMNIQ_TASK_QUEUE_URL (taskQueue) = "mongo://env": taskQueue: unknown backend "mongo" in "mongo://env"; known backends: memory, file, sqlite, postgres, postgresql, redis, rediss, nats, tls',
    ]);
  });

  it('rejects a maintenance lease that would lapse between two renewals, naming the setting', () => {
    expect(() => loadConfig({ maintenance: { intervalMs: 5_000, leaderTtlMs: 5_000 } }, {})).toThrow(
      'maintenance.leaderTtlMs (5000 ms) must be more than maintenance.intervalMs (5000 ms): the leader renews its lease once per interval',
    );
    expect(() => loadConfig({ maintenance: { intervalMs: 20_000 } }, {})).toThrow('maintenance.intervalMs');
  });

  it('turns a type alone into its default URL, with the base directory made absolute', () => {
    expect(defaultBackendUrl('memory', './data')).toBe('memory://');
    expect(defaultBackendUrl('sqlite', './data')).toBe(`sqlite://${resolve('data', 'omniq.db')}`);
    expect(defaultBackendUrl('file', '/srv/omniq')).toBe('file:///srv/omniq');
  });

  it('resolves a type alone to its default URL under the base directory', () => {
    expect(loadConfig({ baseDir: '/srv/q' }, { OMNIQ_TASK_QUEUE_TYPE: 'sqlite' }).config.taskQueue).toBe('sqlite:///srv/q/omniq.db');
  });

  it('uses the URL when both variables of a store are set, and requires them to agree', () => {
    const env = { OMNIQ_RESULT_STORAGE_TYPE: 'memory', OMNIQ_RESULT_STORAGE_URL: 'memory://' };
    expect(loadConfig({}, env).config.resultStore).toBe('memory://');
    expect(problems({}, { OMNIQ_RESULT_STORAGE_TYPE: 'file', OMNIQ_RESULT_STORAGE_URL: 'memory://' })).toEqual([
      'environment variable OMNIQ_RESULT_STORAGE_TYPE (resultStore) = "file": disagrees with OMNIQ_RESULT_STORAGE_URL=memory://',
    ]);
  });

  it('reports a bad backend of all stores once', () => {
    expect(problems({ backend: 'mongo://localhost' })).toEqual([
      'OmniQModule option backend = "mongo://localhost": taskQueue: unknown backend "mongo" in "mongo://localhost"; known backends: memory, file, sqlite, postgres, postgresql, redis, rediss, nats, tls',
    ]);
  });
});

describe('validation messages name the key, the value and its source', () => {
  it('rejects unknown keys in the options, naming the keys known at that level', () => {
    expect(problems({ worker: { concurency: 4 } } as OmniQModuleOptions)).toEqual([
      'OmniQModule option worker.concurency = 4: unknown key; known keys of worker: enabled, id, concurrency, queues, pollIntervalMs, leaseMs, heartbeatMs, shutdownTimeoutMs, type, threads, processes, poolModule, poolRecycleHeapMb, poolMaxHeapMb',
    ]);
    expect(problems({ retries: 3 } as OmniQModuleOptions)[0]).toMatch(/^OmniQModule option retries = 3: unknown key; known keys: configFile, projectName, baseDir, backend, /);
  });

  it('rejects unknown keys in the YAML file, naming the file', () => {
    const configFile = yamlFile('taskDefaults:\n  retryBakoff: fixed\nconfigFile: other.yaml\n');
    expect(problems({ configFile })).toEqual([
      `taskDefaults.retryBakoff in ${configFile} = "fixed": unknown key; known keys of taskDefaults: queue, priority, maxRetries, retryDelayMs, retryBackoff, retryMaxDelayMs, timeoutMs, ttlMs, resultTtlMs, storeResult`,
      expect.stringMatching(new RegExp(`^configFile in ${configFile} = "other.yaml": unknown key; known keys: projectName, `)),
    ]);
  });

  it("rejects OMNIQ_* variables that are no setting, but for the test suite's and benchmark's own", () => {
    expect(
      problems({}, { OMNIQ_MAX_WORKER: '4', OTHER_VARIABLE: 'ignored', OMNIQ_TEST_POSTGRES_URL: 'postgres://x', OMNIQ_BENCH_POSTGRES_URL: 'postgres://y' }),
    ).toEqual([
      'environment variable OMNIQ_MAX_WORKER = "4": not an OmniQ setting (the settings table in the README lists the OMNIQ_* variables)',
    ]);
  });

  it('rejects values of the wrong type from every source', () => {
    const configFile = yamlFile('worker:\n  enabled: "no"\n  queues: high\nlogging: verbose\n');
    expect(
      problems(
        { configFile, worker: { concurrency: '5' as unknown as number }, taskDefaults: { retryBackoff: 'linear' as 'fixed', priority: 1.5 } },
        { OMNIQ_MAX_WORKERS: 'ten', OMNIQ_DISABLE_LOGGING: 'maybe', OMNIQ_RETRY_ATTEMPTS: '-1' },
      ),
    ).toEqual([
      'environment variable OMNIQ_MAX_WORKERS (worker.concurrency) = "ten": expected an integer >= 1',
      'environment variable OMNIQ_DISABLE_LOGGING (logging.disabled) = "maybe": expected true/false, 1/0, yes/no or on/off',
      'environment variable OMNIQ_RETRY_ATTEMPTS (taskDefaults.maxRetries) = "-1": expected an integer >= 0',
      'OmniQModule option worker.concurrency = "5": expected an integer >= 1',
      'OmniQModule option taskDefaults.retryBackoff = "linear": expected "exponential" or "fixed"',
      'OmniQModule option taskDefaults.priority = 1.5: expected an integer',
      `worker.enabled in ${configFile} = "no": expected true or false`,
      `worker.queues in ${configFile} = "high": expected a non-empty list of queue names`,
      `logging in ${configFile} = "verbose": expected a mapping of logging settings`,
    ]);
  });

  it('rejects negative, malformed, unit-less and sub-millisecond durations', () => {
    const configFile = yamlFile('worker:\n  leaseMs: -5s\n  pollIntervalMs: "100"\n');
    expect(
      problems(
        { configFile, taskDefaults: { timeoutMs: -1 }, worker: { heartbeatMs: 0 } },
        { OMNIQ_RETRY_DELAY: '-3', OMNIQ_TASK_TTL: '5 minutes', OMNIQ_RESULT_TTL: '0.0001' },
      ),
    ).toEqual([
      'environment variable OMNIQ_RETRY_DELAY (taskDefaults.retryDelayMs) = "-3": a duration cannot be negative',
      'environment variable OMNIQ_TASK_TTL (taskDefaults.ttlMs) = "5 minutes": expected a duration: seconds, or a number with a unit (500ms, 30s, 5m, 1h)',
      'environment variable OMNIQ_RESULT_TTL (taskDefaults.resultTtlMs) = "0.0001": expected a whole number of milliseconds',
      'OmniQModule option taskDefaults.timeoutMs = -1: a duration cannot be negative',
      'OmniQModule option worker.heartbeatMs = 0: expected at least 1 ms',
      `worker.leaseMs in ${configFile} = "-5s": a duration cannot be negative`,
      `worker.pollIntervalMs in ${configFile} = "100": expected a duration: milliseconds, or a string with a unit (500ms, 30s, 5m, 1h)`,
    ]);
  });

  it('requires the heartbeat to be shorter than the lease', () => {
    expect(problems({ worker: { leaseMs: 1_000 } }, { OMNIQ_CONFIG_FILE: yamlFile('worker:\n  heartbeatMs: 1s\n') })).toEqual([
      `worker.heartbeatMs in ${join(dir, 'omniq.yaml')} = "1s": must be less than worker.leaseMs (1000 ms)`,
    ]);
  });

  it('rejects malformed backend URLs and unknown backend types', () => {
    expect(
      problems(
        { backend: 'localhost:6379', taskQueue: 42 as unknown as string },
        { OMNIQ_RESULT_STORAGE_TYPE: 'mongo', OMNIQ_EVENT_STORAGE_URL: 'sqlite', OMNIQ_TASK_QUEUE_TYPE: 'redis://localhost' },
      ),
    ).toEqual([
      'environment variable OMNIQ_RESULT_STORAGE_TYPE (resultStore) = "mongo": unknown backend type; known types: memory, file, sqlite, postgres, postgresql, redis, rediss, nats, tls',
      'environment variable OMNIQ_EVENT_STORAGE_URL (eventStore) = "sqlite": expected a backend URL such as sqlite://path or file://path; a bare type belongs in OMNIQ_EVENT_STORAGE_TYPE',
      'environment variable OMNIQ_TASK_QUEUE_TYPE (taskQueue) = "redis://localhost": expected a backend type (memory, file, sqlite, postgres, postgresql, redis, rediss, nats, tls); a URL belongs in OMNIQ_TASK_QUEUE_URL',
      'OmniQModule option backend = "localhost:6379": expected a backend URL <backend>://… or a backend type',
      'OmniQModule option taskQueue = 42: expected a backend URL or type, or a store instance',
    ]);
  });

  it('rejects malformed JSON and JSON of the wrong shape in environment variables', () => {
    expect(
      problems(
        {},
        {
          OMNIQ_DEFAULT_QUEUES: '["high", "default"',
          OMNIQ_STORAGE_OPTIONS: '[1, 2]',
          OMNIQ_COMPONENT_LOG_LEVELS: '{"OmniQWorker": "loud"}',
        },
      ),
    ).toEqual([
      expect.stringMatching(/^environment variable OMNIQ_DEFAULT_QUEUES \(worker\.queues\) = "\[\\"high\\", \\"default\\"": malformed JSON \(.+\)$/),
      'environment variable OMNIQ_STORAGE_OPTIONS (storageOptions) = "[1, 2]": expected an object of backend options',
      'environment variable OMNIQ_COMPONENT_LOG_LEVELS (logging.components) = "{\\"OmniQWorker\\": \\"loud\\"}": level of "OmniQWorker" is "loud"; expected one of verbose, debug, log, warn, error, fatal (or info, warning, critical)',
    ]);
    expect(problems({}, { OMNIQ_DEFAULT_QUEUES: '["a","b","a"]' })).toEqual([
      'environment variable OMNIQ_DEFAULT_QUEUES (worker.queues) = "[\\"a\\",\\"b\\",\\"a\\"]": queue "a" is listed twice',
    ]);
  });

  it('rejects a missing YAML file, malformed YAML and a file that is no mapping', () => {
    const missing = join(dir, 'missing.yaml');
    expect(problems({ configFile: missing })).toEqual([`OmniQModule option configFile = "${missing}": no such file: ${missing}`]);
    const malformed = yamlFile('worker:\n  concurrency: [1\n', 'malformed.yaml');
    expect(problems({}, { OMNIQ_CONFIG_FILE: malformed })).toEqual([
      expect.stringMatching(new RegExp(`^environment variable OMNIQ_CONFIG_FILE \\(configFile\\) = "${malformed}": malformed YAML in ${malformed}: .+ at line 3, column 1$`)),
    ]);
    const list = yamlFile('- projectName: x\n', 'list.yaml');
    expect(problems({ configFile: list })).toEqual([`OmniQModule option configFile = "${list}": ${list} must hold a mapping of settings`]);
  });

  it('refuses worker types it does not have, naming the ones it has', () => {
    expect(problems({}, { OMNIQ_DEFAULT_WORKER: 'fiber' })).toEqual([
      'environment variable OMNIQ_DEFAULT_WORKER (worker.type) = "fiber": expected "async" or "thread" or "process" or "gevent"',
    ]);
  });

  it('rejects project names that cannot namespace backend objects', () => {
    expect(problems({ projectName: 'my app' })).toEqual(['OmniQModule option projectName = "my app": expected a letter followed by letters, digits, "_" or "-"']);
  });

  it('reports bad values of lower sources even when a higher source overrides them', () => {
    const configFile = yamlFile('worker:\n  concurrency: 0\n');
    expect(problems({ configFile }, { OMNIQ_MAX_WORKERS: '4' })).toEqual([`worker.concurrency in ${configFile} = 0: expected an integer >= 1`]);
  });

  it('throws an OmniQConfigError carrying every issue', () => {
    let caught: unknown;
    try {
      loadConfig({ worker: { concurrency: 0 } }, { OMNIQ_TASK_TIMEOUT: 'soon' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OmniQConfigError);
    expect((caught as OmniQConfigError).issues).toEqual([
      { where: 'environment variable OMNIQ_TASK_TIMEOUT (taskDefaults.timeoutMs)', value: 'soon', problem: expect.stringMatching(/^expected a duration/) },
      { where: 'OmniQModule option worker.concurrency', value: 0, problem: 'expected an integer >= 1' },
    ]);
  });
});

describe('worker types and pools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'omniq-pool-config-'));
  const moduleFile = join(dir, 'tasks.module.js');
  writeFileSync(moduleFile, 'export class TasksModule {}\n');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the worker type, the pool sizes and the pool module from the environment', () => {
    const { config } = loadConfig(
      {},
      { OMNIQ_DEFAULT_WORKER: 'Thread', OMNIQ_THREAD_WORKERS: '3', OMNIQ_PROCESS_WORKERS: '5', OMNIQ_POOL_MODULE: `${moduleFile}#TasksModule`, OMNIQ_POOL_MAX_HEAP_MB: '256' },
    );
    expect(config.worker).toMatchObject({ type: 'thread', threads: 3, processes: 5, poolModule: { file: moduleFile, exportName: 'TasksModule' }, poolMaxHeapMb: 256 });
  });

  it('takes the pool module as a file URL or a path from the working directory', () => {
    expect(loadConfig({ worker: { poolModule: new URL(`file://${moduleFile}`) } }, {}).config.worker.poolModule).toEqual({ file: moduleFile });
    expect(loadConfig({ worker: { poolModule: relative(process.cwd(), moduleFile) } }, {}).config.worker.poolModule).toEqual({ file: moduleFile });
  });

  it('refuses a pool module that is not there, not a file, or picks no export name', () => {
    expect(problems({ worker: { poolModule: join(dir, 'missing.js') } })).toEqual([
      `OmniQModule option worker.poolModule = "${join(dir, 'missing.js')}": no such file: ${join(dir, 'missing.js')}`,
    ]);
    expect(problems({ worker: { poolModule: 'https://example.com/tasks.js' } })).toEqual([
      'OmniQModule option worker.poolModule = "https://example.com/tasks.js": only file: URLs name a module file',
    ]);
    expect(problems({}, { OMNIQ_POOL_MODULE: `${moduleFile}#not-a-name` })).toEqual([
      `environment variable OMNIQ_POOL_MODULE (worker.poolModule) = "${moduleFile}#not-a-name": "#not-a-name" is not an export name`,
    ]);
  });

  it('runs gevent as the async worker with OMNIQ_GEVENT_WORKERS as its concurrency', () => {
    const { config, warnings } = loadConfig({}, { OMNIQ_DEFAULT_WORKER: 'gevent', OMNIQ_GEVENT_WORKERS: '50', OMNIQ_MAX_WORKERS: '8' });
    expect(config.worker).toMatchObject({ type: 'async', concurrency: 50 });
    expect(warnings).toEqual([]);
  });

  it('warns that OMNIQ_GEVENT_WORKERS has no effect beside another worker type', () => {
    expect(loadConfig({}, { OMNIQ_GEVENT_WORKERS: '50' }).warnings).toEqual([
      "OMNIQ_GEVENT_WORKERS=50 has no effect: it sets the concurrency of the gevent worker only (OMNIQ_DEFAULT_WORKER=gevent); OMNIQ_MAX_WORKERS sets the async worker's",
    ]);
  });

  it('validates the pool sizes', () => {
    expect(problems({}, { OMNIQ_PROCESS_WORKERS: 'many' })).toEqual(['environment variable OMNIQ_PROCESS_WORKERS (worker.processes) = "many": expected an integer >= 1']);
  });

  it('has resolveConfig log the warning once through the OmniQ logger', () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: unknown, context?: unknown) => void lines.push(`${level} [${String(context)}] ${String(message)}`);
    const logger: LoggerService = { log: capture('log'), error: capture('error'), warn: capture('warn') };
    Logger.overrideLogger(logger);
    try {
      resolveConfig({}, { OMNIQ_GEVENT_WORKERS: '6' });
      resolveConfig({ logging: { disabled: true } }, { OMNIQ_GEVENT_WORKERS: '6' });
    } finally {
      Logger.overrideLogger(false);
    }
    expect(lines).toEqual([expect.stringMatching(/^warn \[OmniQ\] OMNIQ_GEVENT_WORKERS=6 has no effect/)]);
  });
});
