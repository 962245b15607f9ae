import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { OmniQService, TaskEvent } from '../../lib/index.js';
import { nextEvents } from '../support/events.js';
import type { Place } from '../processes/pool-tasks.module.js';
import type { PoolApp } from '../processes/pool-app.js';

type PoolAppModule = typeof import('../processes/pool-app.js');
type WorkerType = 'thread' | 'process';

// Pool members run OmniQ's compiled JavaScript: so does the app that drives them here.
const { createPoolApp } = (await import('../../dist-test/test/processes/pool-app.js' as string)) as PoolAppModule;

const WAIT = { timeoutMs: 20_000 };
const apps: PoolApp[] = [];

async function start(options: Parameters<PoolAppModule['createPoolApp']>[0]): Promise<OmniQService> {
  const app = await createPoolApp(options);
  apps.push(app);
  return app.omniq;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map(({ app }) => app.close()));
});

function memberOf(place: Place): string {
  return `${place.pid}/${place.threadId}`;
}

async function run<R>(omniq: OmniQService, name: string, payload: unknown, options = {}) {
  return omniq.waitForResult<R>((await omniq.enqueue(name, payload, options)) as never, WAIT);
}

describe.each<WorkerType>(['thread', 'process'])('the %s worker', (type) => {
  const offMain = (place: Place): boolean => (type === 'thread' ? !place.isMainThread && place.pid === process.pid : place.pid !== process.pid);
  /** One app with a single pool member for the cases that need nothing else: each member bootstrap costs about a second. */
  let shared: PoolApp;
  beforeAll(async () => {
    shared = await createPoolApp({ worker: { type, threads: 1, processes: 1 } });
  });
  afterAll(() => shared.app.close());

  it('runs a handler with its injected service in a pool member, payload and result crossing through the codec', async () => {
    const { omniq } = shared;
    const result = await run<{ greeting: string; at: Date; sizes: Map<string, number>; place: Place; attempt: number }>(omniq, 'pool.greet', { name: 'Ada' });
    expect(result.status).toBe('success');
    expect(result.value!.greeting).toBe('hello Ada');
    expect(result.value!.at).toEqual(new Date(0));
    expect(result.value!.sizes).toEqual(new Map([['a', 1]]));
    expect(result.value!.attempt).toBe(1);
    expect(offMain(result.value!.place)).toBe(true);
  });

  it('keeps a handler with runIn: "async" on the event loop', async () => {
    const { omniq } = shared;
    const result = await run<Place>(omniq, 'pool.loop', {});
    expect(result.value).toEqual({ pid: process.pid, threadId: 0, isMainThread: true });
  });

  it('kills a handler that never yields at its timeout, fails it as timeout, and serves the next task on a fresh member', async () => {
    const { omniq } = shared;
    const before = await run<Place>(omniq, 'pool.where', {});
    const timedOut = await run(omniq, 'pool.forever', {});
    expect(timedOut.status).toBe('timeout');
    expect(timedOut.error).toMatchObject({ name: 'TaskTimeoutError', message: 'Task timed out after 300 ms' });
    const after = await run<Place>(omniq, 'pool.where', {});
    expect(after.status).toBe('success');
    expect(memberOf(after.value!)).not.toBe(memberOf(before.value!));
  });

  it('counts the timeout from when a member begins the handler, not from its bootstrap', async () => {
    const omniq = await start({ worker: { type } });
    const result = await run<Place>(omniq, 'pool.where', {}, { timeoutMs: 150 });
    expect(result.status).toBe('success');
  });

  it('fails only the task of a member that exits, saying so, and runs the next task', async () => {
    const { omniq } = shared;
    const exited = await run(omniq, 'pool.exit', { code: 3 });
    expect(exited.status).toBe('failed');
    expect(exited.error).toMatchObject({ name: 'PoolMemberError', message: expect.stringMatching(new RegExp(`^The ${type} pool member \\(${type} \\d+\\) running task pool.exit \\S+ exited with code 3$`)) });
    expect((await run(omniq, 'pool.where', {})).status).toBe('success');
  });

  it('fails the task of a member that dies of an uncaught error with that error', async () => {
    const { omniq } = shared;
    const crashed = await run(omniq, 'pool.uncaught', {});
    expect(crashed.error).toMatchObject({ name: 'PoolMemberError', message: expect.stringContaining('died of an uncaught RangeError: thrown outside the handler') });
    expect((await run(omniq, 'pool.where', {})).status).toBe('success');
  });

  it("records a handler's error by its own name and retries it, except a NonRetryableError", async () => {
    const { omniq } = shared;
    const rejected = await run(omniq, 'pool.reject', {});
    expect(rejected).toMatchObject({ status: 'failed', attempts: 2, error: { name: 'InvoiceRejected', message: 'invoice 42 was rejected' } });
    const final = await run(omniq, 'pool.final', {});
    expect(final).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'NonRetryableError', message: 'no use retrying' } });
  });

  it("serves ctx in the member: progress is stored and sent as an event, parents are the task's parents", async () => {
    const { omniq } = shared;
    const parent = await omniq.enqueue('pool.greet', { name: 'Grace' });
    const progressed = nextEvents(omniq, 1, (event: TaskEvent) => event.type === 'progress');
    const child = await omniq.enqueue('pool.context', {}, { dependsOn: [parent] });
    const result = await omniq.waitForResult<{ parents: { taskId: string; status: string; value: { greeting: string } }[]; place: Place }>(child as never, WAIT);
    expect(result.status).toBe('success');
    expect(result.value!.parents).toEqual([expect.objectContaining({ taskId: parent, status: 'success', value: expect.objectContaining({ greeting: 'hello Grace' }) })]);
    expect((await progressed)[0]).toMatchObject({ taskId: child, data: { progress: { done: 1, of: 2 } } });
    expect((await omniq.getTask(child))!.progress).toEqual({ done: 1, of: 2 });
  });

  it('terminates a running task when it is cancelled', async () => {
    const { omniq } = shared;
    const running = nextEvents(omniq, 1, (event: TaskEvent) => event.type === 'progress');
    const id = await omniq.enqueue('pool.slow', { ms: 60_000 });
    await running;
    expect(await omniq.cancel(id)).toBe(true);
    expect((await omniq.waitForResult(id as never, WAIT)).status).toBe('cancelled');
    expect((await run(omniq, 'pool.where', {})).status).toBe('success');
  });

  it('reserves no more tasks than it has members free, leaving the rest to other workers', async () => {
    const omniq = await start({ worker: { type, threads: 2, processes: 2 } });
    const twoRunning = nextEvents(omniq, 2, (event: TaskEvent) => event.type === 'progress');
    const ids = await Promise.all([1, 2, 3].map(() => omniq.enqueue('pool.slow', { ms: 400 })));
    const running = (await twoRunning).map((event) => event.taskId);
    const waiting = ids.find((id) => !running.includes(id))!;
    expect((await omniq.getTask(waiting))!.status).toBe('pending');
    for (const id of ids) expect((await omniq.waitForResult(id as never, WAIT)).status).toBe('success');
  });

  it('keeps the lease of a task that keeps its member busy past the lease time', async () => {
    const omniq = await start({ worker: { type, leaseMs: 500, threads: 1, processes: 1 } });
    const result = await run(omniq, 'pool.spin', { ms: 2_000 });
    expect(result).toMatchObject({ status: 'success', attempts: 1 });
  });

  it('replaces a member whose heap stays above poolRecycleHeapMb after a task', async () => {
    const omniq = await start({ worker: { type, threads: 1, processes: 1, poolRecycleHeapMb: 120 } });
    const first = await run<Place>(omniq, 'pool.keep', { mb: 1 });
    const second = await run<Place>(omniq, 'pool.keep', { mb: 128 });
    const third = await run<Place>(omniq, 'pool.where', {});
    expect(memberOf(second.value!)).toBe(memberOf(first.value!));
    expect(memberOf(third.value!)).not.toBe(memberOf(second.value!));
  });

  it('fails the task of a member past poolMaxHeapMb as out of memory', async () => {
    const omniq = await start({ worker: { type, poolMaxHeapMb: 48 } });
    const result = await run(omniq, 'pool.hog', {});
    const dying = type === 'thread' ? 'ran out of memory (its heap limit is 48 MiB)' : 'aborted (most likely past its heap limit of 48 MiB)';
    expect(result.error).toMatchObject({ name: 'PoolMemberError', message: expect.stringContaining(dying) });
    expect((await run(omniq, 'pool.where', {})).status).toBe('success');
  });

  it('waits on shutdown for a task running on the pool, and releases one still running at shutdownTimeoutMs', async () => {
    const { app, omniq } = await createPoolApp({ worker: { type, shutdownTimeoutMs: 1_500 } });
    const seen: TaskEvent[] = [];
    omniq.events$.subscribe((event) => seen.push(event));
    const running = nextEvents(omniq, 2, (event: TaskEvent) => event.type === 'progress');
    const short = await omniq.enqueue('pool.slow', { ms: 300 });
    const long = await omniq.enqueue('pool.slow', { ms: 60_000 });
    await running;
    await app.close();
    expect(seen.filter((event) => event.type === 'completed' || event.type === 'released').map((event) => [event.type, event.taskId])).toEqual([
      ['completed', short],
      ['released', long],
    ]);
  });
});

const RESOLUTION_MS = 5;
const timersTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2 * RESOLUTION_MS));

describe('a pool app', () => {
  it('keeps the event loop responsive while CPU-bound tasks run on threads', async () => {
    const lag = async (type: 'async' | 'thread'): Promise<{ p99: number; max: number }> => {
      const omniq = await start({ worker: { type, threads: 2 } });
      await run(omniq, 'pool.where', {});
      const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      histogram.enable();
      // The histogram records from its second sample on: let it take its first before the load.
      await timersTurn();
      const ids = await Promise.all([1, 2, 3, 4].map(() => omniq.enqueue('pool.spin', { ms: 200 })));
      for (const id of ids) expect((await omniq.waitForResult(id as never, WAIT)).status).toBe('success');
      // One more turn of the timers phase, where the histogram samples the delay of the last block.
      await timersTurn();
      histogram.disable();
      return { p99: histogram.percentile(99) / 1e6, max: histogram.max / 1e6 };
    };
    // On the event loop the four handlers block it for their whole time.
    expect((await lag('async')).max).toBeGreaterThan(150);
    expect((await lag('thread')).p99).toBeLessThan(100);
  });

  it('fails a task whose pool module cannot bootstrap with why, and tries a fresh member for the next', async () => {
    const broken = fileURLToPath(new URL('../../dist-test/test/processes/pool-broken.module.js', import.meta.url));
    const failing = await start({ worker: { type: 'thread', poolModule: `${broken}#FailingModule` } });
    for (let i = 0; i < 2; i++) {
      const result = await run(failing, 'pool.where', {}, { maxRetries: 0 });
      expect(result.error).toMatchObject({
        name: 'PoolMemberError',
        message: `A thread pool member could not bootstrap FailingModule from ${broken}: Error: the licence server is down`,
      });
    }
    const ambiguous = await start({ worker: { type: 'process', poolModule: broken } });
    expect((await run(ambiguous, 'pool.where', {}, { maxRetries: 0 })).error!.message).toBe(
      `A process pool member could not bootstrap ${broken}: Error: ${broken} exports 2 Nest modules (FailingModule, OtherModule): name one in worker.poolModule with #ExportName`,
    );
    const misnamed = await start({ worker: { type: 'thread', poolModule: `${broken}#TasksModule` } });
    expect((await run(misnamed, 'pool.where', {}, { maxRetries: 0 })).error!.message).toMatch(
      /has no exported Nest module "TasksModule" \(its Nest modules: FailingModule, OtherModule\)$/,
    );
    const empty = await start({ worker: { type: 'thread', poolModule: `${broken}#OtherModule` } });
    expect((await run(empty, 'pool.where', {}, { maxRetries: 0 })).error).toMatchObject({
      name: 'NonRetryableError',
      message: 'Task pool.where has no @Task() handler in the pool module: add the provider that declares it to that module',
    });
  });

  it('leaves nothing running after app.close(): the process exits by itself and its child members are gone', async () => {
    const script = fileURLToPath(new URL('../../dist-test/test/processes/pool-close.js', import.meta.url));
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
    expect(output).toMatch(/^closed \d+ gone\n$/);
  });
});
