import { Injectable } from '@nestjs/common';
import { InvalidTaskOptionError, NonRetryableError, OMNIQ_TASK_QUEUE, Task, TaskCancelledError, UnknownTaskError, type ParentOutcome, type TaskContext, type TaskQueueStore } from '../../lib/index.js';
import { nextEvents } from '../support/events.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';
import { describeOnEveryBackend } from '../support/backends.js';

const seen = {
  parents: [] as ParentOutcome[][],
  callbacks: [] as unknown[],
  cancelReason: undefined as unknown,
  started: deferred(),
  gate: deferred(),
  longRuns: 0,
};

@Injectable()
class FlowTasks {
  @Task('double')
  double(n: number): number {
    return n * 2;
  }

  @Task('add-one')
  addOne(n: number): number {
    return n + 1;
  }

  @Task('explode', { maxRetries: 0 })
  explode(): never {
    throw new NonRetryableError('exploded');
  }

  @Task('inspect')
  async inspect(_: unknown, ctx: TaskContext): Promise<string> {
    seen.parents.push(await ctx.parents());
    return 'inspected';
  }

  @Task('gate')
  async gate(): Promise<string> {
    await seen.gate.promise;
    return 'open';
  }

  @Task('callback')
  callback(payload: unknown): void {
    seen.callbacks.push(payload);
  }

  @Task('long')
  long(_: unknown, ctx: TaskContext): Promise<never> {
    seen.longRuns++;
    seen.started.resolve();
    return new Promise((_resolve, reject) =>
      ctx.signal.addEventListener('abort', () => {
        seen.cancelReason = ctx.signal.reason;
        reject(ctx.signal.reason);
      }),
    );
  }
}

describeOnEveryBackend('task workflows', (backend) => {
  let t: TestApp;
  beforeEach(async () => {
    Object.assign(seen, { parents: [], callbacks: [], cancelReason: undefined, started: deferred(), gate: deferred(), longRuns: 0 });
    t = await createTestApp({ backend: backend.url(), worker: { pollIntervalMs: 20, queues: ['default', 'mail'] } }, [FlowTasks]);
  });
  afterEach(() => t.close());

  describe('dependencies', () => {
    it('runs a child only after every parent succeeded, and gives it the parents\' outcomes', async () => {
      const a = await t.omniq.enqueue('double', 2);
      const b = await t.omniq.enqueue('double', 5);
      const child = await t.omniq.enqueue('inspect', null, { dependsOn: [a, b] });
      expect((await t.omniq.waitForResult(child)).value).toBe('inspected');
      expect(seen.parents[0]).toEqual([
        expect.objectContaining({ taskId: a, name: 'double', status: 'success', value: 4 }),
        expect.objectContaining({ taskId: b, name: 'double', status: 'success', value: 10 }),
      ]);
      const [childStarted] = await t.omniq.getEvents({ taskId: child, types: ['started'] });
      const [parentDone] = await t.omniq.getEvents({ taskId: b, types: ['completed'] });
      expect(childStarted!.timestamp.getTime()).toBeGreaterThanOrEqual(parentDone!.timestamp.getTime());
    });

    it('cancels dependents (transitively) when a parent fails for good, naming the parent in their events', async () => {
      const [parent, child, grandchild] = await t.omniq.enqueueMany([
        { name: 'explode', payload: null, options: { id: 'parent' } },
        { name: 'double', payload: 1, options: { id: 'child', dependsOn: ['parent'] } },
        { name: 'double', payload: 1, options: { id: 'grandchild', dependsOn: ['child'] } },
      ]);
      expect((await t.omniq.waitForResult(grandchild!)).status).toBe('cancelled');
      expect((await t.omniq.getTask(child!))?.status).toBe('cancelled');
      const [cancelled] = await t.omniq.getEvents({ taskId: child, types: ['cancelled'] });
      expect(cancelled?.error?.message).toBe(`Parent task ${parent} (explode) ended failed`);
      const [cascaded] = await t.omniq.getEvents({ taskId: grandchild, types: ['cancelled'] });
      expect(cascaded?.error?.message).toBe('Parent task child (double) ended cancelled');
    });

    it('rejects a child of a parent that already failed, unless it runs anyway', async () => {
      const parent = await t.omniq.enqueue('explode', null);
      await t.omniq.waitForResult(parent);
      await expect(t.omniq.enqueue('double', 1, { dependsOn: [parent] })).rejects.toThrow(`${parent} ended failed; set onParentFailure: "run"`);
      const child = await t.omniq.enqueue('inspect', null, { dependsOn: [parent], onParentFailure: 'run' });
      expect((await t.omniq.waitForResult(child)).status).toBe('success');
    });

    it('with onParentFailure "run", runs the child once every parent ended, whatever the outcome', async () => {
      const good = await t.omniq.enqueue('double', 1);
      const bad = await t.omniq.enqueue('explode', null);
      const child = await t.omniq.enqueue('inspect', null, { dependsOn: [good, bad], onParentFailure: 'run' });
      expect((await t.omniq.waitForResult(child)).status).toBe('success');
      expect(seen.parents[0]!.map((p) => p.status)).toEqual(['success', 'failed']);
      expect(seen.parents[0]![1]!.error?.message).toBe('exploded');
    });

    it('reports a parent whose task and result purgeHistory() removed as unknown, not as a success', async () => {
      const [bad, gate] = await t.omniq.enqueueMany([
        { name: 'explode', payload: null },
        { name: 'gate', payload: null },
      ]);
      const child = await t.omniq.enqueue('inspect', null, { dependsOn: [bad!, gate!], onParentFailure: 'run' });
      expect((await t.omniq.waitForResult(bad!)).status).toBe('failed');
      expect((await t.omniq.purgeHistory(new Date(Date.now() + 1_000))).tasks).toBe(1);
      seen.gate.resolve();
      expect((await t.omniq.waitForResult(child)).status).toBe('success');
      expect(seen.parents[0]).toEqual([
        expect.objectContaining({ taskId: bad, status: 'unknown' }),
        { taskId: gate, name: 'gate', status: 'success', value: 'open' },
      ]);
    });

    it('rejects a dependency on an unknown id and a cycle, enqueueing nothing', async () => {
      await expect(t.omniq.enqueue('double', 1, { dependsOn: ['no-such-task'] })).rejects.toThrow(
        'Task "double": option dependsOn = ["no-such-task"] is invalid; expected ids of existing tasks or of tasks in the same call (unknown: no-such-task)',
      );
      await expect(
        t.omniq.enqueueMany([
          { name: 'double', payload: 1, options: { id: 'a', dependsOn: ['b'] } },
          { name: 'double', payload: 1, options: { id: 'b', dependsOn: ['a'] } },
        ]),
      ).rejects.toThrow('dependency cycle: a -> b -> a');
      expect(await t.omniq.stats()).toEqual({});
    });

    it('rejects an id a stored task already has, naming the task and the id, enqueueing nothing', async () => {
      await t.omniq.enqueue('double', 1, { id: 'report-7' });
      await expect(
        t.omniq.enqueueMany([
          { name: 'add-one', payload: 1 },
          { name: 'double', payload: 2, options: { id: 'report-7' } },
        ]),
      ).rejects.toThrow('Task "double": option id = "report-7" is invalid; expected an id no stored task has');
      expect((await t.omniq.listTasks()).total).toBe(1);
    });

    it('links tasks of one enqueueMany call by their own ids', async () => {
      const [first, second] = await t.omniq.enqueueMany([
        { name: 'double', payload: 3, options: { id: 'first' } },
        { name: 'inspect', payload: null, options: { id: 'second', dependsOn: ['first'] } },
      ]);
      expect([first, second]).toEqual(['first', 'second']);
      await t.omniq.waitForResult(second!);
      expect(seen.parents[0]![0]).toMatchObject({ taskId: 'first', value: 6 });
    });
  });

  describe('chain and group', () => {
    it('chain passes each step the previous result when the step has no payload of its own', async () => {
      const ids = await t.omniq.chain([{ name: 'double', payload: 5 }, { name: 'add-one' }, { name: 'double' }]);
      expect(ids).toHaveLength(3);
      expect((await t.omniq.waitForResult(ids[2]!)).value).toBe(22);
    });

    it('a failing chain step cancels the rest', async () => {
      const ids = await t.omniq.chain([{ name: 'double', payload: 1 }, { name: 'explode' }, { name: 'add-one' }]);
      expect((await t.omniq.waitForResult(ids[2]!)).status).toBe('cancelled');
    });

    it('group waits for every member and yields one result with each outcome', async () => {
      const groupId = await t.omniq.group([
        { name: 'double', payload: 1 },
        { name: 'explode', payload: null },
        { name: 'add-one', payload: 1 },
      ]);
      const result = await t.omniq.waitForResult(groupId);
      expect(result.status).toBe('success');
      expect(result.value).toEqual({
        members: [
          expect.objectContaining({ name: 'double', status: 'success', value: 2 }),
          expect.objectContaining({ name: 'explode', status: 'failed', error: expect.objectContaining({ message: 'exploded' }) }),
          expect.objectContaining({ name: 'add-one', status: 'success', value: 2 }),
        ],
      });
    });
  });

  describe('callbacks', () => {
    it('onSuccess enqueues a task with the outcome and extra args', async () => {
      const done = nextEvents(t.omniq, 1, (e) => e.type === 'completed' && e.taskName === 'callback');
      const id = await t.omniq.enqueue('double', 21, { onSuccess: { task: 'callback', args: { channel: '#ops' } } });
      await done;
      expect(seen.callbacks).toEqual([{ taskId: id, name: 'double', status: 'success', value: 42, args: { channel: '#ops' } }]);
    });

    it('onFailure enqueues a task with the error', async () => {
      const done = nextEvents(t.omniq, 1, (e) => e.type === 'completed' && e.taskName === 'callback');
      const id = await t.omniq.enqueue('explode', null, { onSuccess: { task: 'callback' }, onFailure: { task: 'callback', args: 1 } });
      await done;
      expect(seen.callbacks).toEqual([
        { taskId: id, name: 'explode', status: 'failed', error: expect.objectContaining({ name: 'NonRetryableError', message: 'exploded' }), args: 1 },
      ]);
    });

    it('a callback naming an unknown task is rejected at enqueue', async () => {
      const rejected = t.omniq.enqueue('double', 1, { onSuccess: { task: 'nope' } });
      await expect(rejected).rejects.toBeInstanceOf(UnknownTaskError);
      await expect(rejected).rejects.toThrow('Task "double" option onSuccess: unknown task "nope". Registered tasks:');
      expect(await t.omniq.stats()).toEqual({});
    });
  });

  describe('deduplication', () => {
    it('keeps returning the finished task id within dedupeWindowMs, and enqueues anew without it', async () => {
      const first = await t.omniq.enqueue('double', 1, { key: 'nightly', dedupeWindowMs: 60_000 });
      await t.omniq.waitForResult(first);
      expect(await t.omniq.enqueue('double', 1, { key: 'nightly', dedupeWindowMs: 60_000 })).toBe(first);
      const plain = await t.omniq.enqueue('double', 1, { key: 'plain' });
      await t.omniq.waitForResult(plain);
      expect(await t.omniq.enqueue('double', 1, { key: 'plain' })).not.toBe(plain);
      await expect(t.omniq.enqueue('double', 1, { dedupeWindowMs: 1000 })).rejects.toBeInstanceOf(InvalidTaskOptionError);
    });
  });

  describe('cancellation', () => {
    it('cancel() of a running task fires its AbortSignal and the task ends cancelled', async () => {
      const id = await t.omniq.enqueue('long', null);
      await seen.started.promise;
      expect(await t.omniq.cancel(id)).toBe(true);
      const result = await t.omniq.waitForResult(id);
      expect(result.status).toBe('cancelled');
      expect(seen.cancelReason).toBeInstanceOf(TaskCancelledError);
      expect((await t.omniq.getTask(id))?.status).toBe('cancelled');
      expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'started', 'cancelled']);
    });
  });

  describe('cancellation after a crash', () => {
    it('a task cancelled while its crashed holder had it ends cancelled without running again', async () => {
      await t.close();
      t = await createTestApp({ backend: backend.url(), worker: { enabled: false, pollIntervalMs: 10 }, maintenance: { intervalMs: 10, leaderTtlMs: 1_000 } }, [FlowTasks]);
      const id = await t.omniq.enqueue('long', null);
      // A worker that reserved the task and then died: its lease lapses, nobody settles it.
      const [held] = await t.get<TaskQueueStore>(OMNIQ_TASK_QUEUE).reserve({ queues: ['default'], workerId: 'crashed', limit: 1, leaseMs: 30 });
      expect(held?.id).toBe(id);
      expect(await t.omniq.cancel(id)).toBe(true);
      t.worker.start();
      expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'cancelled', attempts: 2 });
      expect(seen.longRuns).toBe(0);
      expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'reclaimed', 'started', 'cancelled']);
    });
  });

  describe('dead letters', () => {
    it('keeps failed tasks listable per queue with error and stack, and retryAll sends them back', async () => {
      const ids = await t.omniq.enqueueMany([
        { name: 'explode', payload: null, options: { queue: 'mail' } },
        { name: 'explode', payload: null, options: { queue: 'mail' } },
        { name: 'explode', payload: null },
      ]);
      await Promise.all(ids.map((id) => t.omniq.waitForResult(id)));
      const dead = await t.omniq.listDeadLetters('mail');
      expect(dead.total).toBe(2);
      expect(dead.items[0]?.lastError).toMatchObject({ name: 'NonRetryableError', message: 'exploded', stack: expect.stringContaining('exploded') });
      const again = nextEvents(t.omniq, 2, (e) => e.type === 'failed' && e.queue === 'mail');
      expect(await t.omniq.retryAll('mail')).toBe(2);
      await again;
      expect((await t.omniq.getEvents({ taskId: ids[2]!, types: ['failed'] })).length).toBe(1);
    });
  });
});
