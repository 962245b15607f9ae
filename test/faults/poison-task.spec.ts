import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChildWorker, readExecutions } from '../support/child-worker.js';
import { freshSchema, onPostgres, postgresUrl } from '../support/postgres.js';
import { freshPrefix, onRedis, redisUrl } from '../support/redis.js';
import { freshNatsPrefix, natsUrl, onNats } from '../support/nats.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

/** The backends several processes share, each in a fresh folder (a poison task kills the memory backend's only process). */
const BACKENDS: Array<[string, (dir: string) => string]> = [
  ['sqlite', (dir) => `sqlite://${join(dir, 'omniq.db')}`],
  ['file', (dir) => `file://${join(dir, 'data')}`],
  ...onPostgres<[string, (dir: string) => string]>(['postgres', () => postgresUrl(freshSchema())]),
  ...onRedis<[string, (dir: string) => string]>(['redis', () => redisUrl(freshPrefix())]),
  ...onNats<[string, (dir: string) => string]>(['nats', () => natsUrl(freshNatsPrefix())]),
];

const MAX_LAPSES = 2;
const GOOD_TASKS = 10;
/** Worker processes the test starts at most, one after another as the poison task kills them. */
const MAX_GENERATIONS = 6;

describe.each(BACKENDS)('a poison task on %s', (_name, urlFor) => {
  let dir: string;
  let backend: string;
  let producer: TestApp;
  const children: ChildWorker[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'omniq-poison-'));
    backend = urlFor(dir);
    producer = await createTestApp({
      backend,
      worker: { enabled: false },
      scheduler: { enabled: false },
      maintenance: { enabled: false },
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

  it(`that kills its worker ends as a dead letter after ${MAX_LAPSES} deliveries; the tasks reserved with it succeed`, async () => {
    const poison = await producer.omniq.enqueue('proc.poison', {});
    const good = await producer.omniq.enqueueMany(Array.from({ length: GOOD_TASKS }, (_, n) => ({ name: 'proc.work', payload: { n } })));
    const allEnded = Promise.all([poison, ...good].map((id) => producer.omniq.waitForResult(id, { timeoutMs: 90_000 })));
    let done = false;
    void allEnded.finally(() => (done = true));

    // A supervisor, as in production: whenever the worker process dies, start another.
    let generations = 0;
    while (!done && generations < MAX_GENERATIONS) {
      generations++;
      const child = new ChildWorker({
        backend,
        executionsLog: join(dir, 'executions.log'),
        concurrency: 4,
        leaseMs: 1_000,
        workMs: 300,
        options: { maintenance: { maxLapses: MAX_LAPSES } },
      });
      children.push(child);
      await Promise.race([child.exit(), allEnded]);
    }

    const results = await allEnded;
    expect(results[0]).toMatchObject({ status: 'failed', error: { name: 'TaskLapsedError' } });
    expect(results.slice(1).map((result) => result.status)).toEqual(good.map(() => 'success'));
    const dead = await producer.omniq.getTask(poison);
    expect(dead).toMatchObject({ status: 'failed', lapses: MAX_LAPSES, lastError: { name: 'TaskLapsedError' } });
    expect((await producer.omniq.listDeadLetters('default')).items.map((task) => task.id)).toEqual([poison]);
    const events = await producer.omniq.getEvents({ taskId: poison });
    expect(events.filter((event) => event.type === 'reclaimed')).toHaveLength(MAX_LAPSES);
    expect(events.at(-1)).toMatchObject({ type: 'failed', error: { name: 'TaskLapsedError' } });

    const runs = readExecutions(join(dir, 'executions.log'));
    expect(runs.filter((run) => run.taskId === poison)).toHaveLength(MAX_LAPSES);
    // Every good task lapsed at most once: only its first run could share a process with the poison.
    for (const id of good) expect((await producer.omniq.getTask(id))?.lapses).toBeLessThanOrEqual(1);
    expect(generations).toBeLessThanOrEqual(MAX_LAPSES + 1);
  }, 120_000);
});
