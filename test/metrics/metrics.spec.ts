import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Registry, register } from 'prom-client';
import {
  MetricNameTakenError,
  MetricsOptionError,
  OMNIQ_TASK_QUEUE,
  OmniQMetricsModule,
  OmniQModule,
  OmniQService,
  OmniQWorker,
  Task,
  type OmniQMetricsOptions,
  type OmniQModuleOptions,
  type TaskQueueStore,
} from '../../lib/index.js';
import { newTask } from '../../lib/testing/fixtures.js';
import { TEST_BACKENDS, type TestBackend } from '../support/backends.js';

const runs = { flaky: 0 };

@Injectable()
class MetricTasks {
  @Task('ok')
  ok(): string {
    return 'done';
  }

  @Task('slow')
  async slow(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 30));
  }

  @Task('flaky', { maxRetries: 1, retryDelayMs: 5 })
  flaky(): string {
    runs.flaky++;
    if (runs.flaky === 1) throw new Error('the first attempt fails');
    return 'second time';
  }

  @Task('doomed', { maxRetries: 0 })
  doomed(): never {
    throw new Error('always');
  }

  @Task('mail.send', { queue: 'mail' })
  send(): void {}
}

interface MetricsApp {
  app: INestApplicationContext;
  omniq: OmniQService;
  worker: OmniQWorker;
  store: TaskQueueStore;
  /** Enqueues, then waits until the worker recorded the task's end (the metrics of its attempts included). */
  run(name: string): Promise<string>;
  close(): Promise<void>;
}

const apps: MetricsApp[] = [];

async function startApp(options: OmniQModuleOptions, metrics?: OmniQMetricsOptions): Promise<MetricsApp> {
  @Module({ imports: [OmniQModule.forRoot(options), ...(metrics ? [OmniQMetricsModule.forRoot(metrics)] : [])], providers: [MetricTasks] })
  class MetricsAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [MetricsAppModule] }).compile();
  moduleRef.useLogger(false);
  const app = await moduleRef.init();
  const omniq = app.get(OmniQService);
  const worker = app.get(OmniQWorker);
  const started: MetricsApp = {
    app,
    omniq,
    worker,
    store: app.get<TaskQueueStore>(OMNIQ_TASK_QUEUE),
    async run(name) {
      const id = await omniq.enqueue(name, {});
      await settle(this, id);
      return id;
    },
    close: () => app.close(),
  };
  apps.push(started);
  return started;
}

async function settle(app: MetricsApp, id: string): Promise<void> {
  await app.omniq.waitForResult(id, { timeoutMs: 10_000 });
  await app.worker.settled(id);
}

/** Stores a task straight in the queue, enqueued (and due) `agoMs` ago, as another process would have. */
async function storeOld(app: MetricsApp, name: string, queue: string, agoMs: number): Promise<string> {
  const createdAt = new Date(Date.now() - agoMs);
  const task = newTask({ name, queue, createdAt });
  await app.store.enqueue([task]);
  return task.id;
}

/** The value of one series (`series`: the family name or one of a histogram's `_count`/`_bucket`/`_sum`), labels matched exactly. */
async function sample(registry: Registry, family: string, labels: Record<string, string | number>, series = family): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === family);
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const found = metric?.values.find((v) => ((v as { metricName?: string }).metricName ?? family) === series && JSON.stringify(Object.entries(v.labels).sort()) === wanted);
  return found?.value;
}

const task = (name: string, queue = 'default') => ({ messaging_destination_name: queue, task_name: name });

beforeEach(() => {
  runs.flaky = 0;
});

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

const BACKENDS = TEST_BACKENDS.filter((backend) => backend.name === 'memory' || backend.name === 'sqlite');

describe.each(BACKENDS.map((backend) => [backend.name, backend] as const))('OmniQMetricsModule (%s)', (_name, backend: TestBackend) => {
  it('counts sent, consumed, retried and failed tasks by queue and task, with histograms of attempt duration and queue time', async () => {
    const registry = new Registry();
    const app = await startApp({ backend: backend.url() }, { registry });
    await app.run('ok');
    await app.run('ok');
    await app.run('slow');
    await app.run('flaky');
    await app.run('doomed');
    await app.run('mail.send');
    await settle(app, await storeOld(app, 'ok', 'default', 90_000));

    const sent = 'messaging_client_sent_messages_total';
    expect(await sample(registry, sent, task('ok'))).toBe(2);
    expect(await sample(registry, sent, task('flaky'))).toBe(1);
    expect(await sample(registry, sent, task('mail.send', 'mail'))).toBe(1);
    expect(await registry.getSingleMetricAsString(sent)).toContain(`${sent}{messaging_destination_name="mail",task_name="mail.send"} 1`);

    const consumed = 'messaging_client_consumed_messages_total';
    expect(await sample(registry, consumed, task('ok'))).toBe(3);
    expect(await sample(registry, consumed, task('flaky'))).toBe(2);
    expect(await sample(registry, consumed, task('doomed'))).toBe(1);

    expect(await sample(registry, 'omniq_tasks_retried_total', task('flaky'))).toBe(1);
    expect(await sample(registry, 'omniq_tasks_retried_total', task('doomed'))).toBeUndefined();
    expect(await sample(registry, 'omniq_tasks_failed_total', { ...task('doomed'), outcome: 'failed' })).toBe(1);
    expect(await sample(registry, 'omniq_tasks_failed_total', { ...task('flaky'), outcome: 'failed' })).toBeUndefined();

    const duration = 'messaging_process_duration_seconds';
    const count = `${duration}_count`;
    expect(await sample(registry, duration, { ...task('ok'), outcome: 'success' }, count)).toBe(3);
    expect(await sample(registry, duration, { ...task('flaky'), outcome: 'retry' }, count)).toBe(1);
    expect(await sample(registry, duration, { ...task('flaky'), outcome: 'success' }, count)).toBe(1);
    expect(await sample(registry, duration, { ...task('doomed'), outcome: 'failed' }, count)).toBe(1);
    // The slow handler takes 30 ms: its attempt is above the 25 ms bucket, within the 10 s one.
    expect(await sample(registry, duration, { ...task('slow'), outcome: 'success', le: 0.025 }, `${duration}_bucket`)).toBe(0);
    expect(await sample(registry, duration, { ...task('slow'), outcome: 'success', le: 10 }, `${duration}_bucket`)).toBe(1);

    // Queue time counts every attempt; the task stored 90 s ago waited past the 60 s bucket.
    const queueTime = 'omniq_task_queue_time_seconds';
    expect(await sample(registry, queueTime, task('flaky'), `${queueTime}_count`)).toBe(2);
    expect(await sample(registry, queueTime, task('ok'), `${queueTime}_count`)).toBe(3);
    expect(await sample(registry, queueTime, { ...task('ok'), le: 60 }, `${queueTime}_bucket`)).toBe(2);
    expect(await sample(registry, queueTime, { ...task('ok'), le: 300 }, `${queueTime}_bucket`)).toBe(3);
    expect(await sample(registry, queueTime, task('ok'), `${queueTime}_sum`)).toBeGreaterThanOrEqual(90);
  });

  it('computes the tasks per queue and status and the oldest pending age at scrape time', async () => {
    const registry = new Registry();
    const app = await startApp({ backend: backend.url(), worker: { enabled: false } }, { registry });
    await storeOld(app, 'mail.send', 'mail', 120_000);
    await app.omniq.enqueue('mail.send', {});
    await app.omniq.enqueue('mail.send', {});
    await app.omniq.enqueue('mail.send', {}, { delayMs: 60_000 });

    const tasks = 'omniq_queue_tasks';
    const mail = { messaging_destination_name: 'mail' };
    expect(await sample(registry, tasks, { ...mail, status: 'pending' })).toBe(3);
    expect(await sample(registry, tasks, { ...mail, status: 'scheduled' })).toBe(1);
    expect(await sample(registry, tasks, { ...mail, status: 'running' })).toBe(0);
    const age = 'omniq_queue_oldest_pending_age_seconds';
    expect(await sample(registry, age, mail)).toBeGreaterThanOrEqual(120);
    expect(await sample(registry, age, mail)).toBeLessThan(180);

    await app.omniq.cancelWhere({ queue: 'mail', status: 'pending' });
    expect(await sample(registry, tasks, { ...mail, status: 'pending' })).toBe(0);
    expect(await sample(registry, tasks, { ...mail, status: 'cancelled' })).toBe(3);
    expect(await sample(registry, age, mail)).toBe(0);
  });
});

describe('OmniQMetricsModule', () => {
  it('keeps two apps in one process apart, each in its own registry', async () => {
    const [first, second] = [new Registry(), new Registry()];
    const a = await startApp({ backend: 'memory://' }, { registry: first });
    const b = await startApp({ backend: 'memory://' }, { registry: second });
    await a.run('ok');
    await b.run('ok');
    await b.run('ok');
    expect(await sample(first, 'messaging_client_sent_messages_total', task('ok'))).toBe(1);
    expect(await sample(second, 'messaging_client_sent_messages_total', task('ok'))).toBe(2);
    expect(await sample(first, 'messaging_client_consumed_messages_total', task('ok'))).toBe(1);
    expect(await sample(second, 'omniq_queue_tasks', { messaging_destination_name: 'default', status: 'success' })).toBe(2);
    expect(await sample(first, 'omniq_queue_tasks', { messaging_destination_name: 'default', status: 'success' })).toBe(1);
  });

  it("registers in prom-client's default registry when given none, refuses a second app there, and leaves it at shutdown", async () => {
    const name = 'messaging_process_duration_seconds';
    const first = await startApp({ backend: 'memory://' }, {});
    expect(register.getSingleMetric(name)).toBeDefined();
    await expect(startApp({ backend: 'memory://' }, {})).rejects.toThrow(
      new MetricNameTakenError('messaging_client_sent_messages_total'),
    );
    await first.close();
    expect(register.getSingleMetric(name)).toBeUndefined();
    const next = await startApp({ backend: 'memory://' }, {});
    await next.run('ok');
    expect(await sample(register, 'messaging_client_consumed_messages_total', task('ok'))).toBe(1);
    await next.close();
    expect(register.getMetricsAsArray()).toHaveLength(0);
  });

  it('puts the prefix before every name, and its own buckets on the histograms', async () => {
    const registry = new Registry();
    const app = await startApp({ backend: 'memory://' }, { registry, prefix: 'shop_', buckets: { processDuration: [0.5, 2], queueTime: [1] } });
    await app.run('ok');
    const names = registry.getMetricsAsArray().map((metric) => metric.name).sort();
    expect(names).toEqual([
      'shop_messaging_client_consumed_messages_total',
      'shop_messaging_client_sent_messages_total',
      'shop_messaging_process_duration_seconds',
      'shop_omniq_queue_oldest_pending_age_seconds',
      'shop_omniq_queue_tasks',
      'shop_omniq_task_queue_time_seconds',
      'shop_omniq_tasks_failed_total',
      'shop_omniq_tasks_retried_total',
    ]);
    const text = await registry.getSingleMetricAsString('shop_messaging_process_duration_seconds');
    expect(text.match(/_bucket\{/g)).toHaveLength(3);
    expect(text).toContain('le="2"');
    expect(await registry.getSingleMetricAsString('shop_omniq_task_queue_time_seconds')).toContain('le="1"');
  });

  it('serves the other metrics with the gauges left out when the task store cannot be read', async () => {
    const registry = new Registry();
    const shared = await TEST_BACKENDS.find((backend) => backend.name === 'memory')!.shared();
    const app = await startApp({ ...shared.options, worker: { enabled: false }, maintenance: { enabled: false }, scheduler: { enabled: false } }, { registry });
    await app.omniq.enqueue('ok', {});
    await shared.engine.close();
    const text = await registry.metrics();
    expect(text).toContain('messaging_client_sent_messages_total{messaging_destination_name="default",task_name="ok"} 1');
    expect(text).not.toContain('omniq_queue_tasks{');
  });

  it('names the option it cannot use', () => {
    expect(() => OmniQMetricsModule.forRoot({ prefix: '9lives_' })).toThrow(
      new MetricsOptionError('prefix', '9lives_', 'letters, digits, _ and :, not starting with a digit'),
    );
    expect(() => OmniQMetricsModule.forRoot({ buckets: { queueTime: [5, 1] } })).toThrow(
      'OmniQMetricsModule.forRoot(): option buckets.queueTime = [5,1] is invalid; expected a non-empty array of finite numbers of seconds above 0, ascending',
    );
    expect(() => OmniQMetricsModule.forRoot({ path: '/metrics' } as OmniQMetricsOptions)).toThrow(
      'OmniQMetricsModule.forRoot(): option path = "/metrics" is invalid; expected one of the options registry, prefix, buckets',
    );
    expect(() => OmniQMetricsModule.forRoot({ registry: {} as Registry })).toThrow(MetricsOptionError);
  });

  it('refuses to start without OmniQModule in the app', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [OmniQMetricsModule.forRoot({ registry: new Registry() })] }).compile();
    moduleRef.useLogger(false);
    await expect(moduleRef.init()).rejects.toThrow('OmniQMetricsModule needs OmniQModule in the same application');
    await moduleRef.close();
  });
});
