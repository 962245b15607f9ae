import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildWorker, readExecutions } from '../support/child-worker.js';
import { eventually } from '../support/eventually.js';
import { freshSchema, onPostgres, postgresUrl } from '../support/postgres.js';
import { freshPrefix, onRedis, redisUrl } from '../support/redis.js';
import { freshNatsPrefix, natsUrl, onNats } from '../support/nats.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/** The durable backends, each on fresh storage, and how many tasks three processes drain from each. */
const BACKENDS: Array<[string, (dir: string) => string, number]> = [
  ['sqlite', (dir) => `sqlite://${join(dir, 'omniq.db')}`, 2_000],
  ['file', (dir) => `file://${join(dir, 'data')}`, 2_000],
  ...onPostgres<[string, (dir: string) => string, number]>(['postgres', () => postgresUrl(freshSchema()), 10_000]),
  ...onRedis<[string, (dir: string) => string, number]>(['redis', () => redisUrl(freshPrefix()), 10_000]),
  ...onNats<[string, (dir: string) => string, number]>(['nats', () => natsUrl(freshNatsPrefix()), 10_000]),
];

describe.each(BACKENDS)('worker processes on %s', (_name, urlFor, drained) => {
  let dir: string;
  let backend: string;
  let producer: TestApp;
  const children: ChildWorker[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-processes-'));
    backend = urlFor(dir);
    // The producer starts first and so leads maintenance: at the workers' cadence, so that a lapsed
    // lease is reclaimed within the workers' interval, not the default second.
    producer = await createTestApp({
      backend,
      worker: { enabled: false },
      scheduler: { enabled: false },
      maintenance: { intervalMs: 50, leaderTtlMs: 1_000 },
      allowUnregisteredTasks: true,
    });
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.kill('SIGKILL');
      await child.exit();
    }
    try {
      await producer?.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const spawnWorker = (options: { concurrency: number; leaseMs: number; workMs: number; schedule?: object }): ChildWorker => {
    const child = new ChildWorker({ backend, executionsLog: join(dir, 'executions.log'), ...options });
    children.push(child);
    return child;
  };

  async function allSucceeded(count: number): Promise<boolean> {
    return (await producer.omniq.stats()).default?.success === count;
  }

  async function stopGracefully(child: ChildWorker): Promise<void> {
    child.kill('SIGTERM');
    await child.exit();
    expect({ stopped: child.stopped, errors: child.errors }).toEqual({ stopped: true, errors: '' });
    children.splice(children.indexOf(child), 1);
  }

  it('a worker killed with SIGKILL mid-task loses nothing: another process redelivers its tasks once their lease expires', async () => {
    const leaseMs = 1_500;
    const ids = await producer.omniq.enqueueMany(Array.from({ length: 40 }, (_, n) => ({ name: 'proc.work', payload: { n } })));
    const doomed = spawnWorker({ concurrency: 8, leaseMs, workMs: 2_000 });
    await doomed.whenStarted(8);
    doomed.kill('SIGKILL');
    await doomed.exit();
    const killedAt = Date.now();
    children.splice(children.indexOf(doomed), 1);
    const interrupted = [...doomed.started];

    const survivor = spawnWorker({ concurrency: 8, leaseMs, workMs: 0 });
    await survivor.whenReady();
    // Redelivery can start once the survivor runs and the killed worker's leases lapsed, whichever is later.
    const redeliverableAt = Math.max(Date.now(), killedAt + leaseMs);
    await eventually(() => allSucceeded(ids.length), 30_000, 'every task to succeed');

    const results = await Promise.all(ids.map((id) => producer.omniq.getResult<{ pid: number }>(id)));
    expect(results.every((r) => r?.status === 'success')).toBe(true);
    const executions = readExecutions(join(dir, 'executions.log'));
    const runsOf = (id: string) => executions.filter((e) => e.taskId === id);
    for (const id of ids) expect(runsOf(id)).toHaveLength(interrupted.includes(id) ? 2 : 1);
    for (const id of interrupted) {
      expect(runsOf(id).map((e) => [e.pid, e.attempt])).toEqual([
        [doomed.pid, 1],
        [survivor.pid, 2],
      ]);
      const task = await producer.omniq.getTask(id);
      expect(task?.attempts).toBe(2);
      expect(task!.startedAt!.getTime() - redeliverableAt).toBeLessThan(1_000);
    }
    await stopGracefully(survivor);
  }, 60_000);

  it(`three worker processes drain ${drained.toLocaleString('en')} tasks from one store, each task exactly once`, async () => {
    const count = drained;
    const workers = [0, 1, 2].map(() => spawnWorker({ concurrency: 20, leaseMs: 30_000, workMs: 0 }));
    await Promise.all(workers.map((w) => w.whenReady()));
    for (let i = 0; i < count; i += 500) {
      await producer.omniq.enqueueMany(Array.from({ length: 500 }, (_, n) => ({ name: 'proc.work', payload: { n: i + n } })));
    }
    await eventually(() => allSucceeded(count), 60_000, `${count} tasks to succeed`);
    const executions = readExecutions(join(dir, 'executions.log'));
    expect(executions).toHaveLength(count);
    expect(new Set(executions.map((e) => e.taskId)).size).toBe(count);
    expect(new Set(executions.map((e) => e.pid))).toEqual(new Set(workers.map((w) => w.pid)));
    for (const worker of workers) await stopGracefully(worker);
  }, 120_000);

  it('three instances share a schedule firing every second: exactly one task per tick, no duplicate, no gap', async () => {
    const ticks = 10;
    const instances = [0, 1, 2].map(() => spawnWorker({ concurrency: 5, leaseMs: 30_000, workMs: 0, schedule: { every: 1_000, maxRuns: ticks, overlap: true } }));
    await Promise.all(instances.map((i) => i.whenReady()));
    await eventually(async () => (await producer.omniq.getSchedule('proc.ticker'))?.status === 'expired', 30_000, 'the schedule to fire its 10 ticks');
    await eventually(async () => (await producer.omniq.stats()).default?.success === ticks, 10_000, 'every tick to run');
    const tasks = (await producer.omniq.listTasks({ name: 'proc.tick', limit: 100 })).items;
    expect(tasks).toHaveLength(ticks);
    const fired = (await producer.omniq.getEvents({ scheduleId: 'proc.ticker', types: ['enqueued'] })).map((e) => Date.parse(e.message!.split(' for ')[1]!));
    fired.sort((a, b) => a - b);
    expect(fired).toHaveLength(ticks);
    expect(fired.slice(1).map((at, i) => at - fired[i]!)).toEqual(Array(ticks - 1).fill(1_000));
    expect(new Set(tasks.map((t) => t.key)).size).toBe(ticks);
    for (const instance of instances) await stopGracefully(instance);
  }, 60_000);
});
