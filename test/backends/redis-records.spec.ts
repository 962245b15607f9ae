import type { Redis } from 'ioredis';
import { firstValueFrom, take, toArray } from 'rxjs';
import { RedisKeys } from '../../lib/backends/redis/redis-keys.js';
import { RecordDamageError } from '../../lib/backends/shared/record-json.js';
import { redisBackend } from '../../lib/backends/redis/redis.backend.js';
import type { TaskEvent } from '../../lib/models/event.model.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { settlement } from '../../lib/testing/harness.js';
import { ids, newEvent, newResult, newSchedule, newTask, testClock } from '../../lib/testing/index.js';
import { describeOnRedis, freshPrefix, REDIS_TEST_URL, withRedis } from '../support/redis.js';
import { RedisClusterServers, RedisServer, describeOnPrivateRedis } from '../support/redis-server.js';

const PROJECT = 'records';

/** What the conformance suite cannot see from the stores' interface: what the events and results leave in Redis. */
describeOnRedis('Redis events and results', () => {
  const engines: Promise<StorageEngine>[] = [];

  afterEach(async () => {
    for (const opened of await Promise.allSettled(engines.splice(0).reverse())) if (opened.status === 'fulfilled') await opened.value.close();
  });

  async function open(storageOptions: Record<string, unknown> = {}, prefix = freshPrefix()): Promise<{ engine: StorageEngine; keys: RedisKeys; prefix: string }> {
    const engine = redisBackend.open(REDIS_TEST_URL, { projectName: PROJECT, baseDir: '.', storageOptions: { prefix, ...storageOptions } });
    engines.push(engine);
    return { engine: await engine, keys: new RedisKeys(prefix, PROJECT), prefix };
  }

  /** The stream ids of every task timeline of the project, by key. */
  async function taskIndexes(client: Redis, keys: RedisKeys): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>();
    let cursor = '0';
    do {
      const [next, names] = await client.scan(cursor, 'MATCH', `${keys.eventsOfTask('')}*`, 'COUNT', 1000);
      cursor = next;
      for (const name of names) found.set(name, ((await client.get(name)) ?? '').split(' ').filter(Boolean));
    } while (cursor !== '0');
    return found;
  }

  describe('the retention cap (storageOptions.eventsMaxLen)', () => {
    it('bounds the stream to the newest events, and drops the trimmed ones from every index', async () => {
      const cap = 50;
      const { engine, keys } = await open({ eventsMaxLen: cap });
      const t = testClock();
      const tasks = Array.from({ length: 20 }, (_, task) => {
        const taskId = `task-${task}`;
        return Array.from({ length: 10 }, (_, n) => newEvent({ taskId, timestamp: t(task * 10 + n), scheduleId: `schedule-${task % 2}` }));
      });
      for (const events of tasks) await engine.events.append(events);
      const kept = tasks.flat().slice(-cap);

      expect(ids(await engine.events.query())).toEqual(ids(kept));
      expect(await engine.events.query({ taskId: tasks[0]![0]!.taskId })).toEqual([]);
      expect(ids(await engine.events.query({ taskId: tasks[19]![0]!.taskId }))).toEqual(ids(tasks[19]!));
      expect(ids(await engine.events.query({ scheduleId: 'schedule-1' }))).toEqual(ids(kept.filter((event) => event.scheduleId === 'schedule-1')));

      await withRedis(async (client) => {
        const streamIds = new Set((await client.xrange(keys.events, '-', '+')).map(([id]) => id));
        expect(streamIds.size).toBe(cap);
        const indexes = await taskIndexes(client, keys);
        // The tasks whose every event was trimmed have no index left at all.
        expect([...indexes.keys()].sort()).toEqual([...new Set(kept.map((event) => keys.eventsOfTask(event.taskId!)))].sort());
        for (const members of indexes.values()) for (const member of members) expect(streamIds).toContain(member);
        expect(await client.lrange(`${keys.P}events:timelines`, 0, -1)).toEqual(tasks.slice(-cap / 10).map((events) => events[0]!.taskId));
        for (const schedule of ['schedule-0', 'schedule-1']) {
          for (const member of await client.zrange(keys.eventsOfSchedule(schedule), 0, -1)) expect(streamIds).toContain(member);
        }
      });
    });

    it('keeps the stream within eventsMaxLen plus a thousandth while it grows past it', async () => {
      const cap = 3_000;
      const { engine, keys } = await open({ eventsMaxLen: cap });
      const t = testClock();
      const events = Array.from({ length: cap + 500 }, (_, i) => newEvent({ timestamp: t(i) }));
      await engine.events.append(events);
      await withRedis(async (client) => {
        const length = await client.xlen(keys.events);
        expect(length).toBeGreaterThanOrEqual(cap);
        expect(length).toBeLessThan(cap + cap / 1000);
        // One timeline per event's task, the trimmed ones' gone with them.
        expect(await client.llen(`${keys.P}events:timelines`)).toBe(length);
      });
      const page = await engine.events.query({ order: 'desc', limit: 10 });
      expect(ids(page)).toEqual(ids(events.slice(-10).reverse()));
    });
  });

  it("reads a task's timeline through its own index, never the rest of the stream", async () => {
    const { engine, keys } = await open();
    const t = testClock();
    const mine = [newEvent({ timestamp: t(0) }), newEvent({ timestamp: t(1), type: 'started' })];
    await engine.events.append([{ ...mine[0]!, taskId: 'task-a' }, newEvent({ timestamp: t(1) }), { ...mine[1]!, taskId: 'task-a' }]);
    // An entry no reader can decode, filed where a scan of the stream or of the time index would meet it.
    await withRedis(async (client) => {
      const id = await client.xadd(keys.events, '*', 'e', '{not json');
      await client.zadd(`${keys.P}events:odd`, t(0).getTime(), id!);
    });
    expect(ids(await engine.events.query({ taskId: 'task-a' }))).toEqual(ids(mine));
    await expect(engine.events.query()).rejects.toBeInstanceOf(RecordDamageError);
  });

  it('finds events whose timestamps lie far from the server clock through their own index, and purges them by timestamp', async () => {
    const { engine, keys } = await open();
    const t = testClock();
    const day = 86_400_000;
    const early = newEvent({ timestamp: t(-day) });
    const scheduled = newEvent({ timestamp: t(-day + 1), scheduleId: 'daily' });
    const now = newEvent({ timestamp: t(0), scheduleId: 'daily' });
    const late = newEvent({ timestamp: t(day) });
    await engine.events.append([late, now, early, scheduled]);
    expect(ids(await engine.events.query())).toEqual(ids([early, scheduled, now, late]));
    expect(ids(await engine.events.query({ order: 'desc', limit: 2 }))).toEqual(ids([late, now]));
    expect(ids(await engine.events.query({ since: t(-60_000), until: t(day) }))).toEqual(ids([now]));
    expect(ids(await engine.events.query({ scheduleId: 'daily' }))).toEqual(ids([scheduled, now]));
    expect(ids(await engine.events.query({ taskId: scheduled.taskId! }))).toEqual(ids([scheduled]));
    await withRedis(async (client) => expect(await client.zcard(`${keys.P}events:odd`)).toBe(3));

    expect(await engine.events.purgeOlderThan(t(-60_000))).toBe(2);
    expect(ids(await engine.events.query())).toEqual(ids([now, late]));
    expect(await engine.events.query({ taskId: early.taskId! })).toEqual([]);
    await withRedis(async (client) => {
      expect(await client.zrange(`${keys.P}events:odd`, 0, -1)).toHaveLength(1);
      expect(await client.exists(keys.eventsOfTask(early.taskId!), keys.eventsOfTask(scheduled.taskId!))).toBe(0);
    });
  });

  it("streams another engine's events, and reads again for a subscription after the last one left", async () => {
    const { engine, prefix } = await open();
    const { engine: peer } = await open({}, prefix);
    // An append of this engine's own, answered, was read after the stream's start: the peer's after it are too.
    const first = firstValueFrom(engine.events.stream().pipe(take(3), toArray()));
    const own = newEvent();
    await engine.events.append([own]);
    const fromPeer = [newEvent(), newEvent({ type: 'started' })];
    await peer.events.append(fromPeer);
    expect(ids(await first)).toEqual(ids([own, ...fromPeer]));

    await engine.events.append([newEvent()]);
    const again = firstValueFrom(engine.events.stream().pipe(take(2), toArray()));
    const ownLater = newEvent();
    await engine.events.append([ownLater]);
    const later = newEvent({ type: 'completed' });
    await peer.events.append([later]);
    expect(await again).toEqual([ownLater, later]);
  });

  describe('result expiry', () => {
    it('gives a result with expiresAt a TTL to that instant, so Redis frees it even when nobody purges', async () => {
      const { engine, keys } = await open();
      const t = testClock();
      const expiring = newResult({ expiresAt: t(60_000) });
      const lasting = newResult();
      await engine.results.put([expiring, lasting]);
      await withRedis(async (client) => {
        expect(await client.pexpiretime(keys.result(expiring.taskId))).toBe(expiring.expiresAt!.getTime());
        expect(await client.pttl(keys.result(lasting.taskId))).toBe(-1);
      });
      // A later put without an expiry keeps the result for good.
      await engine.results.put([{ ...expiring, expiresAt: undefined }]);
      await withRedis(async (client) => expect(await client.pttl(keys.result(expiring.taskId))).toBe(-1));
    });

    it('stores no key for a result already expired, and still counts it in purgeExpired', async () => {
      const { engine, keys } = await open();
      const t = testClock();
      const expired = newResult({ expiresAt: t(-1_000), scheduleId: 'nightly' });
      await engine.results.put([expired]);
      await withRedis(async (client) => expect(await client.exists(keys.result(expired.taskId))).toBe(0));
      expect(await engine.results.get(expired.taskId)).toBeUndefined();
      expect(await engine.results.latestForSchedule('nightly')).toBeUndefined();
      expect(await engine.results.purgeExpired(t(0))).toBe(1);
      await withRedis(async (client) => {
        expect(await client.exists(keys.resultsDone, keys.resultsOfSchedule('nightly'), `${keys.P}results:expiry`, `${keys.P}results:meta`)).toBe(0);
      });
    });
  });
});

describeOnPrivateRedis('Redis events, results, schedules and leases on servers of their own', () => {
  let cluster: RedisClusterServers | undefined;
  let server: RedisServer | undefined;
  /** Closed after the file too (close is idempotent), so a failed case leaves no client reconnecting. */
  const engines: StorageEngine[] = [];

  afterAll(async () => {
    for (const engine of engines) await engine.close();
    await cluster?.remove();
    await server?.remove();
  });

  it('the event stream goes on after the server restarts, and closes at once during an outage', async () => {
    server = await RedisServer.create();
    const engine = await redisBackend.open(server.url, { projectName: PROJECT, baseDir: '.', storageOptions: {} });
    engines.push(engine);
    const waiting = new Map<string, () => void>();
    const heard = (event: TaskEvent): Promise<void> => new Promise((resolve) => waiting.set(event.id, resolve));
    const subscription = engine.events.stream().subscribe((event) => waiting.get(event.id)?.());
    try {
      const before = newEvent();
      const beforeHeard = heard(before);
      await engine.events.append([before]);
      await beforeHeard;
      await server.kill();
      await server.start();
      const after = newEvent();
      const afterHeard = heard(after);
      await engine.events.append([after]);
      await afterHeard;
      await server.kill();
    } finally {
      subscription.unsubscribe();
    }
    engine.events.stream().subscribe();
    expect(await settlement('engine.close() during an outage', engine.close(), 10_000)).toEqual({ status: 'fulfilled', value: undefined });
  });

  it('run their scripts, stream reads and notifications on a 3-master cluster', async () => {
    cluster = await RedisClusterServers.create();
    const engine = await redisBackend.open(cluster.url, { projectName: PROJECT, baseDir: '.', storageOptions: { cluster: true } });
    engines.push(engine);
    const t = testClock();
    const streamed = firstValueFrom(engine.events.stream().pipe(take(1)));
    const event = newEvent({ timestamp: t(0), scheduleId: 'nightly' });
    await engine.events.append([event]);
    expect(await streamed).toEqual(event);
    expect(await engine.events.query({ taskId: event.taskId })).toEqual([event]);
    expect(await engine.events.purgeOlderThan(t(1))).toBe(1);

    const result = newResult({ scheduleId: 'nightly', completedAt: t(0), expiresAt: t(60_000) });
    const announced = new Promise<string>((resolve) => engine.results.notifier.listen('result', resolve));
    await engine.results.put([result]);
    expect(await announced).toBe(result.taskId);
    expect(await engine.results.latestForSchedule('nightly')).toEqual(result);
    expect(await engine.results.purgeCompletedBefore(t(1))).toBe(1);

    const schedule = newSchedule({ nextRunAt: t(0) });
    await engine.tasks.schedules!.saveSchedule(schedule);
    const task = newTask({ scheduleId: schedule.id });
    const fired = await engine.tasks.schedules!.fireSchedule(schedule.id, t(0), { nextRunAt: t(1_000), status: 'active', runCount: 1 }, task);
    expect(fired).toEqual({ claimed: true, enqueued: { id: task.id, created: true } });
    expect(await engine.tasks.coordination.tryLead('maintenance', 'instance-a', 10_000)).toMatchObject({ leader: true, fence: 1 });
  });
});
