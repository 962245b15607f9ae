import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { OmniQModuleOptions, StoreOption } from '../interfaces/omniq-options.interface.js';
import type { OmniQConfig } from './omniq-config.js';
import { defaultBackendUrl } from '../backends/backend.registry.js';
import { SETTINGS, STORE_KEYS, type Setting, type StoreKey } from './config.schema.js';
import {
  ConfigIssues,
  InvalidValue,
  backendProblem,
  convertValue,
  describeSource,
  urlScheme,
  type ConfigSource,
  type StoreSpec,
} from './config.validation.js';

/** A value one source gave a setting, already converted to its type. */
interface Candidate {
  setting: Setting;
  value: unknown;
  raw: unknown;
  source: ConfigSource;
}

/** The valid values of one source: by setting key, or by variable name for the environment. */
type Layer = Map<string, Candidate>;

export interface LoadedConfig {
  config: OmniQConfig;
  /** Settings accepted but without effect, for the caller to log. */
  warnings: string[];
}

const BY_KEY = new Map(SETTINGS.filter((s) => s.key).map((s) => [s.key!, s]));
const BY_ENV = new Map(SETTINGS.flatMap((s) => [s.env, s.typeEnv].filter((name) => name !== undefined).map((name) => [name, s])));
const GROUPS = new Set(SETTINGS.flatMap((s) => (s.key?.includes('.') ? [s.key.split('.')[0]!] : [])));

/**
 * Reads the configuration from its sources, highest precedence last: built-in defaults, the YAML
 * file (`configFile` / OMNIQ_CONFIG_FILE), the module options, the OMNIQ_* environment. Every
 * value of every source is validated; any problem throws OmniQConfigError listing them all.
 */
export function loadConfig(options: OmniQModuleOptions, env: NodeJS.ProcessEnv): LoadedConfig {
  const issues = new ConfigIssues();
  const envLayer = readEnv(env, issues);
  const optionsLayer = readObject(options, { kind: 'options' }, issues);
  const configFile = envLayer.get('OMNIQ_CONFIG_FILE') ?? optionsLayer.get('configFile');
  const yamlLayer = configFile ? readYamlFile(configFile, issues) : new Map<string, Candidate>();

  const pick = (key: string): Candidate | undefined => {
    const { env: name } = BY_KEY.get(key)!;
    return (name === undefined ? undefined : envLayer.get(name)) ?? optionsLayer.get(key) ?? yamlLayer.get(key);
  };
  const value = <T>(key: string): T => (pick(key)?.value ?? BY_KEY.get(key)!.default) as T;

  const baseDir = value<string>('baseDir');
  const reported = new Set<Candidate>();
  const store = (key: StoreKey): StoreOption<object> => {
    const winner = envStore(key, envLayer, issues) ?? optionsLayer.get(key) ?? optionsLayer.get('backend') ?? yamlLayer.get(key) ?? yamlLayer.get('backend');
    return resolveStore(key, winner, baseDir, (problem) => {
      // `backend` stands for several stores: its problem is reported once.
      if (!winner || reported.has(winner)) return;
      reported.add(winner);
      issues.add(describeSource(winner.setting.key, winner.source), winner.raw, problem);
    });
  };
  const [taskQueue, resultStore, eventStore] = STORE_KEYS.map(store);

  const leaseMs = value<number>('worker.leaseMs');
  const heartbeat = pick('worker.heartbeatMs');
  if (heartbeat && (heartbeat.value as number) >= leaseMs) {
    issues.add(describeSource('worker.heartbeatMs', heartbeat.source), heartbeat.raw, `must be less than worker.leaseMs (${leaseMs} ms)`);
  }
  const maintenanceIntervalMs = value<number>('maintenance.intervalMs');
  const leaderTtlMs = value<number>('maintenance.leaderTtlMs');
  if (leaderTtlMs <= maintenanceIntervalMs) {
    // Reported against whichever of the two was set (the defaults alone are consistent).
    const culprit = pick('maintenance.leaderTtlMs') ?? pick('maintenance.intervalMs')!;
    issues.add(
      describeSource(culprit.setting.key, culprit.source),
      culprit.raw,
      `maintenance.leaderTtlMs (${leaderTtlMs} ms) must be more than maintenance.intervalMs (${maintenanceIntervalMs} ms): the leader renews its lease once per interval`,
    );
  }
  issues.throwIfAny();
  const gevent = value('worker.type') === 'gevent';

  return {
    config: {
      projectName: value('projectName'),
      baseDir,
      taskQueue: taskQueue as OmniQConfig['taskQueue'],
      resultStore: resultStore as OmniQConfig['resultStore'],
      eventStore: eventStore as OmniQConfig['eventStore'],
      storageOptions: { ...value<Record<string, unknown>>('storageOptions') },
      worker: {
        enabled: value('worker.enabled'),
        id: value<string | undefined>('worker.id') ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
        concurrency: gevent ? (envLayer.get('OMNIQ_GEVENT_WORKERS')?.value as number | undefined) ?? value('worker.concurrency') : value('worker.concurrency'),
        queues: value('worker.queues'),
        pollIntervalMs: value('worker.pollIntervalMs'),
        leaseMs,
        heartbeatMs: (heartbeat?.value as number | undefined) ?? Math.max(1, Math.floor(leaseMs / 3)),
        shutdownTimeoutMs: value('worker.shutdownTimeoutMs'),
        type: gevent ? 'async' : value('worker.type'),
        threads: value('worker.threads'),
        processes: value('worker.processes'),
        poolModule: value('worker.poolModule'),
        poolRecycleHeapMb: value('worker.poolRecycleHeapMb'),
        poolMaxHeapMb: value('worker.poolMaxHeapMb'),
      },
      maintenance: {
        enabled: value('maintenance.enabled'),
        intervalMs: maintenanceIntervalMs,
        leaderTtlMs,
        maxLapses: value('maintenance.maxLapses'),
      },
      scheduler: {
        enabled: value('scheduler.enabled'),
        pollIntervalMs: value('scheduler.pollIntervalMs'),
        missedGraceMs: value('scheduler.missedGraceMs'),
      },
      taskDefaults: {
        queue: value('taskDefaults.queue'),
        priority: value('taskDefaults.priority'),
        maxRetries: value('taskDefaults.maxRetries'),
        retryDelayMs: value('taskDefaults.retryDelayMs'),
        retryBackoff: value('taskDefaults.retryBackoff'),
        retryMaxDelayMs: value('taskDefaults.retryMaxDelayMs'),
        timeoutMs: value('taskDefaults.timeoutMs'),
        ttlMs: value('taskDefaults.ttlMs'),
        resultTtlMs: value('taskDefaults.resultTtlMs'),
        storeResult: value('taskDefaults.storeResult'),
      },
      allowUnregisteredTasks: value('allowUnregisteredTasks'),
      resultPollIntervalMs: value('resultPollIntervalMs'),
      logging: {
        level: value('logging.level'),
        components: { ...value<Record<string, never>>('logging.components') },
        disabled: value('logging.disabled'),
      },
    },
    warnings: geventWarnings(envLayer, gevent),
  };
}

function add(layer: Layer, id: string, setting: Setting, raw: unknown, source: ConfigSource, issues: ConfigIssues): void {
  try {
    layer.set(id, { setting, value: convertValue(setting, raw, source), raw, source });
  } catch (error) {
    if (!(error instanceof InvalidValue)) throw error;
    issues.add(describeSource(setting.key, source), raw, error.problem);
  }
}

/** OmniQ's own test suite and benchmark read these (`OMNIQ_TEST_POSTGRES_URL`): no setting, and no typo of one. */
const DEVELOPMENT_PREFIXES = ['OMNIQ_TEST_', 'OMNIQ_BENCH_'];

function readEnv(env: NodeJS.ProcessEnv, issues: ConfigIssues): Layer {
  const layer: Layer = new Map();
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('OMNIQ_') || DEVELOPMENT_PREFIXES.some((prefix) => name.startsWith(prefix)) || raw === undefined) continue;
    const setting = BY_ENV.get(name);
    if (setting) add(layer, name, setting, raw, { kind: 'env', name }, issues);
    else issues.add(`environment variable ${name}`, raw, 'not an OmniQ setting (the settings table in the README lists the OMNIQ_* variables)');
  }
  return layer;
}

/** The settings of the module options or of the YAML file: the same keys, `worker`, `taskDefaults` and `logging` nested. */
function readObject(object: object, source: ConfigSource, issues: ConfigIssues, prefix = '', layer: Layer = new Map()): Layer {
  for (const [name, raw] of Object.entries(object)) {
    if (raw === undefined) continue;
    const key = prefix + name;
    const setting = BY_KEY.get(key);
    if (setting && !(setting.notInYaml && source.kind === 'yaml')) {
      add(layer, key, setting, raw, source, issues);
    } else if (!prefix && GROUPS.has(key)) {
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) readObject(raw, source, issues, `${key}.`, layer);
      else issues.add(describeSource(key, source), raw, `expected ${source.kind === 'yaml' ? 'a mapping' : 'an object'} of ${key} settings`);
    } else {
      issues.add(describeSource(key, source), raw, `unknown key; known keys${prefix ? ` of ${prefix.slice(0, -1)}` : ''}: ${knownKeys(prefix, source).join(', ')}`);
    }
  }
  return layer;
}

function knownKeys(prefix: string, source: ConfigSource): string[] {
  const names = SETTINGS.filter((s) => s.key?.startsWith(prefix) && !(s.notInYaml && source.kind === 'yaml')).map((s) => s.key!.slice(prefix.length).split('.')[0]!);
  return [...new Set(names)];
}

function readYamlFile(file: Candidate, issues: ConfigIssues): Layer {
  const path = resolve(file.value as string);
  const fail = (problem: string): Layer => {
    issues.add(describeSource('configFile', file.source), file.raw, problem);
    return new Map();
  };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    return fail(code === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (error) {
    // The parser's message ends with a code excerpt over several lines; its first line has the position.
    return fail(`malformed YAML in ${path}: ${(error as Error).message.split('\n')[0]!.replace(/:$/, '')}`);
  }
  if (document === null || document === undefined) return new Map();
  if (typeof document !== 'object' || Array.isArray(document)) return fail(`${path} must hold a mapping of settings`);
  return readObject(document, { kind: 'yaml', file: path }, issues);
}

/** The environment's choice for a store: its URL variable, else its type variable; both must agree. */
function envStore(key: StoreKey, envLayer: Layer, issues: ConfigIssues): Candidate | undefined {
  const setting = BY_KEY.get(key)!;
  const url = envLayer.get(setting.env!);
  const type = envLayer.get(setting.typeEnv!);
  if (url && type) {
    const scheme = urlScheme((url.value as { url: string }).url);
    const named = (type.value as { type: string }).type;
    if (scheme !== named) issues.add(describeSource(key, type.source), type.raw, `disagrees with ${setting.env}=${String(url.raw)}`);
  }
  return url ?? type;
}

/** The store option a winning candidate stands for; `report` receives the problem of a URL no backend serves. */
function resolveStore(key: StoreKey, winner: Candidate | undefined, baseDir: string, report: (problem: string) => void): StoreOption<object> {
  const spec = (winner?.value ?? { type: BY_KEY.get('backend')!.default }) as StoreSpec;
  if ('instance' in spec) return spec.instance;
  const url = 'url' in spec ? spec.url : defaultBackendUrl(spec.type, baseDir)!;
  const problem = backendProblem(key, url);
  if (problem) report(problem);
  return url;
}

/** OMNIQ_GEVENT_WORKERS sizes the `gevent` worker only: elsewhere it is said to have no effect. */
function geventWarnings(envLayer: Layer, gevent: boolean): string[] {
  const given = envLayer.get('OMNIQ_GEVENT_WORKERS');
  if (!given || gevent) return [];
  return [`OMNIQ_GEVENT_WORKERS=${String(given.raw)} has no effect: it sets the concurrency of the gevent worker only (OMNIQ_DEFAULT_WORKER=gevent); OMNIQ_MAX_WORKERS sets the async worker's`];
}
