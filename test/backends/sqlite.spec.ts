import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource, EntitySchema } from 'typeorm';
import type { BackendContext } from '../../lib/backends/backend.registry.js';
import { SharedResources } from '../../lib/backends/shared-resources.js';
import { sqliteDatabasePath } from '../../lib/backends/sqlite/sqlite-connection.js';
import { sqliteBackend, sqliteStoresFromDataSource } from '../../lib/backends/sqlite/index.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { describeEventStoreConformance } from '../conformance/event-store.conformance.js';
import { ids, newEvent, newResult, newTask, reserveRequest, taskError, testClock } from '../conformance/fixtures.js';
import { describeResultStoreConformance } from '../conformance/result-store.conformance.js';
import { describeScheduleStoreConformance, newSchedule } from '../conformance/schedule-store.conformance.js';
import { describeTaskQueueConformance } from '../conformance/task-queue.conformance.js';

/** Temp folders made by the current test; removed after it (the suites close their stores first). */
const folders: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omniq-sqlite-'));
  folders.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The context of one OmniQ module: stores made with the same context share connections. */
function moduleContext(projectName = 'omniq'): BackendContext {
  return { projectName, baseDir: './omniq_data', storageOptions: {}, resources: new SharedResources() };
}

const fileUrl = (dir: string): string => `sqlite://${join(dir, 'omniq.db')}`;

describeTaskQueueConformance('sqlite', async () => sqliteBackend.createTaskQueue(fileUrl(await tempDir()), moduleContext()));
describeResultStoreConformance('sqlite', async () => sqliteBackend.createResultStore(fileUrl(await tempDir()), moduleContext()));
describeEventStoreConformance('sqlite', async () => sqliteBackend.createEventStore(fileUrl(await tempDir()), moduleContext()));
describeScheduleStoreConformance('sqlite', async () => sqliteBackend.createTaskQueue(fileUrl(await tempDir()), moduleContext()));

describe('SQLite backend', () => {
  /** Stores to close after the test, in reverse order of opening. */
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const store of opened.splice(0).reverse()) await store.close();
  });
  const track = <S extends { close(): Promise<void> }>(store: S): S => {
    opened.push(store);
    return store;
  };

  /** A DataSource on the file, to look at what the stores wrote. */
  async function inspect<T>(path: string, look: (dataSource: DataSource) => Promise<T>): Promise<T> {
    const dataSource = await new DataSource({ type: 'better-sqlite3', database: path }).initialize();
    try {
      return await look(dataSource);
    } finally {
      await dataSource.destroy();
    }
  }

  const tableNames = (dataSource: DataSource): Promise<string[]> =>
    dataSource
      .query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
      .then((rows: { name: string }[]) => rows.map((row) => row.name));

  it('reads sqlite:// URLs as relative, absolute or in-memory databases', () => {
    expect(sqliteDatabasePath('sqlite://./omniq_data/omniq.db')).toBe(resolve('omniq_data/omniq.db'));
    expect(sqliteDatabasePath('sqlite:///var/data/omniq.db')).toBe('/var/data/omniq.db');
    expect(sqliteDatabasePath('sqlite://:memory:')).toBe(':memory:');
    expect(() => sqliteDatabasePath('sqlite://')).toThrow(/names no SQLite database/);
  });

  it('creates missing folders, uses WAL and records its migrations under the project prefix', async () => {
    const path = join(await tempDir(), 'nested', 'deeper', 'omniq.db');
    const context = moduleContext();
    track(await sqliteBackend.createTaskQueue(`sqlite://${path}`, context));
    const [journal, migrations, tables] = await inspect(path, async (dataSource) => [
      await dataSource.query('PRAGMA journal_mode'),
      await dataSource.query('SELECT name FROM omniq_migrations'),
      await tableNames(dataSource),
    ]);
    expect(journal).toEqual([{ journal_mode: 'wal' }]);
    expect(migrations).toEqual([{ name: 'InitialSchema1795464000000' }, { name: 'AddSchedules1795465000000' }]);
    expect(tables).toEqual(
      expect.arrayContaining(['omniq_events', 'omniq_migrations', 'omniq_results', 'omniq_task_deps', 'omniq_tasks']),
    );
  });

  it('migrates a new file once when several connections migrate it at the same moment', async () => {
    const path = join(await tempDir(), 'omniq.db');
    const dataSources = await Promise.all([1, 2, 3].map(() => new DataSource({ type: 'better-sqlite3', database: path }).initialize()));
    try {
      const stores = await Promise.all(dataSources.map((dataSource) => sqliteStoresFromDataSource(dataSource)));
      const task = newTask();
      await stores[0]!.taskQueue.enqueue([task]);
      expect((await stores[2]!.taskQueue.get(task.id))?.status).toBe('pending');
      const migrations = await dataSources[1]!.query('SELECT name FROM omniq_migrations ORDER BY id');
      expect(migrations).toEqual([{ name: 'InitialSchema1795464000000' }, { name: 'AddSchedules1795465000000' }]);
    } finally {
      await Promise.all(dataSources.map((dataSource) => dataSource.destroy()));
    }
  });

  it('upgrades a file made by an older version: runs only the migrations it lacks', async () => {
    const path = join(await tempDir(), 'omniq.db');
    const task = newTask();
    const older = await sqliteBackend.createTaskQueue(`sqlite://${path}`, moduleContext());
    await older.enqueue([task]);
    await older.close();
    await inspect(path, async (dataSource) => {
      await dataSource.query('DROP TABLE omniq_schedules');
      await dataSource.query(`DELETE FROM omniq_migrations WHERE name = 'AddSchedules1795465000000'`);
    });

    const upgraded = track(await sqliteBackend.createTaskQueue(`sqlite://${path}`, moduleContext()));
    expect((await upgraded.get(task.id))?.status).toBe('pending');
    expect(await upgraded.schedules?.listSchedules()).toEqual([]);
    const migrations = await inspect(path, (dataSource) => dataSource.query('SELECT name FROM omniq_migrations ORDER BY id'));
    expect(migrations).toEqual([{ name: 'InitialSchema1795464000000' }, { name: 'AddSchedules1795465000000' }]);
  });

  it('names the path and the reason when the database cannot be created', async () => {
    const notAFolder = join(await tempDir(), 'plain-file');
    await writeFile(notAFolder, 'not a folder');
    const path = join(notAFolder, 'sub', 'omniq.db');
    await expect(sqliteBackend.createTaskQueue(`sqlite://${path}`, moduleContext())).rejects.toThrow(
      `SQLite database "${path}" cannot be opened: ENOTDIR`,
    );
    if (process.platform === 'linux') {
      await expect(sqliteBackend.createEventStore('sqlite:///proc/omniq-test/omniq.db', moduleContext())).rejects.toThrow(
        /^SQLite database "\/proc\/omniq-test\/omniq.db" cannot be opened: ENOENT/,
      );
    }
  });

  it('keeps tasks, results and events when the file is closed and opened again', async () => {
    const url = fileUrl(await tempDir());
    const first = moduleContext();
    const queue = await sqliteBackend.createTaskQueue(url, first);
    const results = await sqliteBackend.createResultStore(url, first);
    const events = await sqliteBackend.createEventStore(url, first);
    const task = newTask({ tags: ['kept'] });
    const result = newResult({ taskId: task.id });
    const event = newEvent({ taskId: task.id });
    await queue.enqueue([task]);
    await results.put([result]);
    await events.append([event]);
    await Promise.all([queue.close(), results.close(), events.close()]);

    const again = moduleContext();
    const reopenedQueue = track(await sqliteBackend.createTaskQueue(url, again));
    const reopenedResults = track(await sqliteBackend.createResultStore(url, again));
    const reopenedEvents = track(await sqliteBackend.createEventStore(url, again));
    expect(await reopenedQueue.get(task.id)).toMatchObject({ ...task, status: 'pending' });
    expect(await reopenedResults.get(task.id)).toEqual(result);
    expect(await reopenedEvents.query({ taskId: task.id })).toEqual([event]);
    expect(ids(await reopenedQueue.reserve(reserveRequest()))).toEqual([task.id]);
  });

  it('shares one connection among the stores of a module, even in memory', async () => {
    const context = moduleContext();
    const queue = track(await sqliteBackend.createTaskQueue('sqlite://:memory:', context));
    const results = await sqliteBackend.createResultStore('sqlite://:memory:', context);
    const task = newTask();
    await queue.enqueue([task]);
    await results.put([newResult({ taskId: task.id })]);
    await results.close();
    expect((await queue.get(task.id))?.status).toBe('pending');

    const otherModule = track(await sqliteBackend.createTaskQueue('sqlite://:memory:', moduleContext()));
    expect(await otherModule.get(task.id)).toBeUndefined();
  });

  it('never hands one task to two connections on the same file', async () => {
    const url = fileUrl(await tempDir());
    const processA = track(await sqliteBackend.createTaskQueue(url, moduleContext()));
    const processB = track(await sqliteBackend.createTaskQueue(url, moduleContext()));
    const tasks = Array.from({ length: 200 }, () => newTask());
    await processA.enqueue(tasks);

    const drain = async (store: TaskQueueStore, workerId: string): Promise<string[]> => {
      const taken: string[] = [];
      for (;;) {
        const batch = await store.reserve(reserveRequest({ workerId, limit: 7 }));
        if (batch.length === 0) return taken;
        taken.push(...ids(batch));
        await new Promise((next) => setImmediate(next));
      }
    };
    const [fromA, fromB] = await Promise.all([drain(processA, 'a'), drain(processB, 'b')]);
    const all = [...fromA, ...fromB];
    expect(fromA.length).toBeGreaterThan(0);
    expect(fromB.length).toBeGreaterThan(0);
    expect(all).toHaveLength(200);
    expect(new Set(all)).toEqual(new Set(ids(tasks)));
  });

  it('lets a second connection settle and reclaim what the first reserved', async () => {
    const url = fileUrl(await tempDir());
    const processA = track(await sqliteBackend.createTaskQueue(url, moduleContext()));
    const processB = track(await sqliteBackend.createTaskQueue(url, moduleContext()));
    const now = Date.now();
    const task = newTask({ createdAt: new Date(now) });
    await processA.enqueue([task]);
    const [held] = await processA.reserve(reserveRequest({ now: new Date(now), leaseMs: 1_000 }));
    expect(await processB.reserve(reserveRequest({ now: new Date(now + 999), workerId: 'b' }))).toEqual([]);
    const [reclaimed] = await processB.reserve(reserveRequest({ now: new Date(now + 1_000), workerId: 'b' }));
    expect(reclaimed).toMatchObject({ id: task.id, attempts: 2, workerId: 'b' });
    expect(await processA.settle([{ id: task.id, token: held.leaseToken as string, outcome: 'success' }])).toEqual([false]);
    expect(await processA.settle([{ id: task.id, token: reclaimed.leaseToken as string, outcome: 'success' }])).toEqual([true]);
    expect((await processB.get(task.id))?.status).toBe('success');
  });

  it('keeps projects on one file apart through their table prefixes', async () => {
    const dir = await tempDir();
    const url = fileUrl(dir);
    const alpha = track(await sqliteBackend.createTaskQueue(url, moduleContext('alpha')));
    const beta = track(await sqliteBackend.createTaskQueue(url, moduleContext('beta')));
    const alphaResults = track(await sqliteBackend.createResultStore(url, moduleContext('alpha')));
    const betaResults = track(await sqliteBackend.createResultStore(url, moduleContext('beta')));
    const task = newTask();
    await alpha.enqueue([task]);
    await alphaResults.put([newResult({ taskId: task.id })]);

    expect(await beta.get(task.id)).toBeUndefined();
    expect((await beta.list()).total).toBe(0);
    expect(await beta.reserve(reserveRequest())).toEqual([]);
    expect(await betaResults.get(task.id)).toBeUndefined();
    expect(ids(await alpha.reserve(reserveRequest()))).toEqual([task.id]);
    const tables = await inspect(join(dir, 'omniq.db'), tableNames);
    expect(tables).toEqual(expect.arrayContaining(['alpha_tasks', 'alpha_migrations', 'beta_tasks', 'beta_migrations']));
  });

  it('runs on an application DataSource beside its own tables and leaves it open on close', async () => {
    const path = join(await tempDir(), 'app.db');
    const User = new EntitySchema<{ id: number; email: string }>({
      name: 'app_user',
      columns: { id: { type: Number, primary: true, generated: true }, email: { type: String } },
    });
    const dataSource = await new DataSource({ type: 'better-sqlite3', database: path, entities: [User], synchronize: true }).initialize();
    try {
      await dataSource.getRepository(User).save({ email: 'ada@example.com' });
      const { taskQueue, resultStore, eventStore } = await sqliteStoresFromDataSource(dataSource, { projectName: 'jobs' });
      const task = newTask();
      await taskQueue.enqueue([task]);
      const [reserved] = await taskQueue.reserve(reserveRequest());
      await resultStore.put([newResult({ taskId: task.id })]);
      await eventStore.append([newEvent({ taskId: task.id })]);
      expect(await taskQueue.settle([{ id: task.id, token: reserved.leaseToken as string, outcome: 'success' }])).toEqual([true]);
      await Promise.all([taskQueue.close(), resultStore.close(), eventStore.close()]);

      expect(dataSource.isInitialized).toBe(true);
      expect(await dataSource.getRepository(User).find()).toEqual([{ id: 1, email: 'ada@example.com' }]);
      expect(await tableNames(dataSource)).toEqual([
        'app_user',
        'jobs_events',
        'jobs_events_by_task',
        'jobs_meta',
        'jobs_migrations',
        'jobs_results',
        'jobs_schedules',
        'jobs_task_counts',
        'jobs_task_deps',
        'jobs_tasks',
        'sqlite_sequence',
      ]);
      const again = await sqliteStoresFromDataSource(dataSource, { projectName: 'jobs' });
      expect((await again.taskQueue.get(task.id))?.status).toBe('success');
      await again.taskQueue.close();
    } finally {
      await dataSource.destroy();
    }
  });

  it('refuses a DataSource that is not an initialized better-sqlite3 one', async () => {
    const idle = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await expect(sqliteStoresFromDataSource(idle)).rejects.toThrow(/not initialized/);
  });

  it("finds a task's events among thousands, from another connection, and forgets purged ones", async () => {
    const dir = await tempDir();
    const writer = track(await sqliteBackend.createEventStore(fileUrl(dir), moduleContext()));
    const reader = track(await sqliteBackend.createEventStore(fileUrl(dir), moduleContext()));
    const t = testClock();
    const taskId = randomUUID();
    for (let batch = 0; batch < 6; batch += 1) {
      const offset = batch * 1000;
      await writer.append(
        Array.from({ length: 1000 }, (_, i) => newEvent({ timestamp: t(offset + i), taskId: i % 100 === 0 ? taskId : randomUUID() })),
      );
    }
    const all = { taskId, limit: 10_000 };
    expect(await reader.query(all)).toHaveLength(60);
    const latest = newEvent({ timestamp: t(10_000), taskId });
    await writer.append([latest]);
    expect((await reader.query({ ...all, order: 'desc', limit: 1 }))[0]).toEqual(latest);

    expect(await writer.purgeOlderThan(t(3000))).toBe(3000);
    expect(await reader.query(all)).toHaveLength(31);
    const [indexed, stored] = await inspect(join(dir, 'omniq.db'), async (dataSource) => [
      await dataSource.query('SELECT COUNT(*) AS n FROM omniq_events_by_task'),
      await dataSource.query('SELECT COUNT(*) AS n FROM omniq_events'),
    ]);
    expect(indexed).toEqual(stored);
  });

  it('keeps its per-queue counts equal to the tasks through every kind of change', async () => {
    const dir = await tempDir();
    const queue = track(await sqliteBackend.createTaskQueue(fileUrl(dir), moduleContext()));
    const t = testClock();
    const parent = newTask({ createdAt: t(0) });
    const tasks = [
      parent,
      newTask({ createdAt: t(0) }),
      newTask({ createdAt: t(0) }),
      newTask({ createdAt: t(0) }),
      newTask({ createdAt: t(0), expiresAt: t(1_000) }),
      newTask({ createdAt: t(0), runAt: t(60_000) }),
      newTask({ queue: 'b', createdAt: t(0), dependsOn: [parent.id] }),
    ];
    await queue.enqueue(tasks);
    // The fourth task reserved stays running until its lease lapses and 'late' takes it over.
    const [first, second, third] = await queue.reserve(reserveRequest({ now: t(0), limit: 4, leaseMs: 1_000 }));
    const token = (record: { leaseToken?: string }): string => record.leaseToken as string;
    await queue.settle([
      { id: first!.id, token: token(first!), outcome: 'success' },
      { id: second!.id, token: token(second!), outcome: 'failed', error: taskError() },
      { id: third!.id, token: token(third!), outcome: 'retry', error: taskError(), retryAt: t(500) },
    ]);
    await queue.reserve(reserveRequest({ now: t(5_000), workerId: 'late' }));
    await queue.expireOverdue(t(2_000));
    await queue.cancel(tasks[5]!.id);
    await queue.requeue(second!.id);
    const schedule = newSchedule({ nextRunAt: t(0) });
    await queue.schedules?.saveSchedule(schedule);
    await queue.schedules?.fireSchedule(schedule.id, t(0), { status: 'active', runCount: 1, nextRunAt: t(1_000) }, newTask({ queue: 'c' }));
    await queue.purgeFinished(new Date(Date.now() + 60_000));

    const actual = await inspect(join(dir, 'omniq.db'), (dataSource) =>
      dataSource.query('SELECT queue, status, COUNT(*) AS count FROM omniq_tasks GROUP BY queue, status'),
    );
    expect(actual.length).toBeGreaterThan(3);
    expect(await queue.counts()).toEqual(expect.arrayContaining(actual));
    expect(await queue.counts()).toHaveLength(actual.length);
    expect((await queue.list({ queue: 'default', status: ['running', 'pending'] })).total).toBe(
      (actual as { queue: string; status: string; count: number }[])
        .filter((row) => row.queue === 'default' && ['running', 'pending'].includes(row.status))
        .reduce((sum, row) => sum + row.count, 0),
    );
  });

  it('unblocks dependents in other queues and wakes them', async () => {
    const queue = track(await sqliteBackend.createTaskQueue('sqlite://:memory:', moduleContext()));
    const parent = newTask();
    const child = newTask({ queue: 'later', dependsOn: [parent.id, parent.id] });
    await queue.enqueue([parent, child]);
    const [held] = await queue.reserve(reserveRequest());
    const woken: string[] = [];
    queue.onWake((name) => woken.push(name));
    await queue.settle([{ id: parent.id, token: held.leaseToken as string, outcome: 'success' }]);
    await Promise.resolve();
    expect(woken).toEqual(['later']);
    expect(ids(await queue.reserve(reserveRequest({ queues: ['later'] })))).toEqual([child.id]);
  });

  it('forgets the dependency edges of purged tasks', async () => {
    const dir = await tempDir();
    const queue = track(await sqliteBackend.createTaskQueue(fileUrl(dir), moduleContext()));
    const parent = newTask();
    const child = newTask({ dependsOn: [parent.id] });
    await queue.enqueue([parent, child]);
    await queue.cancel(child.id);
    expect(await queue.purgeFinished(new Date(Date.now() + 1_000))).toBe(1);
    const edges = await inspect(join(dir, 'omniq.db'), (dataSource) => dataSource.query('SELECT * FROM omniq_task_deps'));
    expect(edges).toEqual([]);
  });
});
