import { randomUUID } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import { MemoryEngine, MemoryEventStore, MemoryResultStore, MemoryTaskQueueStore, memoryBackend } from '../../lib/backends/memory/index.js';
import { DuplicateTaskIdError, StoreClosedError } from '../../lib/errors/store.errors.js';
import type { TaskEvent } from '../../lib/models/event.model.js';
import type { ResultRecord } from '../../lib/models/result.model.js';
import type { NewTask } from '../../lib/models/task.model.js';
import type { NotifyChannel } from '../../lib/storage/notifier.js';
import type { TaskQueueStore } from '../../lib/storage/task-queue.store.js';
import { newSchedule, newTask as fixtureTask } from '../../lib/testing/index.js';

/*
 * What is particular to the memory backend: peers over one storage, its notifier, its schedule
 * store and its settle hot path. The behaviour every backend shares is the conformance suite's.
 */

const newTask = (overrides: Partial<NewTask> = {}): NewTask => fixtureTask({ name: 'memory.task', maxRetries: 0, ...overrides });

function resultOf(taskId: string): ResultRecord {
  const now = new Date();
  return { taskId, taskName: 'memory.task', queue: 'default', status: 'success', createdAt: now, completedAt: now, attempts: 1 };
}

function attemptEvent(taskId: string, type: TaskEvent['type'] = 'completed'): TaskEvent {
  return { id: randomUUID(), type, timestamp: new Date(), taskId, taskName: 'memory.task', queue: 'default' };
}

/** The next message `engine` hears on `channel` that satisfies `wanted`. */
function nextMessage(engine: MemoryEngine, channel: NotifyChannel, wanted: (message: string) => boolean): Promise<string> {
  return new Promise((resolve) => {
    const stop = engine.tasks.notifier.listen(channel, (message) => {
      if (!wanted(message)) return;
      stop();
      resolve(message);
    });
  });
}

async function reserveOne(queue: TaskQueueStore): Promise<{ id: string; token: string }> {
  const [task] = await queue.reserve({ queues: ['default'], workerId: 'worker-1', limit: 1, leaseMs: 30_000 });
  if (!task?.leaseToken) throw new Error('nothing to reserve');
  return { id: task.id, token: task.leaseToken };
}

const engines: MemoryEngine[] = [];
const openEngine = async (): Promise<MemoryEngine> => {
  const engine = (await memoryBackend.open('memory://', { projectName: 'test', baseDir: '.', storageOptions: {} })) as MemoryEngine;
  engines.push(engine);
  return engine;
};
const peerOf = (engine: MemoryEngine): MemoryEngine => {
  const peer = engine.peer();
  engines.push(peer);
  return peer;
};
afterEach(async () => {
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
});

describe('memory backend', () => {
  describe('engines', () => {
    it('opens a new, empty storage each time, with the engine stores as colocated', async () => {
      const first = await openEngine();
      const second = await openEngine();
      const task = newTask();
      await first.tasks.enqueue([task]);
      expect(await second.tasks.get(task.id)).toBeUndefined();
      expect(first.capabilities).toEqual({ crossProcessNotify: true, atomicCompletion: true });
      expect(first.tasks.colocated.results).toBe(first.results);
      expect(first.tasks.colocated.events).toBe(first.events);
      expect(first.results.notifier).toBe(first.tasks.notifier);
      expect(first.tasks.notifier.crossProcess).toBe(true);
    });

    it('keeps stores constructed on their own apart, with nothing colocated', async () => {
      const one = new MemoryTaskQueueStore();
      const other = new MemoryTaskQueueStore();
      const results = new MemoryResultStore();
      const events = new MemoryEventStore();
      const task = newTask();
      await one.enqueue([task]);
      expect(await other.get(task.id)).toBeUndefined();
      expect(one.colocated).toEqual({});
      expect(one.notifier).not.toBe(other.notifier);
      await results.put([resultOf(task.id)]);
      expect(await new MemoryResultStore().get(task.id)).toBeUndefined();
      await events.append([attemptEvent(task.id)]);
      expect(await new MemoryEventStore().query({ taskId: task.id })).toEqual([]);
      await Promise.all([one.close(), other.close(), results.close(), events.close()]);
    });
  });

  describe('peers', () => {
    it('share tasks, leases, results, events, schedules, paused queues and leadership', async () => {
      const a = await openEngine();
      const b = peerOf(a);
      const task = newTask();
      await a.tasks.enqueue([task]);
      const lease = await reserveOne(b.tasks);
      expect(lease.id).toBe(task.id);
      expect(await a.tasks.reserve({ queues: ['default'], workerId: 'worker-2', limit: 1, leaseMs: 30_000 })).toEqual([]);
      const [report] = await a.tasks.settle([{ ...lease, outcome: 'success', result: resultOf(task.id), events: [attemptEvent(task.id)] }], {
        results: true,
        events: true,
      });
      expect(report).toMatchObject({ held: true });
      expect(await b.tasks.get(task.id)).toMatchObject({ status: 'success' });
      expect(await b.results.get(task.id)).toMatchObject({ taskId: task.id, status: 'success' });
      expect((await b.events.query({ taskId: task.id })).map((e) => e.type)).toEqual(['completed']);

      const schedule = newSchedule();
      await a.tasks.schedules.saveSchedule(schedule);
      expect(await b.tasks.schedules.getSchedule(schedule.id)).toEqual(schedule);

      expect(await a.tasks.pauseQueue('default')).toBe(true);
      expect(await b.tasks.pausedQueues()).toEqual(['default']);
      expect(await b.tasks.pauseQueue('default')).toBe(false);

      expect(await a.tasks.coordination.tryLead('maintenance', 'a', 60_000)).toMatchObject({ leader: true });
      expect(await b.tasks.coordination.tryLead('maintenance', 'b', 60_000)).toMatchObject({ leader: false, holder: 'a' });
    });

    it('hear each other: wake on enqueue, result on settle, control on a cancel request, and the event stream', async () => {
      const a = await openEngine();
      const b = peerOf(a);
      const task = newTask();
      const woken = nextMessage(b, 'wake', (queue) => queue === 'default');
      await a.tasks.enqueue([task]);
      expect(await woken).toBe('default');

      const lease = await reserveOne(a.tasks);
      const cancelRequested = nextMessage(b, 'control', (message) => message === `cancel:${task.id}`);
      expect(await b.tasks.cancel(task.id, { name: 'Error', message: 'stop' }, { results: true, events: true })).toMatchObject({ changed: true });
      await cancelRequested;

      const resulted = nextMessage(b, 'result', (id) => id === task.id);
      const streamed = firstValueFrom(b.events.stream());
      await a.tasks.settle([{ ...lease, outcome: 'cancelled', result: resultOf(task.id), events: [attemptEvent(task.id, 'cancelled')] }], {
        results: true,
        events: true,
      });
      await resulted;
      expect(await streamed).toMatchObject({ taskId: task.id, type: 'cancelled' });
    });

    it('close on their own: the other peer goes on working and hearing, the closed one refuses calls and hears nothing', async () => {
      const a = await openEngine();
      const b = peerOf(a);
      const heardByClosed: string[] = [];
      a.tasks.notifier.listen('wake', (queue) => heardByClosed.push(queue));
      await a.close();

      await expect(a.tasks.get('x')).rejects.toThrow(StoreClosedError);
      await expect(a.results.get('x')).rejects.toThrow(StoreClosedError);
      await expect(a.events.query()).rejects.toThrow(StoreClosedError);
      await expect(a.tasks.coordination.tryLead('maintenance', 'a', 1_000)).rejects.toThrow(StoreClosedError);
      expect(() => a.tasks.notifier.listen('wake', () => undefined)).toThrow(StoreClosedError);

      const task = newTask();
      const woken = nextMessage(b, 'wake', (queue) => queue === 'default');
      await b.tasks.enqueue([task]);
      await woken;
      // One delivery reaches every listener of the storage: had the closed engine's listener stayed, it would have been called by now.
      expect(heardByClosed).toEqual([]);
      expect(await b.tasks.get(task.id)).toMatchObject({ status: 'pending' });
      expect((await reserveOne(b.tasks)).id).toBe(task.id);
    });

    it('deliver notifications after the call that made them, and a listener that throws does not stop the others', async () => {
      const engine = await openEngine();
      const heard: string[] = [];
      engine.tasks.notifier.listen('wake', () => {
        throw new Error('listener bug');
      });
      const delivered = new Promise<void>((resolve) =>
        engine.tasks.notifier.listen('wake', (queue) => {
          heard.push(queue);
          resolve();
        }),
      );
      const notified = engine.tasks.notifier.notify('wake', ['q1']);
      expect(heard).toEqual([]);
      await notified;
      await delivered;
      expect(heard).toEqual(['q1']);
    });
  });

  describe('schedules', () => {
    it('do not advance when the fire cannot enqueue its task, so the tick is fired again', async () => {
      const engine = await openEngine();
      const schedules = engine.tasks.schedules;
      const schedule = newSchedule();
      await schedules.saveSchedule(schedule);
      const taken = newTask();
      await engine.tasks.enqueue([taken]);
      const advance = { status: 'active' as const, nextRunAt: new Date(schedule.nextRunAt!.getTime() + 1_000), runCount: 1, lastRunAt: schedule.nextRunAt };

      await expect(schedules.fireSchedule(schedule.id, schedule.nextRunAt!, advance, newTask({ id: taken.id }))).rejects.toThrow(DuplicateTaskIdError);
      expect(await schedules.getSchedule(schedule.id)).toEqual(schedule);

      const task = newTask({ scheduleId: schedule.id });
      expect(await schedules.fireSchedule(schedule.id, schedule.nextRunAt!, advance, task)).toEqual({
        claimed: true,
        enqueued: { id: task.id, created: true },
      });
      expect(await schedules.getSchedule(schedule.id)).toMatchObject({ runCount: 1, lastTaskId: task.id, nextRunAt: advance.nextRunAt });
    });

    it('refuse calls once their task queue is closed', async () => {
      const queue = new MemoryTaskQueueStore();
      const schedule = newSchedule();
      await queue.schedules.saveSchedule(schedule);
      await queue.close();
      await expect(queue.schedules.getSchedule(schedule.id)).rejects.toThrow(StoreClosedError);
      await expect(queue.schedules.fireSchedule(schedule.id, schedule.nextRunAt!, { status: 'active', runCount: 1 })).rejects.toThrow(
        StoreClosedError,
      );
    });
  });

  describe('settle', () => {
    it('answers held successes without cascades or callbacks with one shared, frozen report', async () => {
      const engine = await openEngine();
      await engine.tasks.enqueue([newTask(), newTask(), newTask()]);
      const leases = await engine.tasks.reserve({ queues: ['default'], workerId: 'worker-1', limit: 3, leaseMs: 30_000 });
      const first = await engine.tasks.settle(
        leases.slice(0, 2).map((t) => ({ id: t.id, token: t.leaseToken!, outcome: 'success' as const, result: resultOf(t.id) })),
        { results: true, events: true },
      );
      const [third] = await engine.tasks.settle([{ id: leases[2]!.id, token: leases[2]!.leaseToken!, outcome: 'success' }], { results: false, events: false });
      expect(first[0]).toEqual({ held: true, ended: [], enqueued: [] });
      expect(first[1]).toBe(first[0]);
      expect(third).toBe(first[0]);
      expect(Object.isFrozen(first[0])).toBe(true);

      const [stale] = await engine.tasks.settle([{ id: leases[0]!.id, token: leases[0]!.leaseToken!, outcome: 'failed', error: { name: 'E', message: 'late' } }], {
        results: true,
        events: true,
      });
      expect(stale).toEqual({ held: false });
      expect(Object.isFrozen(stale)).toBe(true);
    });

    it('stores copies of the results and events it is handed', async () => {
      const engine = await openEngine();
      const task = newTask();
      await engine.tasks.enqueue([task]);
      const lease = await reserveOne(engine.tasks);
      const result = resultOf(task.id);
      const event = attemptEvent(task.id);
      await engine.tasks.settle([{ ...lease, outcome: 'success', result, events: [event] }], { results: true, events: true });
      result.completedAt.setTime(0);
      event.timestamp.setTime(0);
      expect((await engine.results.get(task.id))!.completedAt.getTime()).not.toBe(0);
      expect((await engine.events.query({ taskId: task.id }))[0]!.timestamp.getTime()).not.toBe(0);
    });
  });
});
