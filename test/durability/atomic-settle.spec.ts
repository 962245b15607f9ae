import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import Database from 'better-sqlite3';
import { NonRetryableError, Task } from '../../lib/index.js';
import { ChildWorker } from '../support/child-worker.js';
import { eventually } from '../support/eventually.js';
import { freshSchema, onPostgres, postgresUrl, withPostgres } from '../support/postgres.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/** The handlers the test's own app runs when it takes over a task a child left behind. */
@Injectable()
class TakeoverTasks {
  @Task('proc.fail', { maxRetries: 0 })
  fail(): never {
    throw new NonRetryableError('failed on purpose');
  }

  @Task('proc.work', { maxRetries: 0 })
  work(payload: { n: number }): { n: number; pid: number } {
    return { n: payload.n, pid: process.pid };
  }
}

const BACKENDS: Array<[string, (dir: string) => string]> = [
  ['sqlite', (dir) => `sqlite://${join(dir, 'omniq.db')}`],
  ['file', (dir) => `file://${join(dir, 'data')}`],
  ...onPostgres<[string, (dir: string) => string]>(['postgres', () => postgresUrl(freshSchema())]),
];

const DEPENDENTS = 20;

describe.each(BACKENDS)('a task end across a crash on %s', (_name, urlFor) => {
  let dir: string;
  let backend: string;
  const apps: TestApp[] = [];
  const children: ChildWorker[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-atomic-'));
    backend = urlFor(dir);
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await child.exit();
    }
    try {
      for (const app of apps.splice(0)) await app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const boot = async (options: Parameters<typeof createTestApp>[0]): Promise<TestApp> => {
    const app = await createTestApp({ backend, allowUnregisteredTasks: true, scheduler: { enabled: false }, ...options }, [TakeoverTasks]);
    apps.push(app);
    return app;
  };

  const spawn = (options: Partial<ConstructorParameters<typeof ChildWorker>[0]>): ChildWorker => {
    const child = new ChildWorker({ backend: tagged(backend), executionsLog: join(dir, 'executions.log'), concurrency: 1, leaseMs: 500, workMs: 0, ...options });
    children.push(child);
    return child;
  };

  const isPostgres = (url: string): boolean => /^postgres(ql)?:/.test(url);

  /** The children's PostgreSQL sessions carry this name, so the test can tell whether one is inside a transaction. */
  const CHILD_SESSIONS = `omniq-child-${process.pid}`;

  function tagged(url: string): string {
    if (!isPostgres(url)) return url;
    const named = new URL(url);
    named.searchParams.set('application_name', CHILD_SESSIONS);
    return named.toString();
  }

  /**
   * Freezes the child (SIGSTOP) at a moment it holds no write lock. A process frozen inside a
   * SQLite write transaction blocks every other writer until it runs again, by SQLite's design,
   * and one frozen inside a PostgreSQL transaction keeps its rows locked; that is not the frozen
   * worker this test is about (one whose lease lapses while it is stopped).
   */
  async function freezeOutsideWrite(child: ChildWorker): Promise<void> {
    for (;;) {
      child.kill('SIGSTOP');
      while (!stopped(child.pid)) await sleep(1);
      if (await holdsNoWriteLock()) return;
      child.kill('SIGCONT');
      await sleep(5);
    }
  }

  async function holdsNoWriteLock(): Promise<boolean> {
    if (backend.startsWith('sqlite://')) return writeLockFree();
    if (isPostgres(backend)) return noOpenTransaction();
    return true;
  }

  /** Whether no session of the (frozen) child is inside a transaction; a statement it already sent finishes first. */
  async function noOpenTransaction(): Promise<boolean> {
    return withPostgres(async (client) => {
      for (;;) {
        const { rows } = await client.query<{ state: string }>('SELECT state FROM pg_stat_activity WHERE application_name = $1', [CHILD_SESSIONS]);
        if (rows.some((row) => row.state.startsWith('idle in transaction'))) return false;
        if (rows.every((row) => row.state === 'idle')) return true;
        await sleep(1);
      }
    });
  }

  /** Whether the kernel has stopped the process yet (state T in /proc): a signal is delivered asynchronously. */
  function stopped(pid: number): boolean {
    return /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  }

  function writeLockFree(): boolean {
    const db = new Database(join(dir, 'omniq.db'), { timeout: 0 });
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_BUSY') return false;
      throw error;
    } finally {
      db.close();
    }
  }

  /** A failing parent with dependents and an onFailure callback, as a producer enqueues it. */
  async function enqueueFamily(producer: TestApp): Promise<string[]> {
    const children = Array.from({ length: DEPENDENTS }, (_, n) => `child-${n}`);
    await producer.omniq.enqueueMany([
      { name: 'proc.fail', payload: null, options: { id: 'parent', onFailure: { task: 'proc.alert', args: { to: 'ops' } } } },
      ...children.map((id) => ({ name: 'proc.work', payload: { n: 0 }, options: { id, dependsOn: ['parent'] } })),
    ]);
    return children;
  }

  /** Every dependent cancelled with its result, and the callback stored exactly once. */
  async function expectCascadeAndCallback(app: TestApp, dependents: readonly string[]): Promise<void> {
    const tasks = await app.omniq.getTasks(dependents);
    expect(tasks.map((task) => task?.status)).toEqual(dependents.map(() => 'cancelled'));
    const results = await Promise.all(dependents.map((id) => app.omniq.getResult(id)));
    expect(results.every((result) => result?.status === 'cancelled')).toBe(true);
    const alerts = (await app.omniq.listTasks({ name: 'proc.alert' })).items;
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.payload).toMatchObject({ taskId: 'parent', status: 'failed', error: { message: 'failed on purpose' }, args: { to: 'ops' } });
  }

  it('killed right after its failing settlement: the cascade and the callback were part of it', async () => {
    const producer = await boot({ worker: { enabled: false }, maintenance: { intervalMs: 50, leaderTtlMs: 1_000 } });
    const dependents = await enqueueFamily(producer);
    const child = spawn({ crash: 'after-settle' });
    const { signal } = await child.exit();
    expect(signal).toBe('SIGKILL');
    children.splice(0);
    expect((await producer.omniq.getTask('parent'))?.status).toBe('failed');
    // Engines whose end of task spans several writes finish it in the leader's recovery.
    await eventually(async () => (await producer.omniq.getTasks(dependents)).every((task) => task?.status === 'cancelled'), 60_000, 'every dependent to end');
    await expectCascadeAndCallback(producer, dependents);
  }, 90_000);

  it('killed right before it: the task is reclaimed once its lease lapses, runs again elsewhere and ends the same way', async () => {
    const producer = await boot({ worker: { enabled: false }, maintenance: { enabled: false } });
    const dependents = await enqueueFamily(producer);
    const child = spawn({ crash: 'before-settle' });
    await child.exit();
    children.splice(0);
    expect((await producer.omniq.getTask('parent'))?.status).toBe('running');
    const takeover = await boot({ worker: { pollIntervalMs: 20 }, maintenance: { intervalMs: 50, leaderTtlMs: 1_000 } });
    expect((await takeover.omniq.waitForResult('parent', { timeoutMs: 30_000 })).status).toBe('failed');
    await eventually(async () => (await takeover.omniq.getTasks(dependents)).every((task) => task?.status === 'cancelled'), 30_000, 'every dependent to end');
    await expectCascadeAndCallback(takeover, dependents);
    // (The killed attempt's own `started` may have died with it, still buffered.)
    const types = (await takeover.omniq.getEvents({ taskId: 'parent' })).map((e) => e.type);
    expect(types.slice(-3)).toEqual(['reclaimed', 'started', 'failed']);
  }, 90_000);

  it('a frozen worker that wakes after another finished its task changes nothing: result, task and timeline name the attempt that held the lease', async () => {
    const producer = await boot({ worker: { enabled: false }, maintenance: { enabled: false } });
    const [id] = await producer.omniq.enqueueMany([{ name: 'proc.work', payload: { n: 7 } }]);
    const frozen = spawn({ workMs: 1_500, options: { worker: { heartbeatMs: 100 } } });
    await frozen.whenStarted(1);
    await freezeOutsideWrite(frozen);
    const takeover = await boot({ worker: { pollIntervalMs: 20 }, maintenance: { intervalMs: 50, leaderTtlMs: 1_000 } });
    expect(await takeover.omniq.waitForResult(id!, { timeoutMs: 30_000 })).toMatchObject({ status: 'success', value: { n: 7, pid: process.pid } });
    await takeover.close();
    apps.splice(apps.indexOf(takeover), 1);
    frozen.kill('SIGCONT');
    // The frozen attempt's handler finishes 1.5 s after it started; its settlement is refused.
    await eventually(async () => (frozen.output.includes('its lease was lost') ? true : undefined), 15_000, 'the woken worker to notice its lost lease');
    expect(await producer.omniq.getResult(id!)).toMatchObject({ status: 'success', value: { n: 7, pid: process.pid } });
    expect((await producer.omniq.getTask(id!))?.status).toBe('success');
    const timeline = (await producer.omniq.getEvents({ taskId: id! })).map((e) => e.type);
    expect(timeline).toEqual(['enqueued', 'started', 'reclaimed', 'started', 'completed']);
  }, 60_000);
});
