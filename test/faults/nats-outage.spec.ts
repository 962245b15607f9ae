import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable } from '@nestjs/common';
import { FINAL_TASK_STATUSES, Task, type OmniQModuleOptions, type TaskContext, type TaskStatus } from '../../lib/index.js';
import { natsBackend } from '../../lib/backends/nats/nats.backend.js';
import { NatsStorageError } from '../../lib/backends/nats/nats-storage.error.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { eventually } from '../support/eventually.js';
import { NatsServer, describeOnPrivateNats } from '../support/nats-server.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/** Polling this slow cannot explain anything that happens within a test: only notifications can. */
const NO_POLLING = 60_000;
const WORK_MS = 10;
const CONNECT_TIMEOUT_MS = 1_000;
const OUTAGE_MS = 3_000;

/** Every run of `outage.work`, in the order they started. */
const runs: Array<{ id: string; startedAt: number }> = [];

@Injectable()
class OutageTasks {
  @Task('outage.work')
  async work(payload: { n: number }, ctx: TaskContext): Promise<number> {
    runs.push({ id: ctx.taskId, startedAt: Date.now() });
    await sleep(WORK_MS);
    return payload.n;
  }
}

const apps: TestApp[] = [];
const engines: StorageEngine[] = [];
const servers: NatsServer[] = [];

afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const engine of engines.splice(0)) await engine.close();
  for (const server of servers.splice(0)) await server.remove();
  runs.splice(0);
});

/** An app on an engine of its own on `url` (as a process of its own would have), with the engine's stores handed in. */
async function boot(url: string, options: OmniQModuleOptions): Promise<TestApp> {
  const engine = await natsBackend.open(url, { projectName: 'omniq', baseDir: '.', storageOptions: { connectTimeoutMs: CONNECT_TIMEOUT_MS } });
  engines.push(engine);
  const app = await createTestApp(
    { taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events, scheduler: { enabled: false }, resultPollIntervalMs: NO_POLLING, ...options },
    [OutageTasks],
  );
  apps.push(app);
  return app;
}

const workerOptions: OmniQModuleOptions = { worker: { concurrency: 4, pollIntervalMs: NO_POLLING, leaseMs: 10_000 }, maintenance: { intervalMs: 200 } };
const producerOptions: OmniQModuleOptions = { worker: { enabled: false } };

const workItems = (count: number) => Array.from({ length: count }, (_, n) => ({ name: 'outage.work', payload: { n } }));

function runCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { id } of runs) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/** The statuses of `ids` once every one has ended, read in one call; a read that fails right after the restart is read again. */
function endStatuses(app: TestApp, ids: readonly string[], timeoutMs: number): Promise<Array<TaskStatus | 'missing'>> {
  return eventually(
    async () => {
      const tasks = await app.omniq.getTasks(ids).catch(() => undefined);
      const statuses = tasks?.map((task) => task?.status ?? 'missing');
      return statuses?.every((status) => status === 'missing' || FINAL_TASK_STATUSES.includes(status)) ? statuses : undefined;
    },
    timeoutMs,
    'every task to end',
  );
}

describeOnPrivateNats('NATS: a private server stopped and started again mid-run', () => {
  it('enqueue rejects clearly in bounded time, workers reconnect by themselves, no task is lost, and a new task starts at once', async () => {
    const server = await NatsServer.create();
    servers.push(server);
    await boot(server.url, workerOptions);
    const producer = await boot(server.url, producerOptions);

    const ids = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    await server.stop();
    const stoppedAt = Date.now();
    const startedBeforeStop = new Set(runs.map((run) => run.id));

    const attemptAt = Date.now();
    const refused = await producer.omniq.enqueue('outage.work', { n: -1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(Date.now() - attemptAt).toBeLessThan(CONNECT_TIMEOUT_MS + 2_000);
    expect(refused).toBeInstanceOf(NatsStorageError);
    expect((refused as Error).message).toContain(`127.0.0.1:${server.port}`);
    // Sent before the client saw the socket close, or held back until the connect timeout: either way it says what happened.
    expect((refused as Error).message).toMatch(/connectTimeoutMs .*nothing was sent|lost with the request in flight: it may or may not have been applied/);

    // The outage itself: nothing to wait for but time.
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    await server.start();

    expect(await endStatuses(producer, ids, 60_000)).toEqual(ids.map(() => 'success'));
    const counts = runCounts();
    expect(ids.filter((id) => (counts.get(id) ?? 0) === 0)).toEqual([]);
    // At least once: only a task that had started before the stop may have run again (its outcome not recorded in time).
    expect(ids.filter((id) => counts.get(id)! > 1 && !startedBeforeStop.has(id))).toEqual([]);
    const results = await Promise.all(ids.map((id) => producer.omniq.getResult(id)));
    expect(results.filter((result) => result?.status !== 'success')).toEqual([]);

    // The subscription is back by itself: a new task starts without polling.
    const late = await eventually(
      async () => {
        const at = Date.now();
        const id = await producer.omniq.enqueue('outage.work', { n: 1_000 }).catch(() => undefined);
        return id && { id, at };
      },
      10_000,
      'an enqueue to succeed after the restart',
    );
    const run = await eventually(async () => runs.find((entry) => entry.id === late.id), 10_000, 'the late task to start');
    expect(run.startedAt - late.at).toBeLessThan(3_000);
    expect(await producer.omniq.waitForResult(late.id, { timeoutMs: 15_000 })).toMatchObject({ status: 'success', value: 1_000 });
  }, 120_000);
});
