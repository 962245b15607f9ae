import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DataSource, EntitySchema } from 'typeorm';
import { DuplicateTaskIdError, StoreClosedError } from '../../lib/errors/store.errors.js';
import { InitialSchema1795464000000 } from '../../lib/backends/sqlite/migrations/1795464000000-InitialSchema.js';
import { AddSchedules1795465000000 } from '../../lib/backends/sqlite/migrations/1795465000000-AddSchedules.js';
import Database from 'better-sqlite3';
import { CHUNK_ROWS } from '../../lib/backends/sqlite/sqlite-chunks.js';
import { sqliteDatabasePath } from '../../lib/backends/sqlite/sqlite-connection.js';
import { SqliteLocks } from '../../lib/backends/sqlite/sqlite-locks.js';
import { SqliteStorageError } from '../../lib/backends/sqlite/sqlite-storage.error.js';
import { TASK_INSERT_COLUMNS, insertValues } from '../../lib/backends/sqlite/sqlite-task-row.js';
import { sqliteTables } from '../../lib/backends/sqlite/sqlite-tables.js';
import { sqliteBackend, sqliteStoresFromDataSource, type SqliteEngine } from '../../lib/backends/sqlite/index.js';
import type { BackendContext } from '../../lib/storage/engine.js';
import type { Notifier, NotifyChannel } from '../../lib/storage/notifier.js';
import { WRITE_NOTHING, type TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { NO_LAPSE_LIMIT } from '../../lib/testing/fixtures.js';
import { WRITE_ALL, ids, newEvent, newResult, newSchedule, newTask, reserveRequest, taskError, testClock } from '../../lib/testing/index.js';

const MIGRATIONS = [
  { name: 'InitialSchema1795464000000' },
  { name: 'AddSchedules1795465000000' },
  { name: 'StorageEngineV2Schema1795466000000' },
  { name: 'HardeningSchema1795467000000' },
];

/** Temp folders made by the current test; removed after it (once its engines are closed). */
const folders: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'omniq-sqlite-'));
  folders.push(dir);
  return dir;
}

const context = (projectName = 'omniq'): BackendContext => ({ projectName, baseDir: './omniq_data', storageOptions: {} });

const fileUrl = (dir: string): string => `sqlite://${join(dir, 'omniq.db')}`;

/** Engines to close after the test, in reverse order of opening. */
const opened: Array<{ close(): Promise<void> }> = [];

async function open(url: string, projectName?: string): Promise<SqliteEngine> {
  const engine = (await sqliteBackend.open(url, context(projectName))) as SqliteEngine;
  opened.push(engine);
  return engine;
}

afterEach(async () => {
  for (const engine of opened.splice(0).reverse()) await engine.close();
  await Promise.all(folders.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A DataSource on the file, to look at (or prepare) what the engines read and write. */
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

/** The first message on `channel` that `accept` takes, with how long after `since` (hrtime ns) it arrived. */
function heard(notifier: Notifier, channel: NotifyChannel, accept: (message: string) => boolean): Promise<{ message: string; ms: number }> {
  const since = process.hrtime.bigint();
  return new Promise((resolve) => {
    const stop = notifier.listen(channel, (message) => {
      if (!accept(message)) return;
      stop();
      resolve({ message, ms: Number(process.hrtime.bigint() - since) / 1e6 });
    });
  });
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('SQLite backend', () => {
  describe('files and migrations', () => {
    it('reads sqlite:// URLs as relative, absolute or in-memory databases', () => {
      expect(sqliteDatabasePath('sqlite://./omniq_data/omniq.db')).toBe(resolve('omniq_data/omniq.db'));
      expect(sqliteDatabasePath('sqlite:///var/data/omniq.db')).toBe('/var/data/omniq.db');
      expect(sqliteDatabasePath('sqlite://:memory:')).toBe(':memory:');
      expect(() => sqliteDatabasePath('sqlite://')).toThrow(/names no SQLite database/);
    });

    it('creates missing folders, uses WAL and records its migrations under the project prefix', async () => {
      const path = join(await tempDir(), 'nested', 'deeper', 'omniq.db');
      await open(`sqlite://${path}`);
      const [journal, migrations, tables] = await inspect(path, async (dataSource) => [
        await dataSource.query('PRAGMA journal_mode'),
        await dataSource.query('SELECT name FROM omniq_migrations ORDER BY id'),
        await tableNames(dataSource),
      ]);
      expect(journal).toEqual([{ journal_mode: 'wal' }]);
      expect(migrations).toEqual(MIGRATIONS);
      expect(tables).toEqual(
        expect.arrayContaining(['omniq_tasks', 'omniq_results', 'omniq_events', 'omniq_paused_queues', 'omniq_leases', 'omniq_notifications']),
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
        expect(await dataSources[1]!.query('SELECT name FROM omniq_migrations ORDER BY id')).toEqual(MIGRATIONS);
        for (const { taskQueue, resultStore, eventStore } of stores) await Promise.all([taskQueue.close(), resultStore.close(), eventStore.close()]);
      } finally {
        await Promise.all(dataSources.map((dataSource) => dataSource.destroy()));
      }
    });

    it('upgrades a database made by the previous schema, lapsed leases flagged for takeover included', async () => {
      const dir = await tempDir();
      const path = join(dir, 'omniq.db');
      const t = testClock();
      const waiting = newTask({ createdAt: t(0) });
      const lapsed = newTask({ createdAt: t(0) });
      await inspect(path, async (dataSource) => {
        const tables = sqliteTables('omniq');
        const runner = dataSource.createQueryRunner();
        await runner.query(`CREATE TABLE omniq_migrations (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp BIGINT NOT NULL, name VARCHAR NOT NULL)`);
        for (const migration of [new InitialSchema1795464000000(tables), new AddSchedules1795465000000(tables)]) {
          await migration.up(runner);
          await runner.query('INSERT INTO omniq_migrations (timestamp, name) VALUES (?, ?)', [Number(migration.name.slice(-13)), migration.name]);
        }
        const insert = `INSERT INTO omniq_tasks (${TASK_INSERT_COLUMNS.join(', ')}) VALUES (${TASK_INSERT_COLUMNS.map(() => '?').join(', ')})`;
        await runner.query(insert, insertValues(waiting, 'pending', true, false));
        await runner.query(insert, insertValues(lapsed, 'pending', true, false));
        // How the previous version left a running task whose lease lapsed: flagged ready for any reserve to take over.
        await runner.query(
          `UPDATE omniq_tasks SET status = 'running', attempts = 1, worker_id = 'old', lease_token = 'old-token', lease_expires_at = ?, ready = 1 WHERE id = ?`,
          [t(1_000).getTime(), lapsed.id],
        );
        await runner.query(`INSERT INTO omniq_task_counts (queue, status, count) VALUES ('default', 'pending', 1), ('default', 'running', 1)`);
        await runner.release();
      });

      const engine = await open(`sqlite://${path}`);
      expect(await inspect(path, (dataSource) => dataSource.query('SELECT name FROM omniq_migrations ORDER BY id'))).toEqual(MIGRATIONS);
      expect(ids(await engine.tasks.reserve(reserveRequest({ now: t(5_000), limit: 10 })))).toEqual([waiting.id]);
      expect(await engine.tasks.reclaimLapsed(t(5_000), 10, WRITE_ALL, NO_LAPSE_LIMIT)).toEqual({
        tasks: [expect.objectContaining({ id: lapsed.id, status: 'pending', lapses: 1 })],
        ended: [],
      });
      expect(await engine.tasks.settle([{ id: lapsed.id, token: 'old-token', outcome: 'success' }], WRITE_ALL)).toEqual([{ held: false }]);
      expect(await engine.tasks.pauseQueue('default')).toBe(true);
      const peer = await open(`sqlite://${path}`);
      expect(await peer.tasks.pausedQueues()).toEqual(['default']);
    });

    it('names the path and the reason when the database cannot be created', async () => {
      const notAFolder = join(await tempDir(), 'plain-file');
      await writeFile(notAFolder, 'not a folder');
      const path = join(notAFolder, 'sub', 'omniq.db');
      await expect(sqliteBackend.open(`sqlite://${path}`, context())).rejects.toThrow(`SQLite database "${path}" cannot be opened: ENOTDIR`);
      if (process.platform === 'linux') {
        await expect(sqliteBackend.open('sqlite:///proc/omniq-test/omniq.db', context())).rejects.toThrow(
          /^SQLite database "\/proc\/omniq-test\/omniq.db" cannot be opened: ENOENT/,
        );
      }
    });

    it('keeps tasks, results and events when the file is closed and opened again', async () => {
      const url = fileUrl(await tempDir());
      const first = (await sqliteBackend.open(url, context())) as SqliteEngine;
      const task = newTask({ tags: ['kept'] });
      const result = newResult({ taskId: task.id });
      const event = newEvent({ taskId: task.id });
      await first.tasks.enqueue([task]);
      await first.results.put([result]);
      await first.events.append([event]);
      await first.close();

      const again = await open(url);
      expect(await again.tasks.get(task.id)).toMatchObject({ ...task, status: 'pending' });
      expect(await again.results.get(task.id)).toEqual(result);
      expect(await again.events.query({ taskId: task.id })).toEqual([event]);
      expect(ids(await again.tasks.reserve(reserveRequest()))).toEqual([task.id]);
    });

    it('keeps projects on one file apart through their table prefixes', async () => {
      const dir = await tempDir();
      const alpha = await open(fileUrl(dir), 'alpha');
      const beta = await open(fileUrl(dir), 'beta');
      const task = newTask();
      await alpha.tasks.enqueue([task]);
      await alpha.results.put([newResult({ taskId: task.id })]);
      await alpha.tasks.pauseQueue('other');

      expect(await beta.tasks.get(task.id)).toBeUndefined();
      expect((await beta.tasks.list()).total).toBe(0);
      expect(await beta.tasks.reserve(reserveRequest())).toEqual([]);
      expect(await beta.results.get(task.id)).toBeUndefined();
      expect(await beta.tasks.pausedQueues()).toEqual([]);
      expect(ids(await alpha.tasks.reserve(reserveRequest()))).toEqual([task.id]);
      const tables = await inspect(join(dir, 'omniq.db'), tableNames);
      expect(tables).toEqual(expect.arrayContaining(['alpha_tasks', 'alpha_notifications', 'beta_tasks', 'beta_notifications']));
    });
  });

  describe('engines and connections', () => {
    it('gives each in-memory engine its own database, heard by its own listeners only', async () => {
      const engine = await open('sqlite://:memory:');
      const other = await open('sqlite://:memory:');
      expect(engine.capabilities).toEqual({ crossProcessNotify: false, atomicCompletion: true });
      expect(engine.tasks.colocated).toEqual({ results: engine.results, events: engine.events });
      const task = newTask();
      const woken = heard(engine.tasks.notifier, 'wake', () => true);
      await engine.tasks.enqueue([task]);
      expect((await woken).message).toBe('default');
      expect(await other.tasks.get(task.id)).toBeUndefined();
    });

    it('never hands one task to two engines on the same file', async () => {
      const url = fileUrl(await tempDir());
      const [processA, processB] = [await open(url), await open(url)];
      const tasks = Array.from({ length: 200 }, () => newTask());
      await processA.tasks.enqueue(tasks);
      const drain = async (store: TaskQueueStore, workerId: string): Promise<string[]> => {
        const taken: string[] = [];
        for (;;) {
          const batch = await store.reserve(reserveRequest({ workerId, limit: 7 }));
          if (batch.length === 0) return taken;
          taken.push(...ids(batch));
          await new Promise((next) => setImmediate(next));
        }
      };
      const [fromA, fromB] = await Promise.all([drain(processA.tasks, 'a'), drain(processB.tasks, 'b')]);
      expect(fromA.length).toBeGreaterThan(0);
      expect(fromB.length).toBeGreaterThan(0);
      expect([...fromA, ...fromB].sort()).toEqual(ids(tasks).sort());
    });

    it('runs on an application DataSource beside its own tables, as one engine, and leaves it open on close', async () => {
      const path = join(await tempDir(), 'app.db');
      const User = new EntitySchema<{ id: number; email: string }>({
        name: 'app_user',
        columns: { id: { type: Number, primary: true, generated: true }, email: { type: String } },
      });
      const dataSource = await new DataSource({ type: 'better-sqlite3', database: path, entities: [User], synchronize: true }).initialize();
      try {
        await dataSource.getRepository(User).save({ email: 'ada@example.com' });
        const { taskQueue, resultStore, eventStore } = await sqliteStoresFromDataSource(dataSource, { projectName: 'jobs' });
        expect(taskQueue.colocated).toEqual({ results: resultStore, events: eventStore });
        const task = newTask();
        await taskQueue.enqueue([task]);
        const [reserved] = await taskQueue.reserve(reserveRequest());
        const result = newResult({ taskId: task.id });
        const event = newEvent({ taskId: task.id, type: 'completed' });
        const settled = await taskQueue.settle([{ id: task.id, token: reserved!.leaseToken!, outcome: 'success', result, events: [event] }], WRITE_ALL);
        expect(settled).toEqual([{ held: true, ended: [], enqueued: [] }]);
        expect(await resultStore.get(task.id)).toEqual(result);
        expect(await eventStore.query({ taskId: task.id })).toEqual([event]);
        await Promise.all([taskQueue.close(), resultStore.close(), eventStore.close()]);

        expect(dataSource.isInitialized).toBe(true);
        expect(await dataSource.getRepository(User).find()).toEqual([{ id: 1, email: 'ada@example.com' }]);
        expect(await tableNames(dataSource)).toEqual([
          'app_user',
          'jobs_events',
          'jobs_events_by_task',
          'jobs_leases',
          'jobs_meta',
          'jobs_migrations',
          'jobs_notifications',
          'jobs_paused_queues',
          'jobs_results',
          'jobs_schedules',
          'jobs_task_counts',
          'jobs_task_deps',
          'jobs_tasks',
          'sqlite_sequence',
        ]);
        const again = await sqliteStoresFromDataSource(dataSource, { projectName: 'jobs' });
        expect((await again.taskQueue.get(task.id))?.status).toBe('success');
        await Promise.all([again.taskQueue.close(), again.resultStore.close(), again.eventStore.close()]);
      } finally {
        await dataSource.destroy();
      }
    });

    it('refuses a DataSource that is not an initialized better-sqlite3 one', async () => {
      const idle = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
      await expect(sqliteStoresFromDataSource(idle)).rejects.toThrow(/not initialized/);
    });

    it('rolls a whole settle batch back when one settlement cannot be stored: no task, result, event or message of it', async () => {
      const dir = await tempDir();
      const engine = await open(fileUrl(dir));
      const peer = await open(fileUrl(dir));
      const [first, second] = [newTask(), newTask()];
      const taken = newTask();
      await engine.tasks.enqueue([first, second, taken]);
      const reserved = await engine.tasks.reserve(reserveRequest({ limit: 2 }));
      const token = (id: string): string => reserved.find((task) => task.id === id)!.leaseToken!;
      const results: string[] = [];
      peer.results.notifier.listen('result', (message) => results.push(message));
      await expect(
        engine.tasks.settle(
          [
            { id: first.id, token: token(first.id), outcome: 'success', result: newResult({ taskId: first.id }) },
            // A callback whose id is taken: the batch is one transaction, so nothing of it stays.
            { id: second.id, token: token(second.id), outcome: 'success', enqueue: [{ ...newTask(), id: taken.id }] },
          ],
          WRITE_ALL,
        ),
      ).rejects.toBeInstanceOf(DuplicateTaskIdError);
      expect((await engine.tasks.getMany([first.id, second.id])).map((task) => task?.status)).toEqual(['running', 'running']);
      expect(await engine.results.get(first.id)).toBeUndefined();
      await engine.results.put([newResult({ taskId: 'after' })]);
      await heard(peer.results.notifier, 'result', (message) => message === 'after');
      expect(results).toEqual(['after']);
    });
  });

  describe('notifications across engines', () => {
    it('two engines on one file hear each other’s wake, result and control messages within milliseconds', async () => {
      const url = fileUrl(await tempDir());
      const [a, b] = [await open(url), await open(url)];
      expect(a.capabilities).toEqual({ crossProcessNotify: true, atomicCompletion: true });
      const latencies: Record<NotifyChannel, number[]> = { wake: [], result: [], control: [] };
      for (let i = 0; i < 15; i += 1) {
        const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
        const task = newTask({ queue: `q${i}` });
        const wake = heard(to.tasks.notifier, 'wake', (queue) => queue === task.queue);
        await from.tasks.enqueue([task]);
        latencies.wake.push((await wake).ms);

        // The holder hears the cancel another engine requested.
        const [held] = await from.tasks.reserve(reserveRequest({ queues: [task.queue] }));
        const asked = heard(from.tasks.notifier, 'control', (message) => message === `cancel:${task.id}`);
        await to.tasks.cancel(task.id, taskError('stop'), WRITE_ALL);
        latencies.control.push((await asked).ms);

        const result = heard(to.results.notifier, 'result', (id) => id === task.id);
        await from.tasks.settle([{ id: task.id, token: held!.leaseToken!, outcome: 'cancelled', result: newResult({ taskId: task.id }) }], WRITE_ALL);
        latencies.result.push((await result).ms);
      }
      for (const channel of ['wake', 'result', 'control'] as const) expect(median(latencies[channel])).toBeLessThan(20);
    });

    it('hears a commit another process makes within milliseconds', async () => {
      const dir = await tempDir();
      const engine = await open(fileUrl(dir));
      const table = 'omniq_notifications';
      // Another process writes a row as a peer engine's write does; the file watch tells this one.
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import Database from 'better-sqlite3';
           const db = new Database(process.argv[1]);
           process.stdin.on('data', (line) => {
             db.prepare("INSERT INTO ${table} (channel, messages, origin, created_at) VALUES ('control', ?, 'child', ?)").run(JSON.stringify([String(line).trim()]), Date.now());
             process.stdout.write('written\\n');
           });
           process.stdin.on('end', () => db.close());
           process.stdout.write('ready\\n');`,
          join(dir, 'omniq.db'),
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const lines = child.stdout!;
      await new Promise((ready) => lines.once('data', ready));
      const samples: number[] = [];
      for (let i = 0; i < 10; i += 1) {
        const message = heard(engine.tasks.notifier, 'control', (text) => text === `pause:q${i}`);
        child.stdin!.write(`pause:q${i}\n`);
        samples.push((await message).ms);
      }
      child.stdin!.end();
      await new Promise((exited) => child.once('exit', exited));
      expect(median(samples)).toBeLessThan(20);
    });

    it('streams the events every engine on the file stores, in append order, from the subscription on', async () => {
      const url = fileUrl(await tempDir());
      const [engine, peer] = [await open(url), await open(url)];
      await peer.events.append([newEvent({ message: 'before the subscription' })]);
      const streamed: string[] = [];
      const subscription = engine.events.stream().subscribe((event) => streamed.push(event.message!));
      const streamedAll = new Promise<void>((done) => {
        const check = engine.events.stream().subscribe(() => {
          if (streamed.length < 3) return;
          check.unsubscribe();
          done();
        });
      });
      await peer.events.append([newEvent({ message: 'theirs' })]);
      await engine.events.append([newEvent({ message: 'ours' })]);
      await peer.events.append([newEvent({ message: 'theirs again' })]);
      await streamedAll;
      subscription.unsubscribe();
      expect(streamed).toEqual(['theirs', 'ours', 'theirs again']);
    });

    it('never delivers a notification written in a transaction that rolled back', async () => {
      const url = fileUrl(await tempDir());
      const [engine, peer] = [await open(url), await open(url)];
      const stored = newTask();
      await engine.tasks.enqueue([stored]);
      const local: string[] = [];
      const remote: string[] = [];
      engine.tasks.notifier.listen('wake', (queue) => local.push(queue));
      peer.tasks.notifier.listen('wake', (queue) => remote.push(queue));
      // The first task is inserted and stages a wake for its queue; the duplicate id then rolls the call back.
      await expect(engine.tasks.enqueue([newTask({ queue: 'rolled-back' }), { ...newTask(), id: stored.id }])).rejects.toBeInstanceOf(
        DuplicateTaskIdError,
      );
      const later = heard(peer.tasks.notifier, 'wake', (queue) => queue === 'committed');
      await engine.tasks.enqueue([newTask({ queue: 'committed' })]);
      await later;
      expect(local).toEqual(['committed']);
      expect(remote).toEqual(['committed']);
      expect(await engine.tasks.get(stored.id)).toMatchObject({ queue: 'default' });
    });

    it('prunes notification rows older than a minute as it writes', async () => {
      const dir = await tempDir();
      const path = join(dir, 'omniq.db');
      const first = (await sqliteBackend.open(fileUrl(dir), context())) as SqliteEngine;
      await first.close();
      await inspect(path, (dataSource) =>
        dataSource.query(`INSERT INTO omniq_notifications (channel, messages, origin, created_at) VALUES ('wake', '["old"]', 'gone', ?)`, [
          Date.now() - 120_000,
        ]),
      );
      const engine = await open(fileUrl(dir));
      await engine.tasks.enqueue([newTask({ queue: 'fresh' })]);
      const rows = await inspect(path, (dataSource) => dataSource.query('SELECT channel, messages FROM omniq_notifications'));
      expect(rows).toEqual([{ channel: 'wake', messages: '["fresh"]' }]);
    });

    it('stops hearing at close: its listeners are dropped and listen() throws StoreClosedError', async () => {
      const url = fileUrl(await tempDir());
      const engine = (await sqliteBackend.open(url, context())) as SqliteEngine;
      const peer = await open(url);
      const heardAfterClose: string[] = [];
      engine.tasks.notifier.listen('wake', (queue) => heardAfterClose.push(queue));
      await engine.close();
      expect(() => engine.tasks.notifier.listen('wake', () => undefined)).toThrow(StoreClosedError);
      await expect(engine.tasks.get('any')).rejects.toBeInstanceOf(StoreClosedError);
      const peerHeard = heard(peer.tasks.notifier, 'wake', (queue) => queue === 'after-close');
      await peer.tasks.enqueue([newTask({ queue: 'after-close' })]);
      await peerHeard;
      expect(heardAfterClose).toEqual([]);
    });
  });

  describe('tables', () => {
    it("finds a task's events among thousands, from another connection, and forgets purged ones", async () => {
      const dir = await tempDir();
      const writer = await open(fileUrl(dir));
      const reader = await open(fileUrl(dir));
      const t = testClock();
      const taskId = randomUUID();
      for (let batch = 0; batch < 6; batch += 1) {
        const offset = batch * 1000;
        await writer.events.append(
          Array.from({ length: 1000 }, (_, i) => newEvent({ timestamp: t(offset + i), taskId: i % 100 === 0 ? taskId : randomUUID() })),
        );
      }
      const all = { taskId, limit: 10_000 };
      expect(await reader.events.query(all)).toHaveLength(60);
      const latest = newEvent({ timestamp: t(10_000), taskId });
      await writer.events.append([latest]);
      expect((await reader.events.query({ ...all, order: 'desc', limit: 1 }))[0]).toEqual(latest);

      expect(await writer.events.purgeOlderThan(t(3000))).toBe(3000);
      expect(await reader.events.query(all)).toHaveLength(31);
      const [indexed, stored] = await inspect(join(dir, 'omniq.db'), async (dataSource) => [
        await dataSource.query('SELECT COUNT(*) AS n FROM omniq_events_by_task'),
        await dataSource.query('SELECT COUNT(*) AS n FROM omniq_events'),
      ]);
      expect(indexed).toEqual(stored);
    });

    it('keeps its per-queue counts equal to the tasks through every kind of change', async () => {
      const dir = await tempDir();
      const { tasks: queue } = await open(fileUrl(dir));
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
        newTask({ queue: 'b', createdAt: t(0), runAt: t(500) }),
      ];
      await queue.enqueue(tasks);
      // The fourth task reserved stays running until its lease lapses and the leader reclaims it.
      const [first, second, third] = await queue.reserve(reserveRequest({ now: t(0), limit: 4, leaseMs: 1_000 }));
      const token = (record: { leaseToken?: string }): string => record.leaseToken!;
      await queue.settle(
        [
          { id: first!.id, token: token(first!), outcome: 'success' },
          { id: second!.id, token: token(second!), outcome: 'failed', error: taskError() },
          { id: third!.id, token: token(third!), outcome: 'retry', error: taskError(), retryAt: t(500) },
        ],
        WRITE_ALL,
      );
      await queue.reclaimLapsed(t(5_000), 10, WRITE_ALL, NO_LAPSE_LIMIT);
      await queue.promoteDue(t(600), 10);
      await queue.expireOverdue(t(2_000), 10, WRITE_ALL);
      await queue.cancel(tasks[5]!.id, taskError('no'), WRITE_ALL);
      await queue.requeue(second!.id, WRITE_ALL);
      await queue.cancelWhere({ queue: 'b' }, taskError('bulk'), 10, WRITE_ALL);
      await queue.requeueWhere({ queue: 'b' }, 1, WRITE_ALL);
      const schedule = newSchedule({ nextRunAt: t(0) });
      await queue.schedules.saveSchedule(schedule);
      await queue.schedules.fireSchedule(schedule.id, t(0), { status: 'active', runCount: 1, nextRunAt: t(1_000) }, newTask({ queue: 'c' }));
      await queue.purgeFinished(new Date(Date.now() + 60_000), 1);

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
      const { tasks: queue } = await open('sqlite://:memory:');
      const parent = newTask();
      const child = newTask({ queue: 'later', dependsOn: [parent.id, parent.id] });
      await queue.enqueue([parent, child]);
      const [held] = await queue.reserve(reserveRequest());
      const woken = heard(queue.notifier, 'wake', () => true);
      await queue.settle([{ id: parent.id, token: held!.leaseToken!, outcome: 'success' }], WRITE_NOTHING);
      expect((await woken).message).toBe('later');
      expect(ids(await queue.reserve(reserveRequest({ queues: ['later'] })))).toEqual([child.id]);
    });

    it('forgets the dependency edges of purged tasks', async () => {
      const dir = await tempDir();
      const { tasks: queue } = await open(fileUrl(dir));
      const parent = newTask();
      const child = newTask({ dependsOn: [parent.id] });
      await queue.enqueue([parent, child]);
      await queue.cancel(child.id, taskError('not needed'), WRITE_NOTHING);
      expect(await queue.purgeFinished(new Date(Date.now() + 1_000))).toBe(1);
      const edges = await inspect(join(dir, 'omniq.db'), (dataSource) => dataSource.query('SELECT * FROM omniq_task_deps'));
      expect(edges).toEqual([]);
    });
  });
  describe('long writes, lock waits and text SQLite cannot hold', () => {
    /** What ran first: a timer set before `call`, or `call`'s end. A call that never yields ends first. */
    async function yieldsWhile(call: () => Promise<unknown>): Promise<string[]> {
      const order: string[] = [];
      const timer = setTimeout(() => order.push('timer'), 0);
      await call();
      order.push('call');
      clearTimeout(timer);
      return order;
    }

    it('stores, cancels and purges thousands of tasks a chunk per transaction, letting timers run between chunks', async () => {
      const { tasks: queue, results } = await open(fileUrl(await tempDir()));
      const tasks = Array.from({ length: 2 * CHUNK_ROWS + 10 }, () => newTask({ storeResult: true }));
      expect(await yieldsWhile(() => queue.enqueue(tasks))).toEqual(['timer', 'call']);
      expect(await queue.counts()).toEqual([{ queue: 'default', status: 'pending', count: tasks.length }]);

      expect(await yieldsWhile(() => queue.cancelWhere({}, taskError('bulk'), tasks.length, WRITE_ALL))).toEqual(['timer', 'call']);
      expect(await queue.counts()).toEqual([{ queue: 'default', status: 'cancelled', count: tasks.length }]);

      const later = new Date(Date.now() + 60_000);
      expect(await results.get(tasks[0]!.id)).toMatchObject({ status: 'cancelled' });
      expect(await yieldsWhile(() => results.purgeCompletedBefore(later))).toEqual(['timer', 'call']);
      expect(await results.get(tasks[0]!.id)).toBeUndefined();
      let purged = 0;
      expect(await yieldsWhile(async () => (purged = await queue.purgeFinished(later)))).toEqual(['timer', 'call']);
      expect(purged).toBe(tasks.length);
      expect(await queue.counts()).toEqual([]);
    });

    it('checks a chunked enqueue whole before storing any of it', async () => {
      const { tasks: queue } = await open(fileUrl(await tempDir()));
      const stored = newTask();
      await queue.enqueue([stored]);
      const tasks = Array.from({ length: 2 * CHUNK_ROWS }, () => newTask());
      tasks.push(newTask({ id: stored.id }));
      await expect(queue.enqueue(tasks)).rejects.toThrow(DuplicateTaskIdError);
      expect(await queue.counts()).toEqual([{ queue: 'default', status: 'pending', count: 1 }]);
    });

    it('waits for a lock another connection holds between timers, and gives up naming the database and the call', async () => {
      const path = join(await tempDir(), 'locked.db');
      const holder = new Database(path);
      holder.exec('CREATE TABLE t (x)');
      const waiter = new Database(path, { timeout: 0 });
      const locks = new SqliteLocks(path, 300);
      const insert = (): number => waiter.prepare('INSERT INTO t VALUES (1)').run().changes;
      try {
        expect(locks.run({ operation: 'probe' }, insert)).toBe(1);

        holder.exec('BEGIN IMMEDIATE');
        let ticks = 0;
        const ticker = setInterval(() => (ticks += 1), 10);
        const failure = await Promise.resolve(locks.run({ operation: 'probe', tasks: [{ id: 'task-1' }] }, insert)).catch((error: unknown) => error);
        clearInterval(ticker);
        expect(ticks).toBeGreaterThan(5);
        expect(failure).toBeInstanceOf(SqliteStorageError);
        expect((failure as Error).message).toContain(`SQLite database "${path}": probe of task task-1 failed (SQLITE_BUSY: still locked by another connection after 300 ms)`);

        const waited = locks.run({ operation: 'probe' }, insert);
        expect(waited).toBeInstanceOf(Promise);
        setTimeout(() => holder.exec('COMMIT'), 50);
        expect(await waited).toBe(1);
      } finally {
        if (holder.inTransaction) holder.exec('ROLLBACK');
        holder.close();
        waiter.close();
      }
    });

    it('keeps NUL in ids, names and queues, and refuses a lone surrogate there, naming the field', async () => {
      const { tasks: queue } = await open('sqlite://:memory:');
      const nul = newTask({ id: 'a\u0000b', name: 'n\u0000', queue: 'q\u0000' });
      await queue.enqueue([nul]);
      expect(await queue.get(nul.id)).toMatchObject({ id: nul.id, name: nul.name, queue: nul.queue });
      expect(ids((await queue.list({ queue: nul.queue })).items)).toEqual([nul.id]);

      await expect(queue.enqueue([newTask({ id: 'x\ud800y' })])).rejects.toThrow(/option id = .* is invalid; expected well-formed text/);
      await expect(queue.enqueue([newTask({ queue: 'q\udc00' })])).rejects.toThrow(/option queue = .* lone surrogate/);
      await expect(queue.enqueue([newTask({ dependsOn: ['p\ud800'] })])).rejects.toThrow(/option dependsOn/);
      expect((await queue.list()).total).toBe(1);
    });
  });
});
