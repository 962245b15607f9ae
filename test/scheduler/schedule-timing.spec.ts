import type { ScheduleSpec } from '../../lib/models/schedule.model.js';
import { latestFireAtOrBefore, nextFireAfter } from '../../lib/scheduler/schedule-timing.js';

function spec(overrides: Partial<ScheduleSpec>): ScheduleSpec {
  return { kind: 'cron', taskName: 't', payload: { format: 'omniq-json/1', data: 'null' }, missed: 'skip', overlap: false, ...overrides };
}

/** Every fire time in [from, until), computed the way the scheduler walks them. */
function firesBetween(s: ScheduleSpec, from: string, until: string): string[] {
  const fires: string[] = [];
  for (let at = nextFireAfter(s, new Date(from)); at && at < new Date(until); at = nextFireAfter(s, at)) fires.push(at.toISOString());
  return fires;
}

describe('schedule timing', () => {
  describe('daylight saving time', () => {
    it('Europe/Berlin spring forward: a daily 02:30 that does not exist that night fires once, right after the jump', () => {
      const fires = firesBetween(spec({ cron: '30 2 * * *', tz: 'Europe/Berlin' }), '2026-03-28T00:00:00Z', '2026-03-31T00:00:00Z');
      expect(fires).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-30T00:30:00.000Z']);
    });

    it('Europe/Berlin fall back: a daily 02:30 that happens twice that night fires once', () => {
      const fires = firesBetween(spec({ cron: '30 2 * * *', tz: 'Europe/Berlin' }), '2026-10-24T00:00:00Z', '2026-10-27T00:00:00Z');
      expect(fires).toEqual(['2026-10-24T00:30:00.000Z', '2026-10-25T00:30:00.000Z', '2026-10-26T01:30:00.000Z']);
    });

    it('America/New_York spring forward and fall back (6-field cron with seconds): one fire a day', () => {
      const spring = firesBetween(spec({ cron: '0 30 2 * * *', tz: 'America/New_York' }), '2026-03-07T12:00:00Z', '2026-03-10T12:00:00Z');
      expect(spring).toEqual(['2026-03-08T07:00:00.000Z', '2026-03-09T06:30:00.000Z', '2026-03-10T06:30:00.000Z']);
      const fall = firesBetween(spec({ cron: '0 30 1 * * *', tz: 'America/New_York' }), '2026-10-31T12:00:00Z', '2026-11-03T12:00:00Z');
      expect(fall).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z', '2026-11-03T06:30:00.000Z']);
    });

    it('a half-hourly cron keeps firing every 30 real minutes through the Berlin fall back', () => {
      const fires = firesBetween(spec({ cron: '*/30 * * * *', tz: 'Europe/Berlin' }), '2026-10-24T23:50:00Z', '2026-10-25T02:10:00Z');
      expect(fires).toEqual([
        '2026-10-25T00:00:00.000Z',
        '2026-10-25T00:30:00.000Z',
        '2026-10-25T01:00:00.000Z',
        '2026-10-25T01:30:00.000Z',
        '2026-10-25T02:00:00.000Z',
      ]);
    });
  });

  it('interval ticks are aligned to startAt (or the epoch), so every instance computes the same ticks', () => {
    const every = spec({ kind: 'interval', everyMs: 1_000, cron: undefined });
    expect(nextFireAfter(every, new Date('2026-01-01T00:00:00.250Z'))).toEqual(new Date('2026-01-01T00:00:01.000Z'));
    expect(nextFireAfter(every, new Date('2026-01-01T00:00:01.000Z'))).toEqual(new Date('2026-01-01T00:00:02.000Z'));
    const anchored = spec({ kind: 'interval', everyMs: 60_000, startAt: new Date('2026-01-01T00:00:10Z') });
    expect(nextFireAfter(anchored, new Date('2025-12-01T00:00:00Z'))).toEqual(new Date('2026-01-01T00:00:10Z'));
    expect(nextFireAfter(anchored, new Date('2026-01-01T00:00:10Z'))).toEqual(new Date('2026-01-01T00:01:10Z'));
  });

  it('respects startAt and endAt, and a one-shot fires once', () => {
    const windowed = spec({ cron: '0 * * * *', startAt: new Date('2026-01-01T05:00:00Z'), endAt: new Date('2026-01-01T07:00:00Z') });
    expect(firesBetween(windowed, '2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z')).toEqual([
      '2026-01-01T05:00:00.000Z',
      '2026-01-01T06:00:00.000Z',
      '2026-01-01T07:00:00.000Z',
    ]);
    const once = spec({ kind: 'once', at: new Date('2026-06-01T12:00:00Z') });
    expect(firesBetween(once, '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z')).toEqual(['2026-06-01T12:00:00.000Z']);
  });

  it('finds the latest missed fire after downtime', () => {
    const hourly = spec({ cron: '0 * * * *' });
    expect(latestFireAtOrBefore(hourly, new Date('2026-01-01T01:00:00Z'), new Date('2026-01-01T05:30:00Z'))).toEqual(new Date('2026-01-01T05:00:00Z'));
    const every = spec({ kind: 'interval', everyMs: 1_000 });
    expect(latestFireAtOrBefore(every, new Date('2026-01-01T00:00:01Z'), new Date('2026-01-01T00:00:09.5Z'))).toEqual(new Date('2026-01-01T00:00:09Z'));
  });
});
