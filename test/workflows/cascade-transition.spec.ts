import { jest } from '@jest/globals';
import { Injectable } from '@nestjs/common';
import { NonRetryableError, OMNIQ_TASK_QUEUE, Task, type TaskQueueStore } from '../../lib/index.js';
import { describeOnEveryBackend } from '../support/backends.js';
import { nextEvents } from '../support/events.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

@Injectable()
class CascadeTasks {
  @Task('cascade.parent', { maxRetries: 0 })
  parent(): never {
    throw new NonRetryableError('parent broke');
  }

  @Task('cascade.child')
  child(): string {
    return 'ran';
  }

  @Task('cascade.alert')
  alert(): void {}
}

/** Store methods that change or read tasks; reserve, extendLeases and cancelRequested are the worker's own polling. */
const COUNTED = ['settle', 'cancel', 'cancelWhere', 'enqueue', 'get', 'getMany', 'list', 'requeue', 'expireOverdue'] as const;

describeOnEveryBackend('a parent that fails for good', (backend) => {
  let t: TestApp;
  afterEach(() => t?.close());

  it('ends its 100 dependents and enqueues its callback in the one store transition that fails it', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { enabled: false }, scheduler: { enabled: false }, maintenance: { enabled: false } }, [CascadeTasks]);
    const children = Array.from({ length: 100 }, (_, n) => `child-${n}`);
    await t.omniq.enqueueMany([
      { name: 'cascade.parent', payload: null, options: { id: 'root', onFailure: { task: 'cascade.alert' } } },
      ...children.map((id) => ({ name: 'cascade.child', payload: null, options: { id, dependsOn: ['root'] } })),
    ]);
    const queue = t.get<TaskQueueStore>(OMNIQ_TASK_QUEUE);
    const calls: string[] = [];
    for (const method of COUNTED) {
      const original = queue[method].bind(queue) as (...args: unknown[]) => unknown;
      jest.spyOn(queue, method).mockImplementation(((...args: unknown[]) => {
        calls.push(method);
        return original(...args);
      }) as never);
    }
    const alerted = nextEvents(t.omniq, 1, (event) => event.type === 'completed' && event.taskName === 'cascade.alert');
    const cancelled = nextEvents(t.omniq, 100, (event) => event.type === 'cancelled');
    t.worker.start();
    await Promise.all([alerted, cancelled]);
    jest.restoreAllMocks();
    // The parent's settlement, then the callback task's own (it ran and succeeded).
    expect(calls).toEqual(['settle', 'settle']);
    const tasks = await t.omniq.getTasks(children);
    expect(tasks.every((task) => task?.status === 'cancelled' && task.cancelledBy === 'root')).toBe(true);
    const results = await Promise.all(children.map((id) => t.omniq.getResult(id)));
    expect(results.every((result) => result?.status === 'cancelled' && result.error?.message === 'Parent task root (cascade.parent) ended failed')).toBe(true);
  });

  it('retry() of the parent brings back the dependents its failure cancelled', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { enabled: false }, scheduler: { enabled: false } }, [CascadeTasks]);
    await t.omniq.enqueueMany([
      { name: 'cascade.parent', payload: null, options: { id: 'root' } },
      { name: 'cascade.child', payload: null, options: { id: 'child', dependsOn: ['root'] } },
      { name: 'cascade.child', payload: null, options: { id: 'grandchild', dependsOn: ['child'] } },
    ]);
    t.worker.start();
    expect((await t.omniq.waitForResult('grandchild')).status).toBe('cancelled');
    await t.worker.close();
    expect(await t.omniq.retry('root')).toBe(true);
    const [root, child, grandchild] = await t.omniq.getTasks(['root', 'child', 'grandchild']);
    expect([root?.status, child?.status, grandchild?.status]).toEqual(['pending', 'pending', 'pending']);
    expect(child?.cancelledBy).toBeUndefined();
    expect(await t.omniq.getResult('grandchild')).toBeUndefined();
  });
});
