import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Injectable } from '@nestjs/common';
import { NonRetryableError, Task, type EncodedValue } from '../../lib/index.js';
import { MemoryEngine } from '../../lib/backends/memory/memory.engine.js';
import type { OmniQModuleOptions } from '../../lib/index.js';
import { freshSchema, onPostgres, postgresUrl, quoted, withPostgres } from '../support/postgres.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

@Injectable()
class FailingTask {
  @Task('undecodable.fail', { maxRetries: 0 })
  fail(): never {
    throw new NonRetryableError('failed on purpose');
  }

  @Task('undecodable.echo')
  echo(payload: unknown): unknown {
    return payload;
  }
}

/** A storage to boot the app on, and a way to overwrite a stored task's payload behind its back. */
interface DamageableStorage {
  options: OmniQModuleOptions;
  setPayload(taskId: string, payload: EncodedValue): void | Promise<void>;
  close(): Promise<void>;
}

const storages: Array<[string, () => DamageableStorage]> = [
  [
    'memory',
    () => {
      const engine = new MemoryEngine();
      return {
        options: { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events },
        setPayload: (taskId, payload) => {
          engine['storage'].tasks.slots.get(taskId)!.rec.payload = payload;
        },
        close: () => engine.close(),
      };
    },
  ],
  [
    'sqlite',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'omniq-undecodable-'));
      const path = join(dir, 'omniq.db');
      return {
        options: { backend: `sqlite://${path}` },
        setPayload: (taskId, payload) => {
          const db = new Database(path);
          try {
            db.prepare('UPDATE "omniq_tasks" SET payload_format = ?, payload_data = ? WHERE id = ?').run(payload.format, payload.data, taskId);
          } finally {
            db.close();
          }
        },
        close: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  ],
  ...onPostgres<[string, () => DamageableStorage]>([
    'postgres',
    () => {
      const schema = freshSchema();
      return {
        options: { backend: postgresUrl(schema) },
        setPayload: (taskId, payload) =>
          withPostgres(async (client) => {
            await client.query(`UPDATE ${quoted(schema)}."omniq_tasks" SET payload_format = $1, payload_data = $2 WHERE id = $3`, [payload.format, payload.data, taskId]);
          }),
        close: async () => {},
      };
    },
  ]),
];

const OTHER_FORMAT: EncodedValue = { format: 'msgpack/2', data: 'gqFhAQ==' };
const BROKEN_JSON: EncodedValue = { format: 'omniq-json/1', data: '{"order":' };

describe.each(storages)('a task whose stored payload cannot be decoded, on %s', (_name, open) => {
  let storage: DamageableStorage;
  let app: TestApp;

  beforeEach(async () => {
    storage = open();
    app = await createTestApp({ ...storage.options, worker: { pollIntervalMs: 20 }, scheduler: { enabled: false } }, [FailingTask]);
  });
  afterEach(async () => {
    await app.close();
    await storage.close();
  });

  it('is shown raw and flagged by getTask, getTasks and listTasks, beside the tasks that decode', async () => {
    const ids = await app.omniq.enqueueMany(['good', 'other format', 'broken'].map((label) => ({ name: 'undecodable.echo', payload: { label }, options: { delayMs: 600_000 } })));
    const [good, other, broken] = ids as [string, string, string];
    await storage.setPayload(other, OTHER_FORMAT);
    await storage.setPayload(broken, BROKEN_JSON);

    const otherTask = await app.omniq.getTask(other);
    expect(otherTask).toMatchObject({ id: other, status: 'scheduled', payload: undefined, undecodable: { raw: OTHER_FORMAT } });
    expect(otherTask!.undecodable!.reason).toBe(`cannot decode stored payload of task ${other}: unknown format 'msgpack/2'; this codec reads 'omniq-json/1'`);
    const brokenTask = await app.omniq.getTask(broken);
    expect(brokenTask).toMatchObject({ payload: undefined, undecodable: { raw: BROKEN_JSON } });
    expect(brokenTask!.undecodable!.reason).toContain('malformed JSON');

    const page = await app.omniq.listTasks({ name: 'undecodable.echo' });
    expect(page.total).toBe(3);
    expect(page.items.map((task) => [task.id, task.payload, task.undecodable?.raw])).toEqual([
      [good, { label: 'good' }, undefined],
      [other, undefined, OTHER_FORMAT],
      [broken, undefined, BROKEN_JSON],
    ]);
    expect(page.items[0]).not.toHaveProperty('undecodable');
    expect((await app.omniq.getTasks(ids)).map((task) => task?.undecodable?.raw)).toEqual([undefined, OTHER_FORMAT, BROKEN_JSON]);
  });

  it('is shown raw and flagged among the dead letters', async () => {
    const [first, second] = await app.omniq.enqueueMany([
      { name: 'undecodable.fail', payload: 1 },
      { name: 'undecodable.fail', payload: 2 },
    ]);
    await Promise.all([app.omniq.waitForResult(first!), app.omniq.waitForResult(second!)]);
    await storage.setPayload(first!, BROKEN_JSON);

    const dead = await app.omniq.listDeadLetters('default');
    expect(dead.items.map((task) => [task.id, task.payload, task.undecodable?.raw, task.lastError?.message])).toEqual([
      [first, undefined, BROKEN_JSON, 'failed on purpose'],
      [second, 2, undefined, 'failed on purpose'],
    ]);
  });
});
