import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OmniQMaintenance } from '../../lib/index.js';
import { ChildWorker } from '../support/child-worker.js';
import { eventually } from '../support/eventually.js';
import { freshSchema, onPostgres, postgresUrl } from '../support/postgres.js';
import { freshPrefix, onRedis, redisUrl } from '../support/redis.js';
import { freshNatsPrefix, natsUrl, onNats } from '../support/nats.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/** Polling this slow cannot explain anything that happens within a test: only notifications can. */
const NO_POLLING = 60_000;

/** The backends whose notifications cross processes: one SQLite file, one PostgreSQL schema (LISTEN/NOTIFY), one Redis key prefix (pub/sub). */
const BACKENDS: Array<[string, (dir: string) => string]> = [
  ['one SQLite file', (dir) => `sqlite://${join(dir, 'omniq.db')}`],
  ...onPostgres<[string, (dir: string) => string]>(['one PostgreSQL schema', () => postgresUrl(freshSchema())]),
  ...onRedis<[string, (dir: string) => string]>(['one Redis key prefix', () => redisUrl(freshPrefix())]),
  ...onNats<[string, (dir: string) => string]>(['one NATS prefix (KV buckets and streams)', () => natsUrl(freshNatsPrefix())]),
];

describe.each(BACKENDS)('across processes on %s', (_name, urlFor) => {
  let dir: string;
  let backend: string;
  const apps: TestApp[] = [];
  const children: ChildWorker[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-cross-'));
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

  const boot = async (options: Parameters<typeof createTestApp>[0] = {}): Promise<TestApp> => {
    const app = await createTestApp({ backend, allowUnregisteredTasks: true, scheduler: { enabled: false }, worker: { enabled: false }, ...options });
    apps.push(app);
    return app;
  };

  const spawn = (options: Partial<ConstructorParameters<typeof ChildWorker>[0]> = {}): ChildWorker => {
    const child = new ChildWorker({ backend, executionsLog: join(dir, 'executions.log'), concurrency: 4, leaseMs: 30_000, workMs: 0, ...options });
    children.push(child);
    return child;
  };

  it('waitForResult returns as soon as a worker in another process stores the result, with no polling', async () => {
    const producer = await boot({ resultPollIntervalMs: NO_POLLING });
    const worker = spawn({ options: { worker: { pollIntervalMs: NO_POLLING } } });
    await worker.whenReady();
    const started = Date.now();
    const id = await producer.omniq.enqueue('proc.work', { n: 1 });
    expect(await producer.omniq.waitForResult(id, { timeoutMs: 5_000 })).toMatchObject({ status: 'success', value: { n: 1, pid: worker.pid } });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a cancel reaches the handler running in another process at once, with no polling', async () => {
    const producer = await boot({ resultPollIntervalMs: NO_POLLING });
    const worker = spawn({ workMs: 30_000, options: { worker: { pollIntervalMs: NO_POLLING } } });
    await worker.whenReady();
    const id = await producer.omniq.enqueue('proc.work', { n: 2 });
    await worker.whenStarted(1);
    const cancelledAt = Date.now();
    expect(await producer.omniq.cancel(id)).toBe(true);
    expect(await producer.omniq.waitForResult(id, { timeoutMs: 5_000 })).toMatchObject({ status: 'cancelled', error: { name: 'TaskCancelledError' } });
    expect(Date.now() - cancelledAt).toBeLessThan(2_000);
  });

  it('a queue paused in one process stops workers in another until it is resumed', async () => {
    const producer = await boot();
    const worker = spawn({ options: { worker: { pollIntervalMs: NO_POLLING } } });
    await worker.whenReady();
    expect(await producer.omniq.pauseQueue('default')).toBe(true);
    const id = await producer.omniq.enqueue('proc.work', { n: 3 });
    const [paused] = await producer.omniq.getEvents({ types: ['queue_paused'] });
    expect(paused).toMatchObject({ queue: 'default' });
    expect((await producer.omniq.getTask(id))?.status).toBe('pending');
    expect(await producer.omniq.resumeQueue('default')).toBe(true);
    expect((await producer.omniq.waitForResult(id, { timeoutMs: 5_000 })).status).toBe('success');
  });

  it('when the maintenance leader is killed, another instance takes over within one lease TTL', async () => {
    const leaderTtlMs = 1_000;
    const leader = spawn({ options: { maintenance: { intervalMs: 50, leaderTtlMs } } });
    await leader.whenReady();
    await eventually(async () => (leader.output.includes('Leading maintenance') ? true : undefined), 10_000, 'the child to lead');
    const standby = await boot({ maintenance: { intervalMs: 50, leaderTtlMs } });
    const maintenance = standby.get(OmniQMaintenance);
    expect(maintenance.isLeader).toBe(false);
    leader.kill('SIGKILL');
    await leader.exit();
    children.splice(0);
    const killedAt = Date.now();
    await eventually(async () => (maintenance.isLeader ? true : undefined), 10_000, 'the standby to lead');
    expect(Date.now() - killedAt).toBeLessThan(leaderTtlMs + 500);
  });
});
