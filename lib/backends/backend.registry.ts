import { resolve } from 'node:path';
import type { Backend } from '../storage/engine.js';
import { OmniQError } from '../errors/omniq.errors.js';

export class BackendUrlError extends OmniQError {
  override name = 'BackendUrlError';
}

/** A backend's driver package is not installed: the message names the package and the install command. */
export class BackendDriverMissingError extends OmniQError {
  override name = 'BackendDriverMissingError';
  constructor(
    readonly scheme: string,
    readonly packageName: string,
  ) {
    super(`The ${scheme} backend needs the package "${packageName}", which is not installed: run npm install ${packageName}`);
  }
}

interface BackendEntry {
  /** What the URL's scheme stands for, in messages. */
  readonly title: string;
  /** Imports the backend module (and through it the backend's drivers) only when a URL of its scheme is used. */
  readonly load: () => Promise<Backend>;
  /** The URL the type name alone stands for (`OMNIQ_TASK_QUEUE_TYPE=sqlite`). */
  readonly defaultUrl: (baseDir: string) => string;
}

const POSTGRES: BackendEntry = {
  title: 'PostgreSQL (pg)',
  load: async () => (await import('./postgres/postgres.backend.js')).postgresBackend,
  defaultUrl: () => 'postgres://localhost:5432/postgres',
};

const REDIS: BackendEntry = {
  title: 'Redis (ioredis)',
  load: async () => (await import('./redis/redis.backend.js')).redisBackend,
  defaultUrl: () => 'redis://localhost:6379',
};

const NATS: BackendEntry = {
  title: 'NATS JetStream (@nats-io/transport-node)',
  load: async () => (await import('./nats/nats.backend.js')).natsBackend,
  defaultUrl: () => 'nats://localhost:4222',
};

/** Every built-in backend, by URL scheme. The config schema reads its scheme list from here. */
const BACKENDS: Readonly<Record<string, BackendEntry>> = {
  memory: {
    title: 'in-process memory',
    load: async () => (await import('./memory/memory.backend.js')).memoryBackend,
    defaultUrl: () => 'memory://',
  },
  file: {
    title: 'a folder of JSON files',
    load: async () => (await import('./file/file.backend.js')).fileBackend,
    defaultUrl: (baseDir) => `file://${resolve(baseDir)}`,
  },
  sqlite: {
    title: 'SQLite (better-sqlite3)',
    load: async () => (await import('./sqlite/sqlite.backend.js')).sqliteBackend,
    defaultUrl: (baseDir) => `sqlite://${resolve(baseDir, 'omniq.db')}`,
  },
  postgres: POSTGRES,
  postgresql: POSTGRES,
  redis: REDIS,
  rediss: REDIS,
  nats: NATS,
  tls: NATS,
};

/** The URL schemes of the built-in backends, in the order the docs list them. */
export const BACKEND_SCHEMES: readonly string[] = Object.keys(BACKENDS);

/** The URL a backend type name alone stands for (`sqlite` → `sqlite://<baseDir>/omniq.db`); undefined for an unknown type. */
export function defaultBackendUrl(type: string, baseDir: string): string | undefined {
  return BACKENDS[type.toLowerCase()]?.defaultUrl(baseDir);
}

/** The scheme of a store URL; throws naming the option and the URL when it is malformed or unknown. */
export function backendScheme(option: string, url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (!scheme) {
    throw new BackendUrlError(
      `${option}: "${url}" is not a valid backend URL (expected <backend>://..., e.g. ${BACKEND_SCHEMES.map((s) => `${s}://`).join(', ')})`,
    );
  }
  if (!BACKENDS[scheme]) {
    throw new BackendUrlError(`${option}: unknown backend "${scheme}" in "${url}"; known backends: ${BACKEND_SCHEMES.join(', ')}`);
  }
  return scheme;
}

/**
 * Loads the backend of a URL's scheme. A driver package that is not installed fails with
 * BackendDriverMissingError naming it, instead of Node's module-resolution error.
 */
export async function loadBackend(option: string, url: string): Promise<Backend> {
  const scheme = backendScheme(option, url);
  try {
    return await BACKENDS[scheme]!.load();
  } catch (error) {
    const missing = missingPackage(error);
    if (missing) throw new BackendDriverMissingError(scheme, missing);
    throw error;
  }
}

/** The package an ESM import could not find (`Cannot find package 'pg' imported from …`), if that is what failed. */
export function missingPackage(error: unknown): string | undefined {
  if ((error as { code?: string } | null)?.code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  return /Cannot find package '([^']+)'/.exec((error as Error).message)?.[1];
}
