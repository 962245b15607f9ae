import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { SqliteStorageError } from '../../lib/backends/sqlite/sqlite-storage.error.js';
import { sqliteStoresFromDataSource, type SqliteStores } from '../../lib/backends/sqlite/index.js';
import { newTask, reserveRequest, WRITE_ALL } from '../../lib/testing/index.js';

/**
 * A full disk and a read-only database on SQLite (issue 11, item 9): the error names the database
 * file, the call and its tasks, not just SQLite's own `SqliteError: database or disk is full`;
 * nothing of the failed call is written, and the stores go on working once the cause is gone.
 * SQLite reports a full disk for a database at its `max_page_count`, and a read-only one for a
 * connection in `query_only` mode: the same errors a full or read-only filesystem gives, on any
 * machine and without root.
 */
describe('SQLite storage errors name the database, the call and its tasks', () => {
  let dir: string;
  let path: string;
  let dataSource: DataSource;
  let stores: SqliteStores;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-sqlite-errors-'));
    path = join(dir, 'omniq.db');
    dataSource = await new DataSource({ type: 'better-sqlite3', database: path }).initialize();
    stores = await sqliteStoresFromDataSource(dataSource);
  });

  afterEach(async () => {
    await stores.taskQueue.close();
    await stores.resultStore.close();
    await stores.eventStore.close();
    await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A pragma on the stores' own connection (limits like max_page_count and query_only are per connection). */
  const pragma = async (statement: string): Promise<number> => {
    const rows = (await dataSource.query(`PRAGMA ${statement}`)) as unknown;
    const [row] = Array.isArray(rows) ? (rows as Array<Record<string, number>>) : [];
    return row === undefined ? 0 : Object.values(row)[0]!;
  };

  it('a full disk: enqueue rejects with the path, the operation and the task ids, stores none of them, and works once there is room', async () => {
    const big = (n: number) => newTask({ payload: { format: 'json', data: JSON.stringify('x'.repeat(200_000 + n)) } });
    const tasks = [big(0), big(1), big(2), big(3), big(4)];
    await pragma(`max_page_count = ${await pragma('page_count')}`);

    const failure = await stores.taskQueue.enqueue(tasks).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SqliteStorageError);
    const error = failure as SqliteStorageError;
    expect(error).toMatchObject({ path, operation: 'enqueue', code: 'SQLITE_FULL', taskIds: tasks.map((task) => task.id) });
    expect(error.message).toContain(`"${path}"`);
    expect(error.message).toContain(`enqueue of tasks ${tasks[0]!.id}, ${tasks[1]!.id}, ${tasks[2]!.id} and 2 more`);
    expect(error.message).toMatch(/full/);
    expect(await stores.taskQueue.getMany(tasks.map((task) => task.id))).toEqual(tasks.map(() => undefined));

    await pragma('max_page_count = 1073741823');
    expect(await stores.taskQueue.enqueue(tasks)).toHaveLength(tasks.length);
  });

  it('a read-only database: settle rejects naming the task, the attempt stays held, and settles once the database is writable', async () => {
    const task = newTask();
    await stores.taskQueue.enqueue([task]);
    const [reserved] = await stores.taskQueue.reserve(reserveRequest({ limit: 1 }));
    const settlement = { id: task.id, token: reserved!.leaseToken!, outcome: 'success' as const };
    await pragma('query_only = 1');

    const failure = await stores.taskQueue.settle([settlement], WRITE_ALL).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(SqliteStorageError);
    expect(failure).toMatchObject({ path, operation: 'settle', code: 'SQLITE_READONLY', taskIds: [task.id] });
    expect((failure as Error).message).toContain(`SQLite database "${path}": settle of task ${task.id} failed (SQLITE_READONLY`);
    expect((failure as Error).message).toMatch(/permissions/);
    expect((await stores.taskQueue.get(task.id))?.status).toBe('running');

    await pragma('query_only = 0');
    expect(await stores.taskQueue.settle([settlement], WRITE_ALL)).toEqual([expect.objectContaining({ held: true })]);
  });
});
