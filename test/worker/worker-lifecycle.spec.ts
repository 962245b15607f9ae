import { Injectable, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  OmniQModule,
  OmniQService,
  Task,
  WorkerShutdownError,
  type TaskContext,
} from '../../lib/index.js';
import { createTestApp, deferred } from '../support/test-app.js';
import { describeOnEveryBackend } from '../support/backends.js';

const state = {
  started: deferred(),
  release: deferred(),
  abortReason: undefined as unknown,
  runs: 0,
};

@Injectable()
class LifecycleTasks {
  @Task('hold')
  async hold(): Promise<string> {
    state.runs++;
    state.started.resolve();
    await state.release.promise;
    return 'finished';
  }

  @Task('hold-until-aborted')
  holdUntilAborted(_: unknown, ctx: TaskContext): Promise<string> {
    state.runs++;
    state.started.resolve();
    return new Promise((resolve, reject) => {
      void state.release.promise.then(() => resolve('finished'));
      ctx.signal.addEventListener('abort', () => {
        state.abortReason = ctx.signal.reason;
        reject(ctx.signal.reason);
      });
    });
  }

  @Task('secret')
  secret(payload: { password: string }): number {
    return payload.password.length;
  }

  /** Burns the CPU for `ms` in synchronous 20 ms slices, yielding to the event loop between them (a CPU-bound job done in chunks). */
  @Task('busy')
  async busy(ms: number): Promise<number> {
    state.runs++;
    const end = Date.now() + ms;
    while (Date.now() < end) {
      const slice = Math.min(end, Date.now() + 20);
      while (Date.now() < slice);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return ms;
  }

  @Task('slow')
  async slow(ms: number): Promise<number> {
    state.runs++;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return ms;
  }
}

describeOnEveryBackend('OmniQWorker lifecycle', (backend) => {
  beforeEach(() => Object.assign(state, { started: deferred(), release: deferred(), abortReason: undefined, runs: 0 }));

  it('app.close() waits for in-flight tasks to finish and keeps their results', async () => {
    const shared = await backend.shared();
    const t = await createTestApp({ ...shared.options, worker: { shutdownTimeoutMs: 10_000 } }, [LifecycleTasks]);
    const id = await t.omniq.enqueue('hold', {});
    await state.started.promise;
    let closed = false;
    const closing = t.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    state.release.resolve();
    await closing;
    expect((await shared.engine.results.get(id))?.status).toBe('success');
    expect((await shared.engine.tasks.get(id))?.status).toBe('success');
    await shared.close();
  });

  it('after shutdownTimeoutMs aborts the rest with WorkerShutdownError and releases them for another worker at once', async () => {
    const shared = await backend.shared();
    const first = await createTestApp({ ...shared.options, worker: { shutdownTimeoutMs: 20, leaseMs: 60_000 } }, [LifecycleTasks]);
    const id = await first.omniq.enqueue('hold-until-aborted', {});
    await state.started.promise;
    await first.close();
    expect(state.abortReason).toBeInstanceOf(WorkerShutdownError);
    const released = await shared.engine.tasks.get(id);
    expect(released).toMatchObject({ status: 'pending', attempts: 0 });
    expect(released?.leaseToken).toBeUndefined();
    const types = (await shared.engine.events.query({ taskId: id })).map((e) => e.type);
    expect(types).toEqual(['enqueued', 'started', 'released']);
    expect(await shared.engine.results.get(id)).toBeUndefined();

    state.release.resolve();
    const second = await createTestApp({ ...shared.options }, [LifecycleTasks]);
    expect(await second.omniq.waitForResult(id)).toMatchObject({ status: 'success', value: 'finished', attempts: 1 });
    await second.close();
    await shared.close();
  });

  it('close() is idempotent: concurrent and repeated calls share one shutdown', async () => {
    const t = await createTestApp({ backend: backend.url() }, [LifecycleTasks]);
    const a = t.worker.close();
    const b = t.worker.close();
    expect(a).toBe(b);
    await a;
    expect(t.worker.isRunning).toBe(false);
    await t.close();
  });

  it('renews leases of long tasks so no other worker runs them twice', async () => {
    const shared = await backend.shared();
    const options = { ...shared.options, worker: { leaseMs: 60, heartbeatMs: 15, pollIntervalMs: 10 } };
    const a = await createTestApp(options, [LifecycleTasks]);
    const b = await createTestApp(options, [LifecycleTasks]);
    const id = await a.omniq.enqueue('slow', 250);
    expect(await a.omniq.waitForResult(id)).toMatchObject({ status: 'success', attempts: 1 });
    expect(state.runs).toBe(1);
    await Promise.all([a.close(), b.close()]);
    await shared.close();
  });

  it('renews the lease of a CPU-bound handler that yields between slices, however busy it keeps the process', async () => {
    const shared = await backend.shared();
    const options = { ...shared.options, worker: { leaseMs: 150, heartbeatMs: 40, pollIntervalMs: 10 }, maintenance: { intervalMs: 10, leaderTtlMs: 1_000 } };
    const a = await createTestApp(options, [LifecycleTasks]);
    const b = await createTestApp(options, [LifecycleTasks]);
    const id = await a.omniq.enqueue('busy', 1_500);
    expect(await a.omniq.waitForResult(id)).toMatchObject({ status: 'success', attempts: 1 });
    expect(state.runs).toBe(1);
    expect((await a.omniq.getEvents({ taskId: id })).map((e) => e.type)).not.toContain('reclaimed');
    await Promise.all([a.close(), b.close()]);
    await shared.close();
  });

  it('redelivers a task whose holder vanished once its lease expires (at-least-once)', async () => {
    const shared = await backend.shared();
    const producer = await createTestApp({ ...shared.options, worker: { enabled: false }, maintenance: { enabled: false } }, [LifecycleTasks]);
    const id = await producer.omniq.enqueue('slow', 1);
    const [crashed] = await shared.engine.tasks.reserve({ queues: ['default'], workerId: 'crashed', limit: 1, leaseMs: 30 });
    expect(crashed?.id).toBe(id);
    const worker = await createTestApp({ ...shared.options, worker: { pollIntervalMs: 10 }, maintenance: { intervalMs: 10, leaderTtlMs: 1_000 } }, [LifecycleTasks]);
    expect(await worker.omniq.waitForResult(id)).toMatchObject({ status: 'success', attempts: 2 });
    const timeline = (await worker.omniq.getEvents({ taskId: id })).map((e) => [e.type, e.workerId]);
    // The lapsed attempt is named in the timeline: nothing between two starts goes unexplained.
    expect(timeline).toEqual([['enqueued', undefined], ['reclaimed', 'crashed'], ['started', worker.worker.id], ['completed', worker.worker.id]]);
    await Promise.all([producer.close(), worker.close()]);
    await shared.close();
  });

  it('logs worker start and task outcomes through the Nest logger without payload contents', async () => {
    const lines: string[] = [];
    const capture = (level: string) => (message: unknown, context?: unknown) => void lines.push(`${level} [${String(context)}] ${String(message)}`);
    const logger: LoggerService = { log: capture('log'), error: capture('error'), warn: capture('warn'), debug: capture('debug'), verbose: capture('verbose') };
    const moduleRef = await Test.createTestingModule({
      imports: [OmniQModule.forRoot({ backend: backend.url(), worker: { id: 'w-log' }, logging: { level: 'debug' } })],
      providers: [LifecycleTasks],
    }).compile();
    moduleRef.useLogger(logger);
    const app = await moduleRef.init();
    const omniq = app.get(OmniQService);
    await omniq.waitForResult(await omniq.enqueue('secret', { password: 'hunter2-424242' }));
    await app.close();
    const text = lines.join('\n');
    expect(text).toContain('log [OmniQWorker] Worker w-log started: concurrency 10, queues default');
    expect(text).toMatch(/debug \[OmniQWorker\] Task secret \S+ succeeded in \d+ ms/);
    expect(text).toContain('log [OmniQWorker] Worker w-log stopped');
    expect(text).not.toContain('424242');
  });
});
