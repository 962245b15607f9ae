import { recordKey } from '../../lib/backends/kv/kv-task-codec.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { describeEngineConformance, type ConformanceTarget, type DamageField } from '../../lib/testing/index.js';
import { deleteNatsPrefixes, describeOnNats, freshNatsPrefix, natsUrl, withNats } from '../support/nats.js';

const PROJECT = 'conformance';

const loadNats = async () => (await import('../../lib/backends/nats/nats.backend.js')).natsBackend;

/** What each damage does to the stored task, as an old bug writing through KV would. */
function damaged(task: Record<string, unknown>, field: DamageField): void {
  switch (field) {
    case 'status':
      task.status = 'zzz';
      break;
    case 'runAt':
      delete task.runAt;
      break;
    case 'tags':
      task.tags = 'not, a, list';
      break;
    case 'dependsOn':
      delete task.dependsOn;
      break;
    case 'lastError':
      task.lastError = 42;
      break;
    case 'payload':
      task.payload = { format: 'bogus', data: '\u0001\u0002' };
      break;
  }
}

/** A name prefix of its own for each case on the shared test server; a peer opens the same URL again, as another process would. */
function natsTarget(): ConformanceTarget {
  const prefixes = new Map<StorageEngine, string>();
  const prefixOf = (engine: StorageEngine, call: string): string => {
    const prefix = prefixes.get(engine);
    if (!prefix) throw new Error(`nats: ${call}() got an engine this target did not open`);
    return prefix;
  };
  const open = async (prefix: string): Promise<StorageEngine> => (await loadNats()).open(natsUrl(prefix), { projectName: PROJECT, baseDir: '.', storageOptions: {} });
  return {
    name: 'nats',
    async open() {
      const prefix = freshNatsPrefix();
      const engine = await open(prefix);
      prefixes.set(engine, prefix);
      return engine;
    },
    openPeer: (engine) => open(prefixOf(engine, 'openPeer')),
    /** Rewrites the task's KV entry with a connection of the test's own, by compare-and-swap, as another program would. */
    async damage(engine, taskId, field) {
      const bucket = `${prefixOf(engine, 'damage')}_${PROJECT}_tasks`;
      await withNats(async (nc) => {
        const { Kvm } = await import('@nats-io/kv');
        const kv = await new Kvm(nc).open(bucket);
        const entry = await kv.get(recordKey(taskId));
        if (entry?.operation !== 'PUT') throw new Error(`damage(): no task ${taskId} in ${bucket}`);
        const envelope = entry.json<{ body: { task: Record<string, unknown> } }>();
        damaged(envelope.body.task, field);
        await kv.update(recordKey(taskId), JSON.stringify(envelope), entry.revision);
      });
    },
    async cleanup() {
      const made = [...prefixes.values()];
      prefixes.clear();
      await deleteNatsPrefixes(made);
    },
  };
}

describeOnNats('NATS', () => describeEngineConformance(natsTarget()));
