import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { Task } from '../../lib/index.js';
import { memoryBackend } from '../../lib/backends/memory/memory.backend.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

const runs = { payloads: [] as unknown[], reached: new Map<number, () => void>() };

/** Resolves once `count` handler calls happened. */
function runsReach(count: number): Promise<void> {
  return new Promise((resolve) => (runs.payloads.length >= count ? resolve() : runs.reached.set(count, resolve)));
}

@Injectable()
class InstantTasks {
  @Task('instant', { maxRetries: 0 })
  instant(payload: unknown): string {
    runs.payloads.push(payload);
    runs.reached.get(runs.payloads.length)?.();
    return 'done';
  }
}

/**
 * The worker against a store whose answers come late or interleaved, as a server's do: the
 * store is a memory engine whose calls the test wraps.
 */
describe('the worker, when the store answers late', () => {
  let t: TestApp | undefined;
  let engine: StorageEngine | undefined;
  afterEach(async () => {
    await t?.close();
    await engine?.close();
    t = engine = undefined;
    runs.payloads.length = 0;
    runs.reached.clear();
  });

  async function boot(wrap: (queue: TaskQueueStore) => void, concurrency: number): Promise<TestApp> {
    engine = await memoryBackend.open('memory://', { projectName: 'omniq', baseDir: '.', storageOptions: {} });
    wrap(engine.tasks);
    t = await createTestApp({ taskQueue: engine.tasks, resultStore: engine.results, eventStore: engine.events, worker: { concurrency, pollIntervalMs: 20 } }, [InstantTasks]);
    return t;
  }

  it('starts new tasks while ended ones are recorded, and holds at most twice its concurrency', async () => {
    const writes = deferred();
    // Every settle waits until the test lets it go: a store that takes its time recording outcomes.
    const app = await boot((queue) => {
      const settle = queue.settle.bind(queue);
      queue.settle = async (settlements, scope) => {
        await writes.promise;
        return settle(settlements, scope);
      };
    }, 2);
    const ids = await app.omniq.enqueueMany(Array.from({ length: 10 }, (_, n) => ({ name: 'instant', payload: n })));

    // Two ran and ended; their outcomes wait, yet two more ran meanwhile.
    await runsReach(4);
    // Then the worker waits: four leases held, no fifth handler, however long the writes take.
    await sleep(200);
    expect(runs.payloads).toHaveLength(4);
    expect(app.worker.inFlight).toBe(4);

    writes.resolve();
    const results = await Promise.all(ids.map((id) => app.omniq.waitForResult(id)));
    expect(results.map((result) => result.status)).toEqual(ids.map(() => 'success'));
    expect(runs.payloads).toHaveLength(10);
  });

  it('stops a task whose cancel request is heard before the reserve that returned it: it ends cancelled, unrun', async () => {
    // The reserve committed, another process cancels the task, and its control message is heard
    // here while the reserve's answer is still on its way.
    const app = await boot((queue) => {
      const reserve = queue.reserve.bind(queue);
      queue.reserve = async (request) => {
        const tasks = await reserve(request);
        for (const task of tasks) {
          const heard = new Promise<void>((resolve) => {
            const stop = queue.notifier.listen('control', (message) => message === `cancel:${task.id}` && (stop(), resolve()));
          });
          await queue.cancel(task.id, { name: 'TaskCancelledError', message: 'cancelled elsewhere' }, { results: false, events: false });
          await heard;
        }
        return tasks;
      };
    }, 1);
    const id = await app.omniq.enqueue('instant', 'cancelled');
    expect(await app.omniq.waitForResult(id)).toMatchObject({ status: 'cancelled' });
    expect(runs.payloads).toEqual([]);
  });
});
