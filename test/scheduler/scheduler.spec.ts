import { Injectable } from '@nestjs/common';
import {
  ScheduleDefinitionError,
  Scheduled,
  Task,
  UnknownScheduleError,
  UnknownTaskError,
} from '../../lib/index.js';
import { nextEvents } from '../support/events.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { describeOnEveryBackend } from '../support/backends.js';
import { eventually } from '../support/eventually.js';
import { NO_LAPSE_LIMIT, reserveRequest } from '../../lib/testing/fixtures.js';
import { WRITE_NOTHING } from '../../lib/storage/task-queue.store.js';

const calls: Array<{ schedule: string; payload: unknown }> = [];

@Injectable()
class ScheduledTasks {
  @Task('report.daily')
  @Scheduled({ name: 'nightly-report', cron: '0 3 * * *', tz: 'Europe/Berlin', payload: { kind: 'nightly' } })
  report(payload: unknown): string {
    calls.push({ schedule: 'report', payload });
    return 'report built';
  }

  @Scheduled({ every: 50, maxRuns: 3, payload: { n: 1 } })
  heartbeat(payload: unknown): number {
    calls.push({ schedule: 'heartbeat', payload });
    return calls.length;
  }

  @Task('cleanup')
  cleanup(): string {
    return 'cleaned';
  }
}

describeOnEveryBackend('OmniQScheduler', (backend) => {
  const apps: TestApp[] = [];
  const boot = async (...args: Parameters<typeof createTestApp>): Promise<TestApp> => {
    const app = await createTestApp(...args);
    apps.push(app);
    return app;
  };
  beforeEach(() => calls.splice(0));
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  it('registers @Scheduled methods, fires them on time with their payload, and expires them after maxRuns', async () => {
    const completed = (t: TestApp) => nextEvents(t.omniq, 3, (e) => e.type === 'completed' && e.scheduleId === 'ScheduledTasks.heartbeat');
    const t = await boot({ backend: backend.url() }, [ScheduledTasks]);
    const done = await completed(t);
    expect(done).toHaveLength(3);
    expect(calls.filter((c) => c.schedule === 'heartbeat').map((c) => c.payload)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    const schedule = await t.omniq.getSchedule('ScheduledTasks.heartbeat');
    expect(schedule).toMatchObject({ status: 'expired', runCount: 3, source: 'decorator', kind: 'interval', everyMs: 50, taskName: 'ScheduledTasks.heartbeat' });
    expect(schedule?.nextRunAt).toBeUndefined();
    const result = await t.omniq.getScheduleResult('ScheduledTasks.heartbeat');
    expect(result).toMatchObject({ status: 'success', scheduleId: 'ScheduledTasks.heartbeat' });
  });

  it('stores cron schedules with their next fire time in the time zone', async () => {
    const t = await boot({ backend: backend.url() }, [ScheduledTasks]);
    const nightly = await t.omniq.getSchedule('nightly-report');
    expect(nightly).toMatchObject({ kind: 'cron', cron: '0 3 * * *', tz: 'Europe/Berlin', taskName: 'report.daily', payload: { kind: 'nightly' }, status: 'active' });
    const local = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(nightly!.nextRunAt!);
    expect(local).toBe('03:00');
    expect(nightly!.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
  });

  it('pauses and resumes through the store: every instance stops, it stays paused after a restart, and events are recorded', async () => {
    const shared = await backend.shared();
    const first = await boot({ ...shared.options }, [ScheduledTasks]);
    const paused = await first.omniq.pauseSchedule('nightly-report');
    expect(paused).toMatchObject({ status: 'paused' });
    expect(paused.nextRunAt).toBeUndefined();
    await first.close();
    apps.splice(apps.indexOf(first), 1);

    const second = await boot({ ...shared.options }, [ScheduledTasks]);
    expect((await second.omniq.getSchedule('nightly-report'))?.status).toBe('paused');
    const resumed = await second.omniq.resumeSchedule('nightly-report');
    expect(resumed.status).toBe('active');
    expect(resumed.nextRunAt!.getTime()).toBeGreaterThan(Date.now());
    const types = (await second.omniq.getEvents({ scheduleId: 'nightly-report' })).map((e) => e.type);
    expect(types).toEqual(['schedule_paused', 'schedule_resumed']);
    await expect(second.omniq.pauseSchedule('nope')).rejects.toBeInstanceOf(UnknownScheduleError);
  });

  it('reconciles at bootstrap: a schedule removed from the code is disabled, a changed one updated', async () => {
    const shared = await backend.shared();
    @Injectable()
    class V1 {
      @Scheduled({ name: 'sync', every: '1h' })
      sync(): void {}
      @Scheduled({ name: 'legacy', every: '1h' })
      legacy(): void {}
    }
    @Injectable()
    class V2 {
      @Scheduled({ name: 'sync', every: '2h' })
      sync(): void {}
    }
    const v1 = await boot({ ...shared.options }, [V1]);
    const before = await v1.omniq.getSchedule('sync');
    await v1.close();
    apps.splice(0);
    const v2 = await boot({ ...shared.options }, [V2]);
    expect(await v2.omniq.getSchedule('legacy')).toMatchObject({ status: 'disabled' });
    const after = await v2.omniq.getSchedule('sync');
    expect(after).toMatchObject({ status: 'active', everyMs: 7_200_000 });
    expect(after!.specHash).not.toBe(before!.specHash);
  });

  it('creates schedules at runtime for registered tasks, triggers them now, and removes them', async () => {
    const t = await boot({ backend: backend.url() }, [ScheduledTasks]);
    const created = await t.omniq.createSchedule('hourly-cleanup', { task: 'cleanup', cron: '0 * * * *' });
    expect(created).toMatchObject({ id: 'hourly-cleanup', source: 'runtime', status: 'active', taskName: 'cleanup' });
    expect((await t.omniq.listSchedules()).map((s) => s.id)).toContain('hourly-cleanup');
    const id = await t.omniq.triggerSchedule('hourly-cleanup');
    expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'success', value: 'cleaned', scheduleId: 'hourly-cleanup' });
    expect((await t.omniq.getScheduleResult('hourly-cleanup'))?.value).toBe('cleaned');
    expect((await t.omniq.getSchedule('hourly-cleanup'))?.runCount).toBe(0);
    await expect(t.omniq.createSchedule('x', { task: 'no.such.task', every: 1000 })).rejects.toBeInstanceOf(UnknownTaskError);
    await expect(t.omniq.createSchedule('x', { task: 'no.such.task', every: 1000 })).rejects.toThrow('createSchedule("x"): unknown task "no.such.task"');
    await expect(t.omniq.createSchedule('y', { task: 'cleanup', every: -1 })).rejects.toThrow('createSchedule("y"): every -1 must be');
    expect(await t.omniq.removeSchedule('hourly-cleanup')).toBe(true);
    expect(await t.omniq.getSchedule('hourly-cleanup')).toBeUndefined();
  });

  it('fires each tick exactly once however many instances share the store', async () => {
    const shared = await backend.shared();
    @Injectable()
    class Ticker {
      @Task('tick')
      @Scheduled({ name: 'ticker', every: 40, maxRuns: 10, overlap: true })
      tick(): void {}
    }
    const instances = await Promise.all([0, 1, 2].map(() => boot({ ...shared.options, scheduler: { pollIntervalMs: 10 } }, [Ticker])));
    // Each instance has its own engine on the storage: another one's completions reach this one through the store.
    await eventually(async () => ((await instances[0]!.omniq.stats()).default?.success ?? 0) >= 10 || undefined, 20_000, 'ten ticks to run');
    const enqueued = await instances[0]!.omniq.getEvents({ scheduleId: 'ticker', types: ['enqueued'] });
    expect(enqueued).toHaveLength(10);
    const fireTimes = enqueued.map((e) => Date.parse(e.message!.split(' for ')[1]!)).sort((a, b) => a - b);
    expect(new Set(fireTimes).size).toBe(10);
    expect(fireTimes.slice(1).map((at, i) => at - fireTimes[i]!)).toEqual(Array(9).fill(40));
    expect((await instances[0]!.omniq.getSchedule('ticker'))?.status).toBe('expired');
  });

  it('with overlap: false, skips fires while the previous tick is live, and supersedes one whose lease lapsed', async () => {
    const every = 50;
    const shared = await backend.shared();
    const store = shared.engine.tasks;
    const t = await boot({ ...shared.options, worker: { enabled: false }, maintenance: { enabled: false }, scheduler: { pollIntervalMs: 10 } }, [ScheduledTasks]);
    await t.omniq.createSchedule('solo', { task: 'cleanup', every, overlap: false });
    const lastTask = async (): Promise<string | undefined> => (await t.omniq.getSchedule('solo'))?.lastTaskId;
    const newTick = (than?: string): Promise<string> => eventually(async () => {
      const id = await lastTask();
      return id !== than && id;
    }, 10_000, 'the schedule to fire a new tick');
    /** Lets the schedule pass over several fires, then checks none of them replaced `id`. */
    const skipsPast = async (id: string): Promise<void> => {
      const until = Date.now() + 4 * every;
      await eventually(async () => ((await t.omniq.getSchedule('solo'))?.nextRunAt?.getTime() ?? 0) > until, 10_000, 'the schedule to pass over 4 fires');
      expect(await lastTask()).toBe(id);
    };
    /** Reserves the waiting ticks as a worker that then dies would; returns the first one's lease token. */
    const reserveTicks = async (): Promise<string> => (await store.reserve(reserveRequest({ workerId: 'gone', leaseMs: 60_000, names: ['cleanup'] })))[0]!.leaseToken!;
    const reclaimAll = () => store.reclaimLapsed(new Date(Date.now() + 120_000), 10, WRITE_NOTHING, NO_LAPSE_LIMIT);

    const first = await newTick();
    await skipsPast(first); // pending
    const token = await reserveTicks();
    await skipsPast(first); // running under a live lease
    await store.extendLeases([{ id: first, token }], 1);
    const second = await newTick(first); // its lease lapsed: superseded
    expect(await t.omniq.getTask(first)).toMatchObject({ status: 'running', cancelRequestedAt: expect.any(Date) });

    await reserveTicks();
    await reclaimAll();
    const reclaimed = await t.omniq.getTask(second);
    expect(reclaimed?.status).toBe('pending');
    expect(reclaimed?.cancelRequestedAt).toBeUndefined();
    await skipsPast(second); // waiting to run again after its worker died: it will run, a new tick would overlap it
    await reserveTicks();
    expect(await t.omniq.cancel(second)).toBe(true);
    await reclaimAll();
    expect(await t.omniq.getTask(second)).toMatchObject({ status: 'pending', cancelRequestedAt: expect.any(Date) });
    await newTick(second); // waiting with a cancel request: it never runs, so it does not block
  });

  it.each([
    [{ cron: 'not a cron' }, /Bad\.job \(@Scheduled "Bad\.job"\): invalid cron expression "not a cron"/],
    [{ cron: '0 3 * * *', tz: 'Europe/Atlantis' }, /Bad\.job \(@Scheduled "Bad\.job"\): unknown time zone "Europe\/Atlantis"/],
    [{ every: 0 }, /Bad\.job \(@Scheduled "Bad\.job"\): every 0 must be/],
    [{ cron: '* * * * *', every: 1000 }, /Bad\.job \(@Scheduled "Bad\.job"\): give exactly one of cron, every or at, not cron/],
  ])('fails the bootstrap for %j, naming class, method and expression', async (options, message) => {
    @Injectable()
    class Bad {
      @Scheduled(options)
      job(): void {}
    }
    const booting = createTestApp({ backend: backend.url() }, [Bad]);
    await expect(booting).rejects.toThrow(ScheduleDefinitionError);
    await expect(createTestApp({ backend: backend.url() }, [Bad])).rejects.toThrow(message);
  });
});
