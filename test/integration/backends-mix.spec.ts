import { jest } from '@jest/globals';
import { Injectable, Logger } from '@nestjs/common';
import { mkdir, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Task } from '../../lib/index.js';
import { recordKey as fileKey } from '../../lib/backends/kv/kv-task-codec.js';
import { freshSchema, postgresAvailable, postgresUrl } from '../support/postgres.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

@Injectable()
class MixTasks {
  @Task('mix.echo')
  echo(payload: { n: number }): number {
    return payload.n * 10;
  }
}

describe('backends in a real app', () => {
  let dir: string;
  const apps: TestApp[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-mix-'));
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const boot = async (...args: Parameters<typeof createTestApp>): Promise<TestApp> => {
    const app = await createTestApp(...args);
    apps.push(app);
    return app;
  };

  it("writes a backend's own log lines through OmniQ's logging settings", async () => {
    const errors = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const root = join(dir, 'quiet');
      const quiet = await boot({ backend: `file://${root}`, worker: { enabled: false }, logging: { components: { OmniQFileResultStore: 'fatal' } } }, [MixTasks]);
      const loud = await boot({ backend: `file://${join(dir, 'loud')}`, worker: { enabled: false } }, [MixTasks]);
      for (const [t, folder] of [[quiet, root], [loud, join(dir, 'loud')]] as const) {
        await mkdir(join(folder, 'omniq', 'results'), { recursive: true });
        await writeFile(join(folder, 'omniq', 'results', `${fileKey('damaged')}.json`), '{ not json');
        // A scan passes over the damaged file, logging it.
        expect((await t.omniq.purgeExpired()).purgedResults).toBe(0);
      }
      const damaged = errors.mock.calls.map(([message]) => String(message)).filter((message) => message.includes('damaged result file'));
      expect(damaged.some((message) => message.includes(join(dir, 'loud')))).toBe(true);
      expect(damaged.filter((message) => message.includes(root))).toEqual([]);
    } finally {
      errors.mockRestore();
    }
  });

  it('runs tasks with the queue, results and events on three different backends', async () => {
    const t = await boot(
      { taskQueue: 'memory://', resultStore: `sqlite://${join(dir, 'results.db')}`, eventStore: `file://${join(dir, 'events')}` },
      [MixTasks],
    );
    const id = await t.omniq.enqueue('mix.echo', { n: 4 });
    expect((await t.omniq.waitForResult(id)).value).toBe(40);
    expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
    await t.close();
    apps.splice(0);
    const reopened = await boot(
      { taskQueue: 'memory://', resultStore: `sqlite://${join(dir, 'results.db')}`, eventStore: `file://${join(dir, 'events')}`, worker: { enabled: false } },
      [MixTasks],
    );
    expect((await reopened.omniq.getResult(id))?.value).toBe(40);
    expect(await reopened.omniq.getEvents({ taskId: id })).toHaveLength(3);
  });

  (postgresAvailable() ? it : it.skip)('keeps results and events on PostgreSQL beside a SQLite task queue, each written after the task ends', async () => {
    const postgres = postgresUrl(freshSchema());
    const t = await boot({ taskQueue: `sqlite://${join(dir, 'queue.db')}`, resultStore: postgres, eventStore: postgres }, [MixTasks]);
    const id = await t.omniq.enqueue('mix.echo', { n: 5 });
    expect((await t.omniq.waitForResult(id)).value).toBe(50);
    await t.worker.close();
    expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
    await t.close();
    apps.splice(0);
    const reopened = await boot({ taskQueue: 'memory://', resultStore: postgres, eventStore: postgres, worker: { enabled: false } }, [MixTasks]);
    expect((await reopened.omniq.getResult(id))?.value).toBe(50);
  });

  it('keeps two projects sharing one database apart', async () => {
    const backend = `sqlite://${join(dir, 'shared.db')}`;
    const billing = await boot({ backend, projectName: 'billing', worker: { enabled: false } }, [MixTasks]);
    const shipping = await boot({ backend, projectName: 'shipping', worker: { enabled: false } }, [MixTasks]);
    const id = await billing.omniq.enqueue('mix.echo', { n: 1 });
    expect(await shipping.omniq.getTask(id)).toBeUndefined();
    expect(await shipping.omniq.stats()).toEqual({});
    expect((await billing.omniq.stats()).default?.pending).toBe(1);
  });

  it('fails a task whose stored payload cannot be decoded, with a clear error, and goes on with the next', async () => {
    const file = join(dir, 'omniq.db');
    const producer = await boot({ backend: `sqlite://${file}`, worker: { enabled: false } }, [MixTasks]);
    const [broken, healthy] = await producer.omniq.enqueueMany([
      { name: 'mix.echo', payload: { n: 1 } },
      { name: 'mix.echo', payload: { n: 2 } },
    ]);
    const db = new Database(file);
    db.prepare('UPDATE omniq_tasks SET payload_data = ? WHERE id = ?').run('{"n": tru', broken);
    db.close();
    const worker = await boot({ backend: `sqlite://${file}` }, [MixTasks]);
    const failed = await worker.omniq.waitForResult(broken!);
    expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'PayloadDecodingError' } });
    expect(failed.error?.message).toContain(`cannot decode stored payload of task mix.echo ${broken}: malformed JSON`);
    expect((await worker.omniq.waitForResult(healthy!)).value).toBe(20);
  });

  it('fails the bootstrap naming a database path that cannot be written', async () => {
    const blocker = join(dir, 'not-a-dir');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(blocker, 'a file where a folder should be');
    await expect(createTestApp({ backend: `sqlite://${join(blocker, 'omniq.db')}` }, [MixTasks])).rejects.toThrow(
      `SQLite database "${join(blocker, 'omniq.db')}" cannot be opened`,
    );
  });
});
