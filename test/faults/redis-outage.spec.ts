import { setTimeout as sleep } from 'node:timers/promises';
import type { OmniQModuleOptions } from '../../lib/index.js';
import { redisBackend } from '../../lib/backends/redis/redis.backend.js';
import { RedisStorageError } from '../../lib/backends/redis/redis-storage.error.js';
import { eventually } from '../support/eventually.js';
import { endStatuses, enqueueDuringOutage, lateTaskRunsAtOnce, outageRig, producerOptions, runCounts, runs, workerOptions, workItems } from '../support/outage.js';
import { RedisServer, describeOnPrivateRedis } from '../support/redis-server.js';
import type { TestApp } from '../support/test-app.js';

const OUTAGE_MS = 3_000;
/** How long before the kill an event may have been recorded and still be waiting in the recorder for its write (a batch in flight, retried after the outage). */
const HELD_EVENTS_MS = 2_000;

const rig = outageRig();
const workers = workerOptions({ concurrency: 4, leaseMs: 10_000 });
const boot = (url: string, options: OmniQModuleOptions): Promise<TestApp> => rig.appOnEngine(redisBackend, url, options);

/** Enqueues during the outage: must reject, clearly and within the bounded wait, having stored nothing. */
async function refusedEnqueue(producer: TestApp, server: RedisServer): Promise<void> {
  const refused = await enqueueDuringOutage(producer);
  expect(refused).toBeInstanceOf(RedisStorageError);
  const { message } = refused as RedisStorageError;
  expect(message).toMatch(/enqueue/);
  expect(message).toContain(`127.0.0.1:${server.port}`);
  expect(message).toMatch(/connectTimeoutMs .*nothing was sent/);
}

describeOnPrivateRedis('Redis: a private server killed and started again mid-run', () => {
  // A killed process loses nothing it acknowledged with either policy: Redis write()s the AOF before it replies. They differ
  // when the machine itself fails: everysec may lose the last second that the OS had not flushed yet, always nothing.
  it.each(['always', 'everysec'])('with AOF appendfsync %s: enqueue rejects clearly in bounded time, workers carry on once it is back, scripts are reloaded, no task is lost', async (fsync) => {
    const server = await rig.server(RedisServer.create(['appendonly', 'yes', 'appendfsync', fsync]));
    await boot(server.url, workers);
    const producer = await boot(server.url, producerOptions);

    const ids = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    await server.kill();
    const killedAt = Date.now();
    const startedBeforeKill = new Set(runs.map((run) => run.id));

    await refusedEnqueue(producer, server);
    // The outage itself: nothing to wait for but time.
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - killedAt)));
    // The same folder: the server replays its AOF. Its script cache is empty: every script is loaded again on first use.
    await server.start();

    expect(await endStatuses(producer, ids, 60_000)).toEqual(ids.map(() => 'success'));
    const counts = runCounts();
    expect(ids.filter((id) => (counts.get(id) ?? 0) === 0)).toEqual([]);
    // At least once: only a task that had started before the kill may have run again (its outcome not recorded in time).
    expect(ids.filter((id) => counts.get(id)! > 1 && !startedBeforeKill.has(id))).toEqual([]);
    expect(ids.filter((id) => counts.get(id)! > 2)).toEqual([]);
    const results = await Promise.all(ids.map((id) => producer.omniq.getResult(id)));
    expect(results.filter((result) => result?.status !== 'success')).toEqual([]);
    await lateTaskRunsAtOnce(producer);
  }, 120_000);

  it('with persistence off: everything stored before the kill is gone after the restart, and OmniQ carries on with what comes next', async () => {
    const server = await rig.server(RedisServer.create());
    await boot(server.url, workers);
    const producer = await boot(server.url, producerOptions);

    const ids = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    await server.kill();
    const killedAt = Date.now();
    const ranBeforeKill = runs.length;

    await refusedEnqueue(producer, server);
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - killedAt)));
    await server.start();

    // Exactly what is lost: every task (waiting, running or done), every result and every event
    // written before the kill. The server comes back empty; nothing tells OmniQ so.
    expect(await endStatuses(producer, ids, 20_000)).toEqual(ids.map(() => 'missing'));
    expect((await Promise.all(ids.map((id) => producer.omniq.getResult(id)))).filter((result) => result !== undefined)).toEqual([]);
    // Only events this process still held for a retry when the server went (recorded just before
    // the kill or during the outage) are written once it is back: nothing stored before survives.
    const events = await producer.omniq.getEvents({ limit: 1_000 });
    expect(events.filter((event) => event.timestamp.getTime() < killedAt - HELD_EVENTS_MS)).toEqual([]);
    // No task enqueued before the kill runs after the restart: a handler still running then finishes, but its settle finds no task.
    await sleep(500);
    const ranAfter = runs.slice(ranBeforeKill).filter((run) => run.startedAt > killedAt + OUTAGE_MS);
    expect(ranAfter.map((run) => run.id).filter((id) => ids.includes(id))).toEqual([]);
    const late = await lateTaskRunsAtOnce(producer);
    // Nor does a settle that came after the restart bring back a trace of its task: the late task is all there is.
    const listed = await producer.omniq.listTasks({});
    expect(listed.items.map((task) => task.id)).toEqual([late]);
    expect(listed.total).toBe(1);
  }, 120_000);

  it('with RDB snapshots only: a restart rolls back to the last snapshot, so what was enqueued after it is gone and what ended after it runs again', async () => {
    const server = await rig.server(RedisServer.create());
    await boot(server.url, workerOptions({ concurrency: 4, leaseMs: 3_000 }));
    const producer = await boot(server.url, producerOptions);

    const before = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    // What `save <seconds> <changes>` would do on its own, now: the server writes dump.rdb and reloads it after the kill.
    await server.cli('SAVE');
    const after = await producer.omniq.enqueueMany(workItems(50));
    expect(await endStatuses(producer, [...before, ...after], 60_000)).toEqual([...before, ...after].map(() => 'success'));
    const ranBeforeKill = runCounts();
    await server.kill();
    await server.start();

    // Enqueued after the snapshot: gone, though they had run and succeeded.
    expect(await endStatuses(producer, after, 20_000)).toEqual(after.map(() => 'missing'));
    // Before it: back as they were then; those not finished at the snapshot run again (a running one once its lease lapses).
    expect(await endStatuses(producer, before, 60_000)).toEqual(before.map(() => 'success'));
    const counts = runCounts();
    const again = before.filter((id) => counts.get(id)! > ranBeforeKill.get(id)!);
    expect(again.length).toBeGreaterThan(0);
    expect(before.filter((id) => (counts.get(id) ?? 0) === 0)).toEqual([]);
    await lateTaskRunsAtOnce(producer);
  }, 120_000);
});
