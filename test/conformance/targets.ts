import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, BackendContext, StorageEngine } from '../../lib/storage/engine.js';
import type { ConformanceTarget, DamageField } from '../../lib/testing/index.js';

export const context = (baseDir: string): BackendContext => ({ projectName: 'conformance', baseDir, storageOptions: {} });

/**
 * The conformance targets, one spec file per backend so that jest runs them side by side.
 * Each backend is imported when its first case opens an engine, as the registry loads them, so a
 * backend that fails to load fails its own cases only.
 */
export const loadMemory = async (): Promise<Backend> => (await import('../../lib/backends/memory/memory.backend.js')).memoryBackend;
export const loadSqlite = async (): Promise<Backend> => (await import('../../lib/backends/sqlite/sqlite.backend.js')).sqliteBackend;
export const loadFile = async (): Promise<Backend> => (await import('../../lib/backends/file/file.backend.js')).fileBackend;
export const loadPostgres = async (): Promise<Backend> => (await import('../../lib/backends/postgres/postgres.backend.js')).postgresBackend;

/** A memory engine opens peers on its own storage (the memory backend has no URL that names one). */
export type PeerableEngine = StorageEngine & { peer(): StorageEngine | Promise<StorageEngine> };

/**
 * A backend on a folder of its own for each case: `url` names the storage in that folder, and a
 * peer opens the same URL again, as another process would.
 */
export function folderTarget(
  name: string,
  load: () => Promise<Backend>,
  url: (dir: string) => string,
  damage?: (storage: { url: string; dir: string }, taskId: string, field: DamageField) => Promise<void>,
): ConformanceTarget {
  const dirs: string[] = [];
  const urls = new Map<StorageEngine, { url: string; dir: string }>();
  return {
    name,
    async open() {
      const dir = await mkdtemp(join(tmpdir(), `omniq-conformance-${name}-`));
      dirs.push(dir);
      const engine = await (await load()).open(url(dir), context(dir));
      urls.set(engine, { url: url(dir), dir });
      return engine;
    },
    async openPeer(engine) {
      const opened = urls.get(engine);
      if (!opened) throw new Error(`${name}: openPeer() got an engine this target did not open`);
      return (await load()).open(opened.url, context(opened.dir));
    },
    damage:
      damage &&
      (async (engine, taskId, field) => {
        const opened = urls.get(engine);
        if (!opened) throw new Error(`${name}: damage() got an engine this target did not open`);
        await damage(opened, taskId, field);
      }),
    async cleanup() {
      urls.clear();
      for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
    },
  };
}

