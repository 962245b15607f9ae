import { Logger } from '@nestjs/common';
import { firstValueFrom, take, toArray } from 'rxjs';
import { openNatsLink, type NatsLink } from '../../lib/backends/nats/nats-connection.js';
import { NatsEventStore } from '../../lib/backends/nats/nats-event.store.js';
import { NatsNotifier } from '../../lib/backends/nats/nats-notifier.js';
import { RecordDamageError } from '../../lib/backends/shared/record-json.js';
import { NatsResultStore } from '../../lib/backends/nats/nats-result.store.js';
import { natsSettings } from '../../lib/backends/nats/nats-settings.js';
import type { NotifyChannel } from '../../lib/storage/notifier.js';
import { ids, newEvent, newResult, testClock } from '../../lib/testing/index.js';
import { describeOnNats, freshNatsPrefix, natsUrl, withNats } from '../support/nats.js';

const PROJECT = 'stores';
const logger = new Logger('nats-stores.spec');

interface Opened {
  link: NatsLink;
  notifier: NatsNotifier;
  results: NatsResultStore;
  events: NatsEventStore;
}

/** What the conformance suite cannot see from the stores' interface: the NATS notifier, result and event stores on their own, two connections racing. */
describeOnNats('NATS notifier, results and events', () => {
  const opened: Opened[] = [];

  afterEach(async () => {
    for (const { link, notifier, results, events } of opened.splice(0).reverse()) {
      await Promise.all([results.close(), events.close()]);
      await notifier.close();
      await link.close();
    }
  });

  /** The three stores on a connection of their own (as another process would have), on `prefix`'s storage. */
  async function open(prefix: string, storageOptions: Record<string, unknown> = {}): Promise<Opened> {
    const link = await openNatsLink(natsSettings(natsUrl(prefix), storageOptions), PROJECT, logger);
    const notifier = new NatsNotifier(link, logger);
    await notifier.start();
    const bucket = await link.bucket('results');
    const release = async (): Promise<void> => undefined;
    const results = new NatsResultStore(link, bucket, notifier, release, logger);
    const events = await NatsEventStore.open(link, undefined, release, logger);
    const stores = { link, notifier, results, events };
    opened.push(stores);
    return stores;
  }

  function heard(notifier: NatsNotifier, channel: NotifyChannel, count: number): Promise<string[]> {
    return new Promise((resolve) => {
      const messages: string[] = [];
      const stop = notifier.listen(channel, (message) => {
        messages.push(message);
        if (messages.length < count) return;
        stop();
        resolve(messages);
      });
    });
  }

  describe('the notifier', () => {
    it("delivers each engine's messages to every engine of the project, its own included, asynchronously", async () => {
      const prefix = freshNatsPrefix();
      const [a, b] = [await open(prefix), await open(prefix)];
      const other = await open(freshNatsPrefix());
      let heardByOther = 0;
      other.notifier.listen('wake', () => (heardByOther += 1));
      const atA = heard(a.notifier, 'wake', 3);
      const atB = heard(b.notifier, 'wake', 3);
      let called = false;
      a.notifier.listen('wake', () => (called = true));
      await a.notifier.notify('wake', ['mail', 'reports']);
      expect(called).toBe(false);
      await b.notifier.notify('wake', ['billing']);
      // One publisher's messages arrive in order; two publishers' interleave as they come.
      for (const messages of [await atA, await atB]) {
        expect(messages.filter((queue) => queue !== 'billing')).toEqual(['mail', 'reports']);
        expect(messages).toContain('billing');
      }
      // The other project's notifier has heard nothing of this one's, once a message of its own came through.
      const own = heard(other.notifier, 'control', 1);
      await other.notifier.notify('control', ['pause:x']);
      expect(await own).toEqual(['pause:x']);
      expect(heardByOther).toBe(0);
    });

    it('keeps delivering to the other listeners when one throws', async () => {
      const { notifier } = await open(freshNatsPrefix());
      notifier.listen('result', () => {
        throw new Error('listener bug');
      });
      const delivered = heard(notifier, 'result', 1);
      await notifier.notify('result', ['task-1']);
      expect(await delivered).toEqual(['task-1']);
    });
  });

  describe('results', () => {
    it('notifies result with the task ids of a put, heard by another connection, and reads it there', async () => {
      const prefix = freshNatsPrefix();
      const [writer, reader] = [await open(prefix), await open(prefix)];
      const results = [newResult(), newResult({ scheduleId: 'nightly' })];
      const notified = heard(reader.notifier, 'result', 2);
      await writer.results.put(results);
      expect((await notified).sort()).toEqual(results.map((result) => result.taskId).sort());
      expect(await reader.results.get(results[1]!.taskId)).toEqual(results[1]);
    });

    it('keeps TTLs without per-key TTL: hides an expired result, purges it once, and never a newer version put meanwhile', async () => {
      const prefix = freshNatsPrefix();
      const [leader, other] = [await open(prefix), await open(prefix)];
      const t = testClock();
      const expiring = newResult({ expiresAt: t(300) });
      const kept = newResult({ expiresAt: t(3_600_000) });
      await other.results.put([expiring, kept]);
      expect(await leader.results.purgeExpired(t(0))).toBe(0);
      expect(await leader.results.get(expiring.taskId)).toEqual(expiring);
      // Put again by another connection with a later expiry: the index the leader built sees the new version.
      const renewed = { ...expiring, expiresAt: t(7_200_000) };
      await other.results.put([renewed]);
      expect(await leader.results.purgeExpired(t(1_000))).toBe(0);
      expect(await leader.results.get(expiring.taskId)).toEqual(renewed);
      expect(await leader.results.purgeExpired(t(3_600_000))).toBe(1);
      expect(await other.results.get(kept.taskId)).toBeUndefined();
      expect(await leader.results.purgeExpired(t(7_200_000))).toBe(1);
      expect(await other.results.get(expiring.taskId)).toBeUndefined();
      // Purges leave no tombstone behind: the bucket holds only the index's barrier.
      await withNats(async (_nc, jsm) => expect((await jsm.streams.info(`KV_${prefix}_${PROJECT}_results`)).state.messages).toBe(1));
    });

    it('finds the latest live result of a schedule after deletes made by another connection, and a delete counts once', async () => {
      const prefix = freshNatsPrefix();
      const [a, b] = [await open(prefix), await open(prefix)];
      const t = testClock();
      const older = newResult({ scheduleId: 'nightly', completedAt: t(-20_000) });
      const newest = newResult({ scheduleId: 'nightly', completedAt: t(-5_000) });
      await a.results.put([older, newest, newResult({ scheduleId: 'hourly' })]);
      expect(await a.results.latestForSchedule('nightly')).toEqual(newest);
      const deletes = await Promise.all([a.results.delete(newest.taskId), b.results.delete(newest.taskId)]);
      expect(deletes.sort()).toEqual([false, true]);
      expect(await a.results.latestForSchedule('nightly')).toEqual(older);
      expect(await a.results.latestForSchedule('weekly')).toBeUndefined();
    });

    it('stores results under task ids that are no valid subject tokens', async () => {
      const { results } = await open(freshNatsPrefix());
      const odd = newResult({ taskId: 'report 2026.12.01 > *', scheduleId: 'every day.at noon' });
      await results.put([odd]);
      expect(await results.get(odd.taskId)).toEqual(odd);
      expect(await results.latestForSchedule('every day.at noon')).toEqual(odd);
      expect(await results.delete(odd.taskId)).toBe(true);
    });
  });

  describe('events', () => {
    it("reads a task's timeline and a schedule's events as filtered reads, and other queries by time", async () => {
      const { events } = await open(freshNatsPrefix());
      const t = testClock();
      const task = newEvent({ timestamp: t(0), scheduleId: 'daily' });
      const started = newEvent({ timestamp: t(10), taskId: task.taskId, scheduleId: 'daily', type: 'started' });
      const paused = newEvent({ timestamp: t(20), scheduleId: 'daily', type: 'schedule_paused' });
      delete paused.taskId;
      const others = Array.from({ length: 20 }, (_, i) => newEvent({ timestamp: t(30 + i) }));
      await events.append([task, ...others.slice(0, 10), started, paused, ...others.slice(10)]);
      expect(ids(await events.query({ taskId: task.taskId! }))).toEqual(ids([task, started]));
      expect(ids(await events.query({ scheduleId: 'daily' }))).toEqual(ids([task, started, paused]));
      expect(ids(await events.query({ scheduleId: 'daily', order: 'desc', limit: 2 }))).toEqual(ids([paused, started]));
      expect(ids(await events.query({ since: t(30), until: t(35) }))).toEqual(ids(others.slice(0, 5)));
      expect(ids(await events.query({ order: 'desc', limit: 3 }))).toEqual(ids(others.slice(-3).reverse()));
    });

    it('appends an event once, whether repeated within the stream\'s duplicate window or long after it', async () => {
      const prefix = freshNatsPrefix();
      const [a, b] = [await open(prefix), await open(prefix)];
      const t = testClock();
      const now = newEvent({ timestamp: t(0) });
      // An outbox replayed after a crash an hour later: far older than the duplicate window.
      const replayed = newEvent({ timestamp: t(-3_600_000), type: 'completed' });
      const taskless = newEvent({ timestamp: t(-3_600_000), type: 'queue_paused', queue: 'mail' });
      delete taskless.taskId;
      await a.events.append([now, replayed, taskless]);
      await Promise.all([a.events.append([now, replayed, taskless]), b.events.append([replayed, now, taskless, now])]);
      expect(ids(await b.events.query())).toEqual(ids([replayed, taskless, now]));
      expect(ids(await b.events.query({ taskId: replayed.taskId! }))).toEqual(ids([replayed]));
    });

    it('finds events timestamped far from their append by time, in order, and purges by timestamp', async () => {
      const { events } = await open(freshNatsPrefix());
      const t = testClock();
      const day = 86_400_000;
      const early = newEvent({ timestamp: t(-day) });
      const scheduled = newEvent({ timestamp: t(-day + 1), scheduleId: 'daily' });
      const now = newEvent({ timestamp: t(0), scheduleId: 'daily' });
      const late = newEvent({ timestamp: t(day) });
      await events.append([late, now, early, scheduled]);
      expect(ids(await events.query())).toEqual(ids([early, scheduled, now, late]));
      expect(ids(await events.query({ order: 'desc', limit: 2 }))).toEqual(ids([late, now]));
      expect(ids(await events.query({ since: t(-60_000), until: t(day) }))).toEqual(ids([now]));
      expect(ids(await events.query({ scheduleId: 'daily' }))).toEqual(ids([scheduled, now]));
      expect(await events.purgeOlderThan(t(-60_000))).toBe(2);
      expect(ids(await events.query())).toEqual(ids([now, late]));
      expect(await events.query({ taskId: early.taskId! })).toEqual([]);
      expect(await events.purgeOlderThan(t(1))).toBe(1);
      expect(ids(await events.query())).toEqual(ids([late]));
    });

    it('bounds the stream by eventsMaxMessages', async () => {
      const { events } = await open(freshNatsPrefix(), { eventsMaxMessages: 50 });
      const t = testClock();
      const appended = Array.from({ length: 80 }, (_, i) => newEvent({ timestamp: t(i) }));
      await events.append(appended);
      expect(ids(await events.query())).toEqual(ids(appended.slice(-50)));
    });

    it("streams another connection's events after its own, and reports a damaged message to a query", async () => {
      const prefix = freshNatsPrefix();
      const [a, b] = [await open(prefix), await open(prefix)];
      const streamed = firstValueFrom(a.events.stream().pipe(take(3), toArray()));
      const own = newEvent();
      await a.events.append([own]);
      const fromPeer = [newEvent(), newEvent({ type: 'started' })];
      await b.events.append(fromPeer);
      expect(ids(await streamed)).toEqual(ids([own, ...fromPeer]));
      await withNats(async (nc) => {
        nc.publish(`${prefix}.${PROJECT}.ev.e.x.=`, '{not json');
        await nc.flush();
      });
      await expect(a.events.query()).rejects.toBeInstanceOf(RecordDamageError);
    });
  });
});
