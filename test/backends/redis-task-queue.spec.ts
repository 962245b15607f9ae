import { randomUUID } from 'node:crypto';
import { DuplicateTaskIdError, MAX_ATOMIC_ENQUEUE, UnknownParentError } from '../../lib/errors/store.errors.js';
import { redisBackend } from '../../lib/backends/redis/redis.backend.js';
import { RedisKeys } from '../../lib/backends/redis/redis-keys.js';
import { MAX_SCRIPT_ARGS } from '../../lib/backends/redis/redis-scripts.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { WRITE_NOTHING } from '../../lib/storage/task-queue.store.js';
import { countMap, ids, newEvent, newResult, newTask, reserveRequest, taskError, testClock, WRITE_ALL } from '../../lib/testing/fixtures.js';
import { REDIS_TEST_URL, describeOnRedis, freshPrefix, withRedis } from '../support/redis.js';
import { RedisClusterServers, RedisServer, describeOnPrivateRedis } from '../support/redis-server.js';
import { context } from '../conformance/targets.js';

const PROJECT = context('.').projectName;

async function openEngine(url: string, storageOptions: Record<string, unknown>, opened: StorageEngine[]): Promise<StorageEngine> {
  const engine = await redisBackend.open(url, { ...context('.'), storageOptions });
  opened.push(engine);
  return engine;
}

/** Enqueues a parent with a keyed, windowed child and a delayed expiring task, then runs the parent to failure with everything recorded. */
async function exercise(engine: StorageEngine): Promise<{ parent: string; child: string }> {
  const { tasks, results, events } = engine;
  const parent = newTask({ name: 'parent', key: `key-${randomUUID()}`, dedupeWindowMs: 60_000, tags: ['x'] });
  const child = newTask({ name: 'child', queue: 'children', dependsOn: [parent.id] });
  const later = newTask({ runAt: new Date(Date.now() + 60_000), expiresAt: new Date(Date.now() + 120_000) });
  await tasks.enqueue([parent, child, later]);
  await tasks.pauseQueue('paused');
  const [reserved] = await tasks.reserve(reserveRequest({ names: ['parent'] }));
  expect(reserved?.id).toBe(parent.id);
  await tasks.setProgress(parent.id, reserved!.leaseToken!, { done: 1 });
  const callback = newTask({ name: 'callback', queue: 'callbacks' });
  const [report] = await tasks.settle(
    [
      {
        id: parent.id,
        token: reserved!.leaseToken!,
        outcome: 'failed',
        error: taskError(),
        result: newResult({ taskId: parent.id, status: 'failed', value: undefined, error: taskError() }),
        events: [newEvent({ type: 'failed', taskId: parent.id })],
        enqueue: [callback],
      },
    ],
    WRITE_ALL,
  );
  expect(report).toMatchObject({ held: true, ended: [{ id: child.id, status: 'cancelled' }], enqueued: [{ id: callback.id, created: true }] });
  expect(await results.get(child.id)).toMatchObject({ status: 'cancelled' });
  expect((await events.query({ taskId: parent.id })).map((event) => event.type)).toEqual(['failed']);
  expect((await tasks.requeue(parent.id, WRITE_ALL))?.revived.map((task) => task.id)).toEqual([child.id]);
  return { parent: parent.id, child: child.id };
}

describeOnRedis('Redis task queue', () => {
  const opened: StorageEngine[] = [];
  afterEach(async () => {
    for (const engine of opened.splice(0)) await engine.close();
  });

  it('keeps every key it writes under the project hash tag, so the whole project lives in one cluster slot', async () => {
    const prefix = freshPrefix();
    const engine = await openEngine(REDIS_TEST_URL, { prefix }, opened);
    const { parent, child } = await exercise(engine);
    const { P } = new RedisKeys(prefix, PROJECT);
    const strays = await withRedis(async (client) => {
      const found: string[] = [];
      // Any key naming the prefix or one of the tasks, wherever it sits in the name.
      for (const pattern of [`*${prefix}*`, `*${parent}*`, `*${child}*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          found.push(...keys);
        } while (cursor !== '0');
      }
      return found;
    });
    expect(strays.length).toBeGreaterThan(10);
    expect(strays.filter((key) => !key.startsWith(P))).toEqual([]);
  });

  it(`stores a call of more than MAX_ATOMIC_ENQUEUE tasks in chunks, with dependencies across chunks both ways`, async () => {
    const engine = await openEngine(REDIS_TEST_URL, { prefix: freshPrefix() }, opened);
    const count = 2 * MAX_ATOMIC_ENQUEUE + 500;
    const tasks = Array.from({ length: count }, (_, i) => newTask({ name: i < MAX_ATOMIC_ENQUEUE ? 'first' : 'rest' }));
    // The first task waits for the last one (a parent later in the call), the last for the first chunk's second.
    tasks[0] = { ...tasks[0]!, dependsOn: [tasks[count - 1]!.id] };
    tasks[count - 1] = { ...tasks[count - 1]!, dependsOn: [tasks[1]!.id] };
    const outcomes = await engine.tasks.enqueue(tasks);
    expect(outcomes.map((outcome) => outcome.id)).toEqual(ids(tasks));
    expect(outcomes.every((outcome) => outcome.created)).toBe(true);
    expect((await engine.tasks.list({ limit: 1 })).total).toBe(count);
    expect(countMap(await engine.tasks.counts())).toEqual({ 'default/pending': count });

    const reserved = await engine.tasks.reserve(reserveRequest({ limit: count }));
    expect(reserved).toHaveLength(count - 2);
    expect(ids(reserved)).not.toContain(tasks[0]!.id);
    expect(ids(reserved)).not.toContain(tasks[count - 1]!.id);
    const second = reserved.find((task) => task.id === tasks[1]!.id)!;
    await engine.tasks.settle([{ id: second.id, token: second.leaseToken!, outcome: 'success' }], WRITE_NOTHING);
    expect(ids(await engine.tasks.reserve(reserveRequest()))).toEqual([tasks[count - 1]!.id]);
  });

  it('checks the whole chunked call before its first chunk: a bad task in the last chunk stores nothing', async () => {
    const engine = await openEngine(REDIS_TEST_URL, { prefix: freshPrefix() }, opened);
    const stored = newTask();
    await engine.tasks.enqueue([stored]);
    const count = MAX_ATOMIC_ENQUEUE + 100;
    const duplicate = Array.from({ length: count }, () => newTask());
    duplicate[count - 1] = { ...duplicate[count - 1]!, id: stored.id };
    await expect(engine.tasks.enqueue(duplicate)).rejects.toBeInstanceOf(DuplicateTaskIdError);
    const orphan = Array.from({ length: count }, () => newTask());
    orphan[count - 1] = { ...orphan[count - 1]!, dependsOn: [randomUUID()] };
    await expect(engine.tasks.enqueue(orphan)).rejects.toBeInstanceOf(UnknownParentError);
    expect((await engine.tasks.list({ limit: 1 })).total).toBe(1);
  });

  it(`settles a batch whose ARGV passes MAX_SCRIPT_ARGS (${MAX_SCRIPT_ARGS}) in chunks, every attempt with its result and events`, async () => {
    const engine = await openEngine(REDIS_TEST_URL, { prefix: freshPrefix() }, opened);
    const count = 1_500;
    await engine.tasks.enqueue(Array.from({ length: count }, () => newTask()));
    const reserved = await engine.tasks.reserve(reserveRequest({ limit: count }));
    expect(reserved).toHaveLength(count);
    const reports = await engine.tasks.settle(
      reserved.map((task) => ({
        id: task.id,
        token: task.leaseToken!,
        outcome: 'success' as const,
        result: newResult({ taskId: task.id }),
        events: [newEvent({ type: 'started', taskId: task.id }), newEvent({ type: 'completed', taskId: task.id })],
      })),
      WRITE_ALL,
    );
    expect(reports.filter((report) => report.held)).toHaveLength(count);
    expect(countMap(await engine.tasks.counts())).toEqual({ 'default/success': count });
    const last = reserved[count - 1]!.id;
    expect(await engine.results.get(last)).toMatchObject({ taskId: last, status: 'success' });
    expect((await engine.events.query({ taskId: last })).map((event) => event.type)).toEqual(['started', 'completed']);
  });

  it('merges the ready tasks of several names by priority, runAt and enqueue order, negative priorities and far runAt values included', async () => {
    const engine = await openEngine(REDIS_TEST_URL, { prefix: freshPrefix() }, opened);
    const t = testClock();
    // Their ready members differ in bytes above 0x7f (a negative priority, a runAt of many bytes): byte order, not the server's locale, must decide.
    const tasks = [
      newTask({ name: 'a', priority: -300, runAt: t(-1), createdAt: t(-1) }),
      newTask({ name: 'b', priority: 2_000_000_000, runAt: t(-2), createdAt: t(-2) }),
      newTask({ name: 'a', priority: 0, runAt: t(-3), createdAt: t(-3) }),
      newTask({ name: 'b', priority: -300, runAt: t(-2), createdAt: t(-2) }),
      newTask({ name: 'c', priority: 0, runAt: t(-3), createdAt: t(-3) }),
      newTask({ name: 'a', priority: -2_000_000_000, runAt: new Date(0), createdAt: new Date(0) }),
    ];
    await engine.tasks.enqueue(tasks);
    const [low, top, zeroA, midB, zeroC, lowest] = tasks.map((task) => task.id);
    expect(ids(await engine.tasks.reserve(reserveRequest({ limit: 10 })))).toEqual([top, zeroA, zeroC, midB, low, lowest]);
  });

  it('tells every result a settle stored to the listeners of another engine, one announcement per id whatever its characters', async () => {
    const prefix = freshPrefix();
    const engine = await openEngine(REDIS_TEST_URL, { prefix }, opened);
    const peer = await openEngine(REDIS_TEST_URL, { prefix }, opened);
    // An id that holds the announcement's own separators.
    const tasks = [newTask({ id: `7:odd:${randomUUID()}\n` }), ...Array.from({ length: 4 }, () => newTask())];
    const heard: string[] = [];
    const allHeard = new Promise<void>((resolve) => {
      peer.results.notifier.listen('result', (taskId) => {
        heard.push(taskId);
        if (heard.length === tasks.length) resolve();
      });
    });
    await engine.tasks.enqueue(tasks);
    const reserved = await engine.tasks.reserve(reserveRequest({ limit: tasks.length }));
    await engine.tasks.settle(
      reserved.map((task) => ({ id: task.id, token: task.leaseToken!, outcome: 'success' as const, result: newResult({ taskId: task.id }) })),
      WRITE_ALL,
    );
    await allHeard;
    expect(heard.sort()).toEqual(ids(tasks).sort());
  });

  it('refuses a task whose id, name, queue, key, schedule or payload format holds a NUL, naming the option, and stores none of the call', async () => {
    const engine = await openEngine(REDIS_TEST_URL, { prefix: freshPrefix() }, opened);
    const good = newTask();
    for (const [option, bad] of [
      ['id', newTask({ id: 'a\u0000b' })],
      ['name', newTask({ name: 'n\u0000' })],
      ['scheduleId', newTask({ scheduleId: 's\u0000' })],
      ['queue', newTask({ queue: 'q\u0000' })],
      ['key', newTask({ key: '\u0000' })],
      ['payload.format', newTask({ payload: { format: 'x\u0000', data: '' } })],
    ] as const) {
      await expect(engine.tasks.enqueue([good, bad])).rejects.toThrow(new RegExp(`option ${option.replace('.', '\\.')} = .* is invalid; expected text without NUL`));
    }
    expect(await engine.tasks.get(good.id)).toBeUndefined();
  });

  it('hands out a task whose hash another program gave a NUL exactly as stored, beside the others', async () => {
    const prefix = freshPrefix();
    const engine = await openEngine(REDIS_TEST_URL, { prefix }, opened);
    const tasks = Array.from({ length: 3 }, () => newTask());
    await engine.tasks.enqueue(tasks);
    await withRedis((client) => client.hset(new RedisKeys(prefix, PROJECT).task(tasks[1]!.id), 'scheduleId', 'a\u0000b'));
    const reserved = await engine.tasks.reserve(reserveRequest({ limit: 10 }));
    expect(ids(reserved)).toEqual(ids(tasks));
    expect(reserved[1]).toMatchObject({ scheduleId: 'a\u0000b', name: tasks[1]!.name, status: 'running', damaged: undefined });
    expect(reserved.every((task) => task.damaged === undefined && task.leaseToken !== undefined)).toBe(true);
  });
});

describeOnPrivateRedis('Redis task queue on private servers', () => {
  const opened: StorageEngine[] = [];
  const servers: { remove(): Promise<void> }[] = [];
  afterEach(async () => {
    for (const engine of opened.splice(0)) await engine.close();
    for (const server of servers.splice(0)) await server.remove();
  });

  it('loads its scripts again after SCRIPT FLUSH and carries on', async () => {
    const server = await RedisServer.create();
    servers.push(server);
    const engine = await openEngine(server.url, { prefix: 'flushed' }, opened);
    const task = newTask();
    await engine.tasks.enqueue([task]);
    expect(await server.cli('script', 'flush')).toBe('OK');
    const [reserved] = await engine.tasks.reserve(reserveRequest());
    expect(reserved?.id).toBe(task.id);
    expect(await server.cli('script', 'flush')).toBe('OK');
    expect(await engine.tasks.settle([{ id: task.id, token: reserved!.leaseToken!, outcome: 'success' }], WRITE_ALL)).toEqual([
      { held: true, ended: [], enqueued: [] },
    ]);
    expect((await engine.tasks.get(task.id))?.status).toBe('success');
  });

  it('runs the whole task life on a 3-master Redis Cluster', async () => {
    const cluster = await RedisClusterServers.create();
    servers.push(cluster);
    const engine = await openEngine(cluster.url, { cluster: true, prefix: 'clustered' }, opened);
    const { parent, child } = await exercise(engine);
    expect((await engine.tasks.getMany([parent, child])).map((task) => task?.status)).toEqual(['pending', 'pending']);
    const expired = await engine.tasks.expireOverdue(new Date(Date.now() + 600_000), 10, WRITE_ALL);
    expect(expired.length).toBeGreaterThan(0);
    expect(await engine.tasks.purgeFinished(new Date(Date.now() + 600_000))).toBeGreaterThan(0);
  });
});
