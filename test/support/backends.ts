import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OmniQModuleOptions } from '../../lib/index.js';
import type { Backend, BackendContext, StorageEngine } from '../../lib/storage/engine.js';
import { memoryBackend } from '../../lib/backends/memory/memory.backend.js';
import { sqliteBackend } from '../../lib/backends/sqlite/sqlite.backend.js';
import { fileBackend } from '../../lib/backends/file/file.backend.js';
import { postgresBackend } from '../../lib/backends/postgres/postgres.backend.js';
import { redisBackend } from '../../lib/backends/redis/redis.backend.js';
import { natsBackend } from '../../lib/backends/nats/nats.backend.js';
import { freshSchema, postgresAvailable, postgresUrl } from './postgres.js';
import { freshPrefix, redisAvailable, redisUrl } from './redis.js';
import { freshNatsPrefix, natsAvailable, natsUrl } from './nats.js';

/** A backend the core specs run on: `url()` gives a URL on fresh, empty storage each call. */
export interface TestBackend {
  name: string;
  url(): string;
  /** Whether the backend's specs run here (a server backend needs its server); default yes. */
  available?(): boolean;
  /** Fresh storage that several apps of one test share, as several processes would. */
  shared(): Promise<SharedStorage>;
}

/**
 * Storage shared by the apps of one test. `options` gives an app its stores on it (on memory the
 * same store instances, on the others the same URL, so each app opens its own engine on the file
 * or folder); `engine` is one more instance, for the test to read and change the storage directly.
 */
export interface SharedStorage {
  options: Pick<OmniQModuleOptions, 'backend' | 'taskQueue' | 'resultStore' | 'eventStore'>;
  engine: StorageEngine;
  close(): Promise<void>;
}

const context = (baseDir: string): BackendContext => ({ projectName: 'omniq', baseDir, storageOptions: {} });

/** Shared storages of the current test, closed after it (after the test's own hooks closed its apps). */
const sharedEngines: StorageEngine[] = [];

async function sharedOn(url: string, open: Backend['open']): Promise<SharedStorage> {
  const engine = await open(url, context(tmpdir()));
  sharedEngines.push(engine);
  return { options: { backend: url }, engine, close: () => engine.close() };
}

const folders: string[] = [];

function freshFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'omniq-spec-'));
  folders.push(dir);
  return dir;
}

/** Every built-in backend. Storage made by `url()` is removed after the spec file. */
export const TEST_BACKENDS: readonly TestBackend[] = [
  {
    name: 'memory',
    url: () => 'memory://',
    async shared() {
      const engine = await memoryBackend.open('memory://', context(tmpdir()));
      sharedEngines.push(engine);
      return { options: { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events }, engine, close: () => engine.close() };
    },
  },
  {
    name: 'sqlite',
    url: () => `sqlite://${join(freshFolder(), 'omniq.db')}`,
    shared: () => sharedOn(`sqlite://${join(freshFolder(), 'omniq.db')}`, sqliteBackend.open),
  },
  {
    name: 'file',
    url: () => `file://${join(freshFolder(), 'data')}`,
    shared: () => sharedOn(`file://${join(freshFolder(), 'data')}`, fileBackend.open),
  },
  {
    // Each storage a schema of its own on the test server, dropped after the spec file.
    name: 'postgres',
    available: postgresAvailable,
    url: () => postgresUrl(freshSchema()),
    shared: () => sharedOn(postgresUrl(freshSchema()), postgresBackend.open),
  },
  {
    // Each storage a key prefix of its own on the test server, its keys deleted after the spec file.
    name: 'redis',
    available: redisAvailable,
    url: () => redisUrl(freshPrefix()),
    shared: () => sharedOn(redisUrl(freshPrefix()), redisBackend.open),
  },
  {
    // Each storage a prefix of its own (streams and buckets) on the test server, removed after the spec file.
    name: 'nats',
    available: natsAvailable,
    url: () => natsUrl(freshNatsPrefix()),
    shared: () => sharedOn(natsUrl(freshNatsPrefix()), natsBackend.open),
  },
];

/**
 * Runs a block of specs once per backend, so the worker, workflow, scheduler and service
 * behaviour is proven on each store, not on memory alone.
 */
export function describeOnEveryBackend(title: string, specs: (backend: TestBackend) => void): void {
  const here = TEST_BACKENDS.filter((backend) => backend.available?.() ?? true);
  describe.each(here.map((backend) => [backend.name, backend] as const))(`${title} (%s)`, (_name, backend) => specs(backend));
}

afterEach(async () => {
  await Promise.all(sharedEngines.splice(0).map((engine) => engine.close()));
});

afterAll(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});
