import { randomUUID } from 'node:crypto';
import { StoreClosedError } from '../../errors/store.errors.js';
import type { TaskEvent } from '../../models/event.model.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { newEvent, newResult, newSchedule, newTask, reserveRequest, taskError, NO_LAPSE_LIMIT } from '../fixtures.js';
import { type EngineHarness, rejection, settlement } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';

const IN_FLIGHT_TIMEOUT_MS = 10_000;

export function describeLifecycleCases(h: EngineHarness): void {
  describe('engine shape and close', () => {
    it('colocates its own result and event stores and states its capabilities', async () => {
      const { capabilities, tasks, results, events } = h.engine;
      expect(typeof capabilities.crossProcessNotify).toBe('boolean');
      expect(typeof capabilities.atomicCompletion).toBe('boolean');
      expect(tasks.notifier.crossProcess).toBe(capabilities.crossProcessNotify);
      expect(tasks.colocated.results).toBe(results);
      expect(tasks.colocated.events).toBe(events);
      const result = newResult();
      const heardByTasks = h.message(tasks.notifier, 'result', result.taskId);
      await results.put([result]);
      await heardByTasks;
    });

    it('closes idempotently; every call after close rejects with StoreClosedError', async () => {
      const { tasks, results, events } = h.engine;
      const schedules = h.schedules;
      await h.engine.close();
      await expect(h.engine.close()).resolves.toBeUndefined();
      const id = randomUUID();
      const lease = { id, token: 'token' };
      const calls: Record<string, () => Promise<unknown>> = {
        'tasks.enqueue': () => tasks.enqueue([newTask()]),
        'tasks.reserve': () => tasks.reserve(reserveRequest()),
        'tasks.settle': () => tasks.settle([{ ...lease, outcome: 'success' }], WRITE_NOTHING),
        'tasks.extendLeases': () => tasks.extendLeases([lease], 1000),
        'tasks.setProgress': () => tasks.setProgress(id, 'token', 1),
        'tasks.cancel': () => tasks.cancel(id, taskError(), WRITE_NOTHING),
        'tasks.cancelRequested': () => tasks.cancelRequested([id]),
        'tasks.requeue': () => tasks.requeue(id, WRITE_NOTHING),
        'tasks.requeueWhere': () => tasks.requeueWhere({}, 10, WRITE_NOTHING),
        'tasks.cancelWhere': () => tasks.cancelWhere({}, taskError(), 10, WRITE_NOTHING),
        'tasks.get': () => tasks.get(id),
        'tasks.getMany': () => tasks.getMany([id]),
        'tasks.list': () => tasks.list(),
        'tasks.counts': () => tasks.counts(),
        'tasks.pauseQueue': () => tasks.pauseQueue('q'),
        'tasks.resumeQueue': () => tasks.resumeQueue('q'),
        'tasks.pausedQueues': () => tasks.pausedQueues(),
        'tasks.reclaimLapsed': () => tasks.reclaimLapsed(new Date(), 10, WRITE_NOTHING, NO_LAPSE_LIMIT),
        'tasks.promoteDue': () => tasks.promoteDue(new Date(), 10),
        'tasks.nextDueAt': () => tasks.nextDueAt(),
        'tasks.expireOverdue': () => tasks.expireOverdue(new Date(), 10, WRITE_NOTHING),
        'tasks.purgeFinished': () => tasks.purgeFinished(new Date()),
        'tasks.coordination.tryLead': () => tasks.coordination.tryLead('maintenance', 'instance-a', 1000),
        'results.put': () => results.put([newResult()]),
        'results.get': () => results.get(id),
        'results.latestForSchedule': () => results.latestForSchedule('s'),
        'results.delete': () => results.delete(id),
        'results.purgeExpired': () => results.purgeExpired(new Date()),
        'events.append': () => events.append([newEvent()]),
        'events.query': () => events.query(),
        'events.purgeOlderThan': () => events.purgeOlderThan(new Date()),
        'schedules.saveSchedule': () => schedules.saveSchedule(newSchedule()),
        'schedules.getSchedule': () => schedules.getSchedule('s'),
        'schedules.listSchedules': () => schedules.listSchedules(),
        'schedules.dueSchedules': () => schedules.dueSchedules(new Date(), 10),
        'schedules.fireSchedule': () => schedules.fireSchedule('s', new Date(), { status: 'active', runCount: 1 }, newTask()),
      };
      const wrong: string[] = [];
      for (const [name, call] of Object.entries(calls)) {
        const error = await rejection(`${name} after close()`, call).catch((resolved: Error) => resolved);
        if (!(error instanceof StoreClosedError)) wrong.push(`${name}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      }
      expect(wrong).toEqual([]);
    });

    it('close() while calls are in flight: each call resolves or rejects with StoreClosedError, none hangs', async () => {
      const { tasks, results, events } = h.engine;
      await tasks.enqueue(Array.from({ length: 200 }, () => newTask()));
      const inFlight: Record<string, Promise<unknown>> = {
        enqueue: tasks.enqueue(Array.from({ length: 500 }, () => newTask())),
        reserve: tasks.reserve(reserveRequest({ limit: 100 })),
        list: tasks.list(),
        counts: tasks.counts(),
        'results.put': results.put(Array.from({ length: 200 }, () => newResult())),
        'events.append': events.append(Array.from({ length: 200 }, () => newEvent())),
      };
      const closed = await settlement('engine.close() with calls in flight', h.engine.close(), IN_FLIGHT_TIMEOUT_MS);
      expect(closed).toEqual({ status: 'fulfilled', value: undefined });
      const wrong: string[] = [];
      for (const [name, call] of Object.entries(inFlight)) {
        const outcome = await settlement(`${name} in flight at close()`, call, IN_FLIGHT_TIMEOUT_MS);
        if (outcome.status === 'rejected' && !(outcome.reason instanceof StoreClosedError)) wrong.push(`${name}: ${String(outcome.reason)}`);
      }
      expect(wrong).toEqual([]);
    });

    it('completes the event stream on close', async () => {
      const received: TaskEvent[] = [];
      const completed = new Promise<void>((resolve) => {
        h.events.stream().subscribe({ next: (event) => received.push(event), complete: resolve });
      });
      await h.engine.close();
      await settlement('the event stream completing at close()', completed, IN_FLIGHT_TIMEOUT_MS);
      expect(received).toEqual([]);
    });

    it('closing a peer leaves the other instance working on the same storage', async () => {
      const peer = await h.peer();
      const task = newTask();
      await peer.tasks.enqueue([task]);
      await peer.close();
      expect((await h.tasks.get(task.id))?.status).toBe('pending');
      await h.tasks.enqueue([newTask()]);
      expect(await h.tasks.reserve(reserveRequest())).toHaveLength(2);
    });
  });
}
