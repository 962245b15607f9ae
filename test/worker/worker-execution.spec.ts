import { Injectable } from '@nestjs/common';
import { NonRetryableError, Task, TaskTimeoutError, type TaskContext } from '../../lib/index.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';
import { describeOnEveryBackend } from '../support/backends.js';

const state = {
  current: 0,
  max: 0,
  saturated: deferred(),
  release: deferred(),
  order: [] as string[],
  flakyCalls: 0,
  ttlRuns: 0,
  timeoutReason: undefined as unknown,
};

@Injectable()
class WorkerTasks {
  @Task('slot')
  async slot(): Promise<void> {
    state.current++;
    state.max = Math.max(state.max, state.current);
    if (state.current === 3) state.saturated.resolve();
    await state.release.promise;
    state.current--;
  }

  @Task('record')
  record(payload: string): void {
    state.order.push(payload);
  }

  @Task('flaky', { maxRetries: 3, retryDelayMs: 10 })
  flaky(): string {
    state.flakyCalls++;
    if (state.flakyCalls < 3) throw new Error(`flaky failure ${state.flakyCalls}`);
    return 'third time lucky';
  }

  @Task('fatal', { maxRetries: 5, retryDelayMs: 10 })
  fatal(): never {
    throw new NonRetryableError('bad input');
  }

  @Task('exhaust', { maxRetries: 2, retryDelayMs: 5, retryBackoff: 'fixed' })
  exhaust(): never {
    throw new Error('always');
  }

  @Task('stubborn', { timeoutMs: 40, maxRetries: 0 })
  stubborn(): Promise<never> {
    return new Promise<never>(() => undefined);
  }

  @Task('cooperative', { timeoutMs: 40, maxRetries: 0 })
  cooperative(_: unknown, ctx: TaskContext): Promise<void> {
    return new Promise((_resolve, reject) =>
      ctx.signal.addEventListener('abort', () => {
        state.timeoutReason = ctx.signal.reason;
        reject(ctx.signal.reason);
      }),
    );
  }

  @Task('ttl')
  ttl(): void {
    state.ttlRuns++;
  }

  @Task('report')
  async report(_: unknown, ctx: TaskContext): Promise<string> {
    await ctx.progress({ done: 1, of: 2 });
    await ctx.progress(0.75);
    await expect(ctx.progress(() => 1)).rejects.toThrow('ctx.progress(): function is not JSON data');
    return 'done';
  }

  @Task('slow-start', { timeoutMs: 40, maxRetries: 0 })
  slowStart(): Promise<string> {
    const until = Date.now() + 60;
    while (Date.now() < until);
    return new Promise((resolve) => setTimeout(() => resolve('too late'), 30));
  }

  @Task('destructures')
  async destructures(_: unknown, ctx: TaskContext): Promise<unknown> {
    const { taskId, attempt, signal, logger, progress, parents } = ctx;
    await progress(0.5);
    logger.log('half way');
    const spread = { ...ctx };
    await spread.progress(0.6);
    return { taskId, attempt, aborted: signal.aborted, parents: await parents(), spreadParents: await spread.parents() };
  }

  @Task('hostile-thenable', { maxRetries: 0 })
  hostileThenable(): unknown {
    return new Proxy(
      {},
      {
        get: (_, key) => {
          if (key === 'then') throw new Error('then getter exploded');
          return undefined;
        },
      },
    );
  }

  @Task('sync-sum')
  syncSum(payload: number[]): number {
    return payload.reduce((a, b) => a + b, 0);
  }
}

describeOnEveryBackend('OmniQWorker execution', (backend) => {
  let t: TestApp;
  beforeEach(() => {
    Object.assign(state, { current: 0, max: 0, saturated: deferred(), release: deferred(), order: [], flakyCalls: 0, ttlRuns: 0 });
  });
  afterEach(() => t?.close());

  it('never has more than `concurrency` tasks in flight', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { concurrency: 3 } }, [WorkerTasks]);
    const ids = await t.omniq.enqueueMany(Array.from({ length: 12 }, () => ({ name: 'slot', payload: null })));
    await state.saturated.promise;
    expect(t.worker.inFlight).toBe(3);
    state.release.resolve();
    const results = await Promise.all(ids.map((id) => t.omniq.waitForResult(id)));
    expect(results.every((r) => r.status === 'success')).toBe(true);
    expect(state.max).toBe(3);
  });

  it('serves queues in priority order, then task priority, then FIFO', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { enabled: false, concurrency: 1, queues: ['high', 'default', 'low'] } }, [WorkerTasks]);
    const ids = await t.omniq.enqueueMany([
      { name: 'record', payload: 'low', options: { queue: 'low' } },
      { name: 'record', payload: 'default-1' },
      { name: 'record', payload: 'default-urgent', options: { priority: 10 } },
      { name: 'record', payload: 'default-2' },
      { name: 'record', payload: 'high', options: { queue: 'high' } },
    ]);
    t.worker.start();
    await Promise.all(ids.map((id) => t.omniq.waitForResult(id)));
    expect(state.order).toEqual(['high', 'default-urgent', 'default-1', 'default-2', 'low']);
  });

  it('runs sync handlers and stores their return value', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    expect((await t.omniq.waitForResult(await t.omniq.enqueue('sync-sum', [1, 2, 3]))).value).toBe(6);
  });

  it('retries with exponential backoff and succeeds, recording each transition', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('flaky', {});
    const result = await t.omniq.waitForResult(id);
    expect(result).toMatchObject({ status: 'success', value: 'third time lucky', attempts: 3 });
    await t.worker.close();
    const events = await t.omniq.getEvents({ taskId: id });
    expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'retry', 'started', 'retry', 'started', 'completed']);
    const delays = events.filter((e) => e.type === 'retry').map((e) => e.data?.delayMs as number);
    expect(delays[0]).toBeGreaterThanOrEqual(10);
    expect(delays[0]).toBeLessThanOrEqual(11);
    expect(delays[1]).toBeGreaterThanOrEqual(20);
    expect(delays[1]).toBeLessThanOrEqual(22);
    expect(events.find((e) => e.type === 'retry')?.error?.message).toBe('flaky failure 1');
  });

  it('does not retry a NonRetryableError', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('fatal', {});
    expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'NonRetryableError', message: 'bad input' } });
    expect(await t.omniq.getTask(id)).toMatchObject({ status: 'failed', lastError: { message: 'bad input' } });
  });

  it('gives up after maxRetries and keeps the task failed with its error', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('exhaust', {});
    expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'failed', attempts: 3 });
    await t.worker.close();
    expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual([
      'enqueued', 'started', 'retry', 'started', 'retry', 'started', 'failed',
    ]);
  });

  it('times out a handler that ignores its signal; the task fails while the handler runs on in its slot', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { concurrency: 2 } }, [WorkerTasks]);
    const stuck = await t.omniq.enqueue('stubborn', {});
    const next = await t.omniq.enqueue('sync-sum', [2, 2]);
    expect(await t.omniq.waitForResult(stuck)).toMatchObject({ status: 'timeout', error: { name: 'TaskTimeoutError' } });
    expect((await t.omniq.waitForResult(next)).value).toBe(4);
    await t.worker.settled(stuck);
    expect(t.worker.overrunning).toBe(1);
    await t.worker.close();
    expect((await t.omniq.getTask(stuck))?.status).toBe('failed');
    expect((await t.omniq.getEvents({ taskId: stuck })).map((e) => e.type)).toEqual(['enqueued', 'started', 'timeout', 'failed']);
  });

  it('counts the synchronous start of an async handler towards its timeout', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    expect(await t.omniq.waitForResult(await t.omniq.enqueue('slow-start', {}))).toMatchObject({ status: 'timeout', error: { name: 'TaskTimeoutError' } });
  });

  it('gives handlers a context they can destructure or spread, functions included', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('destructures', {});
    expect((await t.omniq.waitForResult(id)).value).toEqual({ taskId: id, attempt: 1, aborted: false, parents: [], spreadParents: [] });
    expect((await t.omniq.getTask(id))?.progress).toBe(0.6);
  });

  it('fails a task whose return value explodes when checked for `then`, and goes on', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('hostile-thenable', {});
    expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'failed', error: { message: 'then getter exploded' } });
    expect((await t.omniq.waitForResult(await t.omniq.enqueue('sync-sum', [1, 2]))).value).toBe(3);
  });

  it('aborts the signal of a cooperative handler with TaskTimeoutError', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    expect((await t.omniq.waitForResult(await t.omniq.enqueue('cooperative', {}))).status).toBe('timeout');
    expect(state.timeoutReason).toBeInstanceOf(TaskTimeoutError);
  });

  it('never runs a task whose TTL passed before a worker reached it, and marks it expired', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { pollIntervalMs: 20 } }, [WorkerTasks]);
    const id = await t.omniq.enqueue('ttl', {}, { delayMs: 60, ttlMs: 30 });
    expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'expired', error: { name: 'TaskExpiredError' } });
    expect((await t.omniq.getTask(id))?.status).toBe('expired');
    expect(state.ttlRuns).toBe(0);
  });

  it('stores ctx.progress() on the task and records progress events', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const id = await t.omniq.enqueue('report', {});
    expect((await t.omniq.waitForResult(id)).value).toBe('done');
    expect((await t.omniq.getTask(id))?.progress).toBe(0.75);
    const progress = await t.omniq.getEvents({ taskId: id, types: ['progress'] });
    expect(progress.map((e) => e.data?.progress)).toEqual([{ done: 1, of: 2 }, 0.75]);
  });

  it('does not store a result when storeResult is false, but still records completion', async () => {
    t = await createTestApp({ backend: backend.url() }, [WorkerTasks]);
    const completed = new Promise<void>((resolve) => {
      const sub = t.omniq.events$.subscribe((e) => {
        if (e.type === 'completed') {
          sub.unsubscribe();
          resolve();
        }
      });
    });
    const id = await t.omniq.enqueue('sync-sum', [1], { storeResult: false });
    await completed;
    await t.worker.close();
    expect(await t.omniq.getResult(id)).toBeUndefined();
    expect((await t.omniq.getTask(id))?.status).toBe('success');
  });
});
