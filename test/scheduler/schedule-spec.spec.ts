import { Injectable } from '@nestjs/common';
import { CronExpression } from '@nestjs/schedule';
import { JsonCodec } from '../../lib/serialization/codec.js';
import { specHash, toScheduleSpec } from '../../lib/scheduler/schedule-spec.js';
import { ScheduleDefinitionError } from '../../lib/errors/omniq.errors.js';
import { Scheduled, Task } from '../../lib/index.js';
import { createTestApp } from '../support/test-app.js';

const codec = new JsonCodec();
const where = 'Reports.nightly';

describe('schedule options', () => {
  it('accepts cron with a time zone, CronExpression values, intervals as ms or durations, and one-shots', () => {
    expect(toScheduleSpec(where, 'report', { cron: '0 3 * * *', tz: 'Europe/Berlin' }, codec)).toMatchObject({ kind: 'cron', cron: '0 3 * * *', tz: 'Europe/Berlin' });
    expect(toScheduleSpec(where, 'report', { cron: CronExpression.EVERY_30_SECONDS }, codec)).toMatchObject({ kind: 'cron', cron: '*/30 * * * * *' });
    expect(toScheduleSpec(where, 'report', { every: 1500 }, codec)).toMatchObject({ kind: 'interval', everyMs: 1500 });
    expect(toScheduleSpec(where, 'report', { every: '5m' }, codec)).toMatchObject({ kind: 'interval', everyMs: 300_000 });
    expect(toScheduleSpec(where, 'report', { at: '2030-01-01T00:00:00Z' }, codec)).toMatchObject({ kind: 'once', at: new Date('2030-01-01T00:00:00Z') });
  });

  it('accepts a cron whose date exists only in some years (February 29)', () => {
    expect(toScheduleSpec(where, 'report', { cron: '0 0 29 2 *' }, codec)).toMatchObject({ kind: 'cron', cron: '0 0 29 2 *' });
  });

  it('defaults to skipping missed fires and not overlapping, and encodes the payload', () => {
    const spec = toScheduleSpec(where, 'report', { every: '1s', payload: { since: new Date(0) } }, codec);
    expect(spec).toMatchObject({ missed: 'skip', overlap: false, taskName: 'report' });
    expect(codec.decode(spec.payload)).toEqual({ since: new Date(0) });
  });

  it.each([
    [{ cron: '61 * * * *' }, 'Reports.nightly: invalid cron expression "61 * * * *": Field value (61) is out of range'],
    [{ cron: '0 0 30 2 *' }, 'Reports.nightly: invalid cron expression "0 0 30 2 *": no date matches it (such as February 30), so it would never fire'],
    [{ cron: '0 0 0 31 4,6,9,11 *', tz: 'Europe/Berlin' }, 'Reports.nightly: invalid cron expression "0 0 0 31 4,6,9,11 *": no date matches it'],
    [{ cron: '0 3 * * *', tz: 'Mars/Olympus' }, 'Reports.nightly: unknown time zone "Mars/Olympus"'],
    [{ every: 0 }, 'Reports.nightly: every 0 must be a whole number of ms > 0'],
    [{ every: -5 }, 'Reports.nightly: every -5 must be'],
    [{ every: '10 parsecs' }, 'Reports.nightly: every "10 parsecs" must be'],
    [{ every: 4e12 }, 'Reports.nightly: every 4000000000000 must be at most 3155760000000 ms (100 years)'],
    [{ cron: '* * * * *', every: 1000 }, 'Reports.nightly: give exactly one of cron, every or at, not cron ("* * * * *") and every (1000)'],
    [{}, 'Reports.nightly: give exactly one of cron, every or at'],
    [{ at: 'someday' }, 'Reports.nightly: at "someday" is not a valid date'],
    [{ every: 1000, tz: 'Europe/Berlin' }, 'tz "Europe/Berlin" applies to cron schedules only'],
    [{ every: 1000, maxRuns: 0 }, 'maxRuns 0 must be an integer > 0'],
    [{ every: 1000, startAt: '2030-01-02', endAt: '2030-01-01' }, 'endAt 2030-01-01T00:00:00.000Z must be after startAt'],
    [{ every: 1000, missed: 'catch-up' }, 'missed "catch-up" must be "skip" or "run-once"'],
    [{ every: 1000, payload: { f: () => 1 } }, 'Reports.nightly: payload.f is a function'],
    [{ every: 1000, evry: 5 }, 'Reports.nightly: unknown option "evry"'],
  ])('rejects %j naming the declaration and the value', (options, message) => {
    const attempt = () => toScheduleSpec(where, 'report', options as never, codec);
    expect(attempt).toThrow(ScheduleDefinitionError);
    expect(attempt).toThrow(message);
  });

  it('fingerprints the spec: equal declarations hash equal, any change changes the hash', () => {
    const a = toScheduleSpec(where, 'report', { cron: '0 3 * * *' }, codec);
    expect(specHash(a)).toBe(specHash(toScheduleSpec(where, 'report', { cron: '0 3 * * *' }, codec)));
    expect(specHash(a)).not.toBe(specHash(toScheduleSpec(where, 'report', { cron: '0 4 * * *' }, codec)));
    expect(specHash(a)).not.toBe(specHash(toScheduleSpec(where, 'report', { cron: '0 3 * * *', payload: 1 }, codec)));
  });
});

describe('a cron expression no date matches', () => {
  it('fails the bootstrap for @Scheduled(), naming class, method and expression, not the cron library', async () => {
    @Injectable()
    class Billing {
      @Task('billing.close')
      @Scheduled({ cron: '0 0 30 2 *' })
      close(): void {}
    }
    const booting = createTestApp({ backend: 'memory://', worker: { enabled: false } }, [Billing]);
    await expect(booting).rejects.toThrow(ScheduleDefinitionError);
    await expect(createTestApp({ backend: 'memory://', worker: { enabled: false } }, [Billing])).rejects.toThrow(
      'Billing.close (@Scheduled "billing.close"): invalid cron expression "0 0 30 2 *": no date matches it',
    );
  });

  it('rejects createSchedule(), naming the schedule, and stores nothing', async () => {
    @Injectable()
    class Cleanup {
      @Task('cleanup')
      run(): void {}
    }
    const t = await createTestApp({ backend: 'memory://', worker: { enabled: false } }, [Cleanup]);
    try {
      const creating = t.omniq.createSchedule('month-end', { task: 'cleanup', cron: '0 0 31 2 *' });
      await expect(creating).rejects.toThrow(ScheduleDefinitionError);
      await expect(creating).rejects.toThrow('createSchedule("month-end"): invalid cron expression "0 0 31 2 *": no date matches it');
      expect(await t.omniq.getSchedule('month-end')).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
