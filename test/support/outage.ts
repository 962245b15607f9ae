import { setTimeout as sleep } from 'node:timers/promises';
import { Injectable, type Provider } from '@nestjs/common';
import { FINAL_TASK_STATUSES, Task, type OmniQModuleOptions, type TaskContext, type TaskStatus } from '../../lib/index.js';
import type { Backend, StorageEngine } from '../../lib/storage/engine.js';
import { eventually } from './eventually.js';
import { createTestApp, type TestApp } from './test-app.js';

/** Polling this slow cannot explain anything that happens within a test: only notifications can. */
export const NO_POLLING = 60_000;
/** How long a call waits for a connection that is down (storageOptions.connectTimeoutMs). */
export const CONNECT_TIMEOUT_MS = 1_000;
const WORK_MS = 10;

/** Every run of `outage.work`, in the order they started. */
export const runs: Array<{ id: string; startedAt: number }> = [];

@Injectable()
export class OutageWork {
  @Task('outage.work')
  async work(payload: { n: number }, ctx: TaskContext): Promise<number> {
    runs.push({ id: ctx.taskId, startedAt: Date.now() });
    await sleep(WORK_MS);
    return payload.n;
  }
}

export const workerOptions = (worker: OmniQModuleOptions['worker'] = {}): OmniQModuleOptions => ({
  worker: { concurrency: 8, pollIntervalMs: NO_POLLING, ...worker },
  maintenance: { intervalMs: 200 },
});
export const producerOptions: OmniQModuleOptions = { worker: { enabled: false } };

export const workItems = (count: number) => Array.from({ length: count }, (_, n) => ({ name: 'outage.work', payload: { n } }));

/** How many times each task ran. */
export function runCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { id } of runs) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
}

/**
 * The statuses of `ids` once every one has ended, read in one call; a read that meets what is
 * left of the outage (it fails) is simply read again. A task that is gone ('missing') counts as
 * ended, unless `missing` is 'waits': then it is waited for.
 */
export function endStatuses(app: TestApp, ids: readonly string[], timeoutMs: number, missing: 'ends' | 'waits' = 'ends'): Promise<Array<TaskStatus | 'missing'>> {
  const ended = (status: TaskStatus | 'missing'): boolean => (status === 'missing' ? missing === 'ends' : FINAL_TASK_STATUSES.includes(status));
  return eventually(
    async () => {
      const tasks = await app.omniq.getTasks(ids).catch(() => undefined);
      const statuses = tasks?.map((task) => task?.status ?? 'missing');
      return statuses?.every(ended) ? statuses : undefined;
    },
    timeoutMs,
    'every task to end',
  );
}

/** Enqueues while the server is down; what the enqueue rejected with (undefined: it did not), having checked that it came within the bounded wait. */
export async function enqueueDuringOutage(producer: TestApp): Promise<unknown> {
  const attemptAt = Date.now();
  const refused = await producer.omniq.enqueue('outage.work', { n: -1 }).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(Date.now() - attemptAt).toBeLessThan(CONNECT_TIMEOUT_MS + 2_000);
  return refused;
}

/**
 * After the restart: the subscription is back by itself, so a new task starts at once, with no
 * polling. (Its result may wait behind the outcomes the worker is still retrying to record.)
 */
export async function lateTaskRunsAtOnce(producer: TestApp): Promise<string> {
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
  return late.id;
}

/** A server of the test's own (a PrivateServer). */
interface Removable {
  remove(): Promise<void>;
}

/** The apps, engines and private servers of an outage spec's tests (see outageRig). */
export class OutageRig {
  private readonly apps: TestApp[] = [];
  private readonly engines: StorageEngine[] = [];
  private readonly servers: Removable[] = [];

  constructor(private readonly providers: Provider[]) {}

  /** A private server, removed after the test. */
  async server<S extends Removable>(created: Promise<S>): Promise<S> {
    const server = await created;
    this.servers.push(server);
    return server;
  }

  /** An app with the tasks, no scheduler and no result polling, on `options`; closed after the test. */
  async app(options: OmniQModuleOptions): Promise<TestApp> {
    const app = await createTestApp({ scheduler: { enabled: false }, resultPollIntervalMs: NO_POLLING, ...options }, this.providers);
    this.apps.push(app);
    return app;
  }

  /**
   * An app on an engine of its own on `url` (as a process of its own would have), with the
   * engine's stores handed in: the backend's own client and its bounded waits, whatever the
   * registry lists.
   */
  async appOnEngine(backend: Backend, url: string, options: OmniQModuleOptions): Promise<TestApp> {
    const engine = await backend.open(url, { projectName: 'omniq', baseDir: '.', storageOptions: { connectTimeoutMs: CONNECT_TIMEOUT_MS } });
    this.engines.push(engine);
    return this.app({ taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events, ...options });
  }

  /**
   * Apps and engines first, while their server still runs (a Redis client closed in the middle of
   * reconnecting leaves a timer of ioredis's behind for 2 s), then the servers; the runs are forgotten.
   */
  async tearDown(): Promise<void> {
    for (const app of this.apps.splice(0)) await app.close();
    for (const engine of this.engines.splice(0)) await engine.close();
    for (const server of this.servers.splice(0)) await server.remove();
    runs.splice(0);
  }
}

/** The rig of an outage spec whose apps run `providers` (OutageWork among them), torn down after each test. */
export function outageRig(providers: Provider[] = [OutageWork]): OutageRig {
  const rig = new OutageRig(providers);
  afterEach(() => rig.tearDown());
  return rig;
}
