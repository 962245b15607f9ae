import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import pg from 'pg';
import { PostgresStorageError, Task, type OmniQModuleOptions, type TaskContext } from '../../lib/index.js';
import { eventually } from '../support/eventually.js';
import { CONNECT_TIMEOUT_MS, endStatuses, enqueueDuringOutage, outageRig, OutageWork, producerOptions, runCounts, runs, workerOptions, workItems } from '../support/outage.js';
import { describeOnPrivateCluster, PostgresCluster } from '../support/postgres-cluster.js';
import { describeOnPostgres, freshSchema, postgresUrl, withPostgres } from '../support/postgres.js';
import { deferred, type TestApp } from '../support/test-app.js';

/** The `outage.hold` handlers running now, each released by its function. */
const holding = new Map<string, () => void>();
/** Resolved when the `outage.hold` handler of a task starts. */
const holdStarted = new Map<string, ReturnType<typeof deferred<void>>>();
const started = (id: string): ReturnType<typeof deferred<void>> => {
  if (!holdStarted.has(id)) holdStarted.set(id, deferred());
  return holdStarted.get(id)!;
};

@Injectable()
class OutageHold {
  /** Runs until the test releases it (or its signal fires: a cancel). */
  @Task('outage.hold')
  async hold(_: unknown, ctx: TaskContext): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      holding.set(ctx.taskId, resolve);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true });
      started(ctx.taskId).resolve();
    });
    return 'released';
  }
}

const rig = outageRig([OutageWork, OutageHold]);

afterEach(() => {
  holding.clear();
  holdStarted.clear();
});

const boot = (backend: string, options: OmniQModuleOptions = {}): Promise<TestApp> => rig.app({ backend, ...options });

describeOnPostgres('PostgreSQL: the connections cut mid-run (pg_terminate_backend)', () => {
  /** The test's own application_name, so that it cuts its own sessions only, never those of another spec on the server. */
  const applicationName = `omniq_cut_${randomBytes(4).toString('hex')}`;
  const url = (): string => {
    const parsed = new URL(postgresUrl(freshSchema()));
    parsed.searchParams.set('application_name', applicationName);
    return parsed.toString();
  };
  const listenPids = (): Promise<number[]> =>
    withPostgres(async (client) => {
      const { rows } = await client.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, [applicationName]);
      return rows.map((row) => row.pid);
    });
  const cutAll = (): Promise<number> =>
    withPostgres(async (client) => {
      const { rows } = await client.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [applicationName]);
      return rows.length;
    });

  it('workers carry on, every task succeeds exactly once, and LISTEN is back: a later task starts at once, with no polling', async () => {
    const backend = url();
    await boot(backend, workerOptions({ leaseMs: 5_000 }));
    const producer = await boot(backend, producerOptions);
    const before = await listenPids();
    expect(before).toHaveLength(2);

    const ids = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 60, 20_000, '60 tasks to run');
    // Both engines' pools and LISTEN sessions, in the middle of the drain.
    expect(await cutAll()).toBeGreaterThanOrEqual(2);

    expect(await endStatuses(producer, ids, 60_000, 'waits')).toEqual(ids.map(() => 'success'));
    const counts = runCounts();
    expect(ids.filter((id) => counts.get(id) !== 1)).toEqual([]);

    // Both LISTEN sessions were re-established by themselves, on new server sessions.
    await eventually(async () => {
      const now = await listenPids();
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    }, 10_000, 'both LISTEN sessions to be back');
    const enqueuedAt = Date.now();
    const late = await producer.omniq.enqueue('outage.work', { n: 1_000 });
    expect(await producer.omniq.waitForResult(late, { timeoutMs: 10_000 })).toMatchObject({ status: 'success', value: 1_000 });
    expect(Date.now() - enqueuedAt).toBeLessThan(3_000);
  }, 60_000);
});

describeOnPrivateCluster('PostgreSQL: outages of a private cluster', () => {
  let cluster: PostgresCluster;
  let admin: pg.Client;
  const OUTAGE_MS = 4_000;

  beforeAll(async () => {
    cluster = await PostgresCluster.create();
    admin = await connect(cluster.url);
  }, 120_000);

  afterAll(async () => {
    await admin?.end();
    await cluster?.remove();
  }, 120_000);

  /** A client of the test's own on the cluster, which survives the cluster's restarts without crashing the run. */
  async function connect(url: string): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: url, application_name: 'omniq-test' });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  const urlFor = (role = 'postgres', schema = `omniq_t_${randomBytes(4).toString('hex')}`): string =>
    `postgres://${role}@127.0.0.1:${cluster.port}/postgres?schema=${schema}`;

  it('the server stopped for seconds: enqueue rejects with a clear error in bounded time, workers carry on once it is back, no task lost', async () => {
    const backend = urlFor();
    const storageOptions = { connectTimeoutMs: CONNECT_TIMEOUT_MS };
    await boot(backend, { ...workerOptions({ concurrency: 4, leaseMs: 10_000 }), storageOptions });
    const producer = await boot(backend, { ...producerOptions, storageOptions });

    const ids = await producer.omniq.enqueueMany(workItems(400));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    await admin.end();
    await cluster.stop();
    const stoppedAt = Date.now();
    const startedBeforeStop = new Set(runs.map((run) => run.id));

    const refused = await enqueueDuringOutage(producer);
    expect(refused).toBeInstanceOf(PostgresStorageError);
    expect((refused as PostgresStorageError).message).toMatch(/enqueue/);
    expect((refused as PostgresStorageError).message).toContain(`127.0.0.1:${cluster.port}`);

    // The outage itself: nothing to wait for but time.
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    await cluster.start();
    admin = await connect(cluster.url);

    expect(await endStatuses(producer, ids, 90_000, 'waits')).toEqual(ids.map(() => 'success'));
    // At least once: only a task that had started before the stop may have run again (its outcome not recorded in time).
    const counts = runCounts();
    expect(ids.filter((id) => (counts.get(id) ?? 0) === 0)).toEqual([]);
    expect(ids.filter((id) => counts.get(id)! > 1 && !startedBeforeStop.has(id))).toEqual([]);
    expect(ids.filter((id) => counts.get(id)! > 2)).toEqual([]);

    const enqueuedAt = Date.now();
    const late = await producer.omniq.enqueue('outage.work', { n: 1_000 });
    expect(await producer.omniq.waitForResult(late, { timeoutMs: 10_000 })).toMatchObject({ status: 'success', value: 1_000 });
    expect(Date.now() - enqueuedAt).toBeLessThan(3_000);
  }, 150_000);

  describe('a process whose LISTEN session is down and cannot reconnect for a while', () => {
    const WORKER_ROLE = 'omniq_deaf_worker';
    const PRODUCER_ROLE = 'omniq_deaf_producer';

    beforeAll(async () => {
      for (const role of [WORKER_ROLE, PRODUCER_ROLE]) await admin.query(`CREATE ROLE ${role} LOGIN SUPERUSER`);
    });

    /** Cuts the role's LISTEN session and refuses it new sessions: its process hears nothing from the others until `hear`. */
    async function deafen(role: string): Promise<void> {
      await admin.query(`ALTER ROLE ${role} NOLOGIN`);
      const { rows } = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND application_name = 'omniq-listen'`, [role]);
      expect(rows).toHaveLength(1);
    }
    const hear = (role: string) => admin.query(`ALTER ROLE ${role} LOGIN`);

    it('hears the wakes and cancel requests it missed once it is back: the new task runs, the running one is cancelled', async () => {
      const schema = `omniq_t_${randomBytes(4).toString('hex')}`;
      await boot(urlFor(WORKER_ROLE, schema), workerOptions());
      const producer = await boot(urlFor(PRODUCER_ROLE, schema), producerOptions);
      const long = await producer.omniq.enqueue('outage.hold', {});
      await started(long).promise;

      await deafen(WORKER_ROLE);
      const fresh = await producer.omniq.enqueue('outage.work', { n: 7 });
      expect(await producer.omniq.cancel(long)).toBe(true);
      // Deaf and polling only every minute, the worker does neither for now.
      await sleep(1_000);
      expect((await producer.omniq.getTask(fresh))?.status).toBe('pending');
      expect((await producer.omniq.getTask(long))?.status).toBe('running');

      const backAt = Date.now();
      await hear(WORKER_ROLE);
      expect(await producer.omniq.waitForResult(fresh, { timeoutMs: 10_000 })).toMatchObject({ status: 'success', value: 7 });
      expect(await producer.omniq.waitForResult(long, { timeoutMs: 10_000 })).toMatchObject({ status: 'cancelled' });
      expect(Date.now() - backAt).toBeLessThan(5_000);
    }, 60_000);

    it('hears the results it missed once it is back: waitForResult returns, with no polling', async () => {
      const schema = `omniq_t_${randomBytes(4).toString('hex')}`;
      const worker = await boot(urlFor(WORKER_ROLE, schema), workerOptions());
      const producer = await boot(urlFor(PRODUCER_ROLE, schema), producerOptions);
      const held = await producer.omniq.enqueue('outage.hold', {});
      await started(held).promise;
      // Sessions in the producer's pool before it is deafened: the waiter's first reads must not need
      // a new login, or they would fail, and a waiter tries a failed read again (it would then find
      // the result through those retries, which is not what this test is about).
      await Promise.all(Array.from({ length: 5 }, () => producer.omniq.getTask(held)));
      let returned = false;
      const waiting = producer.omniq.waitForResult(held, { timeoutMs: 30_000 }).finally(() => (returned = true));
      await producer.omniq.getTask(held);

      await deafen(PRODUCER_ROLE);
      holding.get(held)!();
      await eventually(async () => (await worker.omniq.getResult(held))?.status === 'success', 10_000, 'the result to be stored');
      // Deaf, the producer has not heard of it, and it does not poll.
      await sleep(500);
      expect(returned).toBe(false);

      const backAt = Date.now();
      await hear(PRODUCER_ROLE);
      expect(await waiting).toMatchObject({ status: 'success', value: 'released' });
      expect(Date.now() - backAt).toBeLessThan(5_000);
    }, 60_000);
  });
});
