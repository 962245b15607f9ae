import { Injectable } from '@nestjs/common';
import {
  InvalidTaskOptionError,
  NoResultError,
  PayloadEncodingError,
  Task,
  UnknownTaskError,
  WaitForResultTimeoutError,
  type TaskEvent,
} from '../../lib/index.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';
import { describeOnEveryBackend } from '../support/backends.js';

const gate = { current: deferred() };

@Injectable()
class Tasks {
  @Task('echo')
  echo(payload: unknown): unknown {
    return payload;
  }

  @Task('fail', { maxRetries: 0 })
  fail(): never {
    throw new Error('boom');
  }

  @Task('gated')
  async gated(): Promise<string> {
    await gate.current.promise;
    return 'opened';
  }

  @Task('quiet', { storeResult: false })
  quiet(): string {
    return 'not kept';
  }
}

describeOnEveryBackend('OmniQService', (backend) => {
  let t: TestApp;
  afterEach(() => t?.close());

  describe('with a worker', () => {
    beforeEach(async () => {
      gate.current = deferred();
      t = await createTestApp({ backend: backend.url(), worker: { pollIntervalMs: 50 } }, [Tasks]);
    });

    it('round-trips rich payloads and results through the codec', async () => {
      const payload = { when: new Date('2026-01-02T03:04:05Z'), big: 2n ** 70n, map: new Map([[1, new Set(['a'])]]), bytes: Buffer.from('hi') };
      const id = await t.omniq.enqueue('echo', payload);
      const result = await t.omniq.waitForResult(id);
      expect(result.status).toBe('success');
      expect(result.value).toEqual(payload);
      expect((await t.omniq.getTask(id))?.payload).toEqual(payload);
    });

    it('waitForResult resolves with a failed result carrying message and stack', async () => {
      const result = await t.omniq.waitForResult(await t.omniq.enqueue('fail', {}));
      expect(result.status).toBe('failed');
      expect(result.error?.message).toBe('boom');
      expect(result.error?.stack).toContain('boom');
      expect(result.attempts).toBe(1);
    });

    it('waitForResult rejects after timeoutMs while the task is still running', async () => {
      const id = await t.omniq.enqueue('gated', {});
      await expect(t.omniq.waitForResult(id, { timeoutMs: 30 })).rejects.toBeInstanceOf(WaitForResultTimeoutError);
      gate.current.resolve();
      expect((await t.omniq.waitForResult(id)).value).toBe('opened');
    });

    it('waitForResult rejects for an unknown id and for a task that stores no result', async () => {
      await expect(t.omniq.waitForResult('no-such-id')).rejects.toThrow('Unknown task no-such-id');
      const id = await t.omniq.enqueue('quiet', {});
      await expect(t.omniq.waitForResult(id)).rejects.toBeInstanceOf(NoResultError);
    });

    it('records the event timeline of a task in order', async () => {
      const id = await t.omniq.enqueue('echo', 1);
      await t.omniq.waitForResult(id);
      await t.worker.close();
      const events = await t.omniq.getEvents({ taskId: id });
      expect(events.map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
      expect(events[2]).toMatchObject({ taskName: 'echo', queue: 'default', attempt: 1, workerId: t.worker.id });
    });

    it('events$ streams events as they are recorded', async () => {
      const seen: TaskEvent[] = [];
      let id: string | undefined;
      const completed = deferred();
      // On a server backend the stream reads events back once they are committed: it may deliver
      // them a moment after waitForResult returned.
      const sub = t.omniq.events$.subscribe((e) => {
        seen.push(e);
        if (e.type === 'completed' && e.taskId === id) completed.resolve();
      });
      id = await t.omniq.enqueue('echo', 1);
      await t.omniq.waitForResult(id);
      await completed.promise;
      sub.unsubscribe();
      expect(seen.filter((e) => e.taskId === id).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
    });

    it('stats counts tasks per queue and status', async () => {
      await t.omniq.waitForResult(await t.omniq.enqueue('echo', 1));
      await t.omniq.waitForResult(await t.omniq.enqueue('fail', 1));
      expect(await t.omniq.stats()).toEqual({ default: { success: 1, failed: 1 } });
    });

    it('retry sends a failed task back and waitForResult waits for the new outcome', async () => {
      const id = await t.omniq.enqueue('fail', {});
      await t.omniq.waitForResult(id);
      expect(await t.omniq.retry(id)).toBe(true);
      const again = await t.omniq.waitForResult(id);
      expect(again.status).toBe('failed');
      expect((await t.omniq.getEvents({ taskId: id, types: ['failed'] })).length).toBe(2);
      expect(await t.omniq.retry('no-such-id')).toBe(false);
    });
  });

  describe('without a worker', () => {
    beforeEach(async () => {
      t = await createTestApp({ backend: backend.url(), worker: { enabled: false } }, [Tasks]);
    });

    it('rejects an unknown task name at once, listing the registered names, and stores nothing', async () => {
      const error = await t.omniq.enqueue('ech', {}).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownTaskError);
      expect((error as Error).message).toContain('Unknown task "ech". Registered tasks: "echo", "fail", "gated", "quiet"');
      expect(await t.omniq.stats()).toEqual({});
    });

    it('rejects a payload the codec cannot encode, naming the task and the path', async () => {
      await expect(t.omniq.enqueue('echo', { user: { notify: () => 1 } })).rejects.toThrow(
        new PayloadEncodingError('payload', '.user.notify', { kind: 'function' }).message,
      );
      await expect(t.omniq.enqueue('echo', { user: { notify: () => 1 } })).rejects.toThrow(/^Task "echo": payload\.user\.notify is a function/);
    });

    it('rejects invalid options naming the task, option and value', async () => {
      await expect(t.omniq.enqueue('echo', {}, { priority: 1.5 })).rejects.toThrow('Task "echo": option priority = 1.5 is invalid; expected an integer');
      await expect(t.omniq.enqueue('echo', {}, { delayMs: -1 })).rejects.toBeInstanceOf(InvalidTaskOptionError);
      await expect(t.omniq.enqueue('echo', {}, { timeoutMs: 0 })).rejects.toThrow('option timeoutMs = 0');
      await expect(t.omniq.enqueue('echo', {}, { runAt: new Date('nope') })).rejects.toThrow('option runAt = Invalid Date');
      await expect(t.omniq.enqueue('echo', {}, { qeue: 'x' } as never)).rejects.toThrow('option qeue = "x" is invalid');
    });

    it('enqueueMany stores nothing when one item is bad', async () => {
      await expect(
        t.omniq.enqueueMany([
          { name: 'echo', payload: 1 },
          { name: 'echo', payload: Symbol('x') },
        ]),
      ).rejects.toBeInstanceOf(PayloadEncodingError);
      expect(await t.omniq.stats()).toEqual({});
    });

    it('enqueueMany returns ids in order and applies options per item', async () => {
      const [a, b] = await t.omniq.enqueueMany([
        { name: 'echo', payload: 'a', options: { queue: 'q1', priority: 5 } },
        { name: 'echo', payload: 'b', options: { delayMs: 60_000 } },
      ]);
      expect(await t.omniq.getTask(a!)).toMatchObject({ queue: 'q1', priority: 5, status: 'pending', payload: 'a' });
      expect(await t.omniq.getTask(b!)).toMatchObject({ queue: 'default', status: 'scheduled', payload: 'b' });
    });

    it('applies defaults < @Task options < enqueue options', async () => {
      const id = await t.omniq.enqueue('fail', {}, { retryDelayMs: 10 });
      expect(await t.omniq.getTask(id)).toMatchObject({ maxRetries: 0, retryDelayMs: 10, retryBackoff: 'exponential', storeResult: true });
    });

    it('an idempotency key returns the live task id instead of enqueueing again', async () => {
      const first = await t.omniq.enqueue('echo', 1, { key: 'order-42' });
      const second = await t.omniq.enqueue('echo', 2, { key: 'order-42' });
      expect(second).toBe(first);
      expect((await t.omniq.listTasks()).total).toBe(1);
      expect(await t.omniq.getEvents({ taskId: first, types: ['enqueued'] })).toHaveLength(1);
    });

    it('cancel stops a waiting task and stores a cancelled result', async () => {
      const id = await t.omniq.enqueue('echo', 1);
      expect(await t.omniq.cancel(id)).toBe(true);
      expect((await t.omniq.getTask(id))?.status).toBe('cancelled');
      expect((await t.omniq.waitForResult(id)).status).toBe('cancelled');
      expect(await t.omniq.cancel(id)).toBe(false);
      expect(await t.omniq.cancel('no-such-id')).toBe(false);
    });

    it.each([
      [{ status: 'faild' }, 'listTasks(): option status = "faild" is invalid; expected a task status (pending'],
      [{ limit: -1 }, 'listTasks(): option limit = -1 is invalid; expected an integer >= 0'],
      [{ queu: 'mail' }, 'listTasks(): option queu = "mail" is invalid; expected one of queue, name, status, after, offset, limit'],
    ])('listTasks rejects a bad filter %j, naming the option', async (filter, message) => {
      await expect(t.omniq.listTasks(filter as never)).rejects.toThrow(message);
    });

    it('listTasks with limit 0 gives the total alone; listDeadLetters names itself in errors', async () => {
      await t.omniq.enqueue('echo', 1);
      expect(await t.omniq.listTasks({ limit: 0 })).toEqual({ items: [], total: 1, offset: 0, limit: 0 });
      await expect(t.omniq.listDeadLetters('')).rejects.toThrow('listDeadLetters(): option queue = "" is invalid; expected a queue name');
    });

    it.each([
      [{ types: ['complete'] }, 'getEvents(): option types = ["complete"] is invalid; expected an array of event types (enqueued'],
      [{ since: '2026-01-01' }, 'getEvents(): option since = "2026-01-01" is invalid; expected a valid Date'],
      [{ order: 'newest' }, 'getEvents(): option order = "newest" is invalid; expected "asc" or "desc"'],
    ])('getEvents rejects a bad query %j, naming the option', async (query, message) => {
      await expect(t.omniq.getEvents(query as never)).rejects.toThrow(message);
    });

    it('purgeHistory deletes ended tasks, their results and events before a cutoff, never waiting tasks', async () => {
      const ended = await t.omniq.enqueue('echo', 1);
      await t.omniq.cancel(ended);
      const done = await t.omniq.enqueue('echo', 3);
      await t.omniq.cancel(done);
      const waiting = await t.omniq.enqueue('echo', 2, { delayMs: 60_000 });
      await expect(t.omniq.purgeHistory(new Date('nope'))).rejects.toThrow('purgeHistory(): option before = Invalid Date is invalid; expected a valid Date');
      expect(await t.omniq.purgeHistory(new Date(0))).toEqual({ tasks: 0, results: 0, events: 0 });
      expect(await t.omniq.getResult(done)).toMatchObject({ status: 'cancelled' });

      expect(await t.omniq.purgeHistory(new Date(Date.now() + 1_000))).toEqual({ tasks: 2, results: 2, events: 5 });
      expect(await t.omniq.getTask(ended)).toBeUndefined();
      expect(await t.omniq.getResult(ended)).toBeUndefined();
      expect(await t.omniq.getResult(done)).toBeUndefined();
      expect(await t.omniq.getTask(waiting)).toMatchObject({ status: 'scheduled' });
      expect(await t.omniq.getEvents({ taskId: ended })).toEqual([]);
      // Events go by age alone, the waiting task's `enqueued` included.
      expect(await t.omniq.getEvents({ taskId: waiting })).toEqual([]);
    });

    it('two cancels of one waiting task at once: one wins, the outcome is recorded once', async () => {
      const id = await t.omniq.enqueue('echo', 1);
      expect((await Promise.all([t.omniq.cancel(id), t.omniq.cancel(id)])).sort()).toEqual([false, true]);
      expect((await t.omniq.getEvents({ taskId: id })).map((e) => e.type)).toEqual(['enqueued', 'cancelled']);
    });

    it('allowUnregisteredTasks accepts names only remote workers run', async () => {
      await t.close();
      t = await createTestApp({ backend: backend.url(), worker: { enabled: false }, allowUnregisteredTasks: true });
      const id = await t.omniq.enqueue('remote.only', { x: 1 });
      expect((await t.omniq.getTask(id))?.name).toBe('remote.only');
    });

    it('purgeExpired expires waiting tasks past their TTL and deletes expired results (where no maintenance runs)', async () => {
      await t.close();
      t = await createTestApp({ backend: backend.url(), worker: { enabled: false }, maintenance: { enabled: false } }, [Tasks]);
      const id = await t.omniq.enqueue('echo', 1, { ttlMs: 1, delayMs: 0 });
      const result = t.omniq.waitForResult(id);
      const expiry = (await t.omniq.getTask(id))!.expiresAt!;
      while (Date.now() <= expiry.getTime()) await new Promise((r) => setImmediate(r));
      expect((await t.omniq.purgeExpired()).expiredTasks).toBe(1);
      expect((await result).status).toBe('expired');
      expect((await t.omniq.getTask(id))?.status).toBe('expired');
    });
  });
});
