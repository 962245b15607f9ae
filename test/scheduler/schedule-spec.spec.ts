import { CronExpression } from '@nestjs/schedule';
import { JsonCodec } from '../../lib/serialization/codec.js';
import { specHash, toScheduleSpec } from '../../lib/scheduler/schedule-spec.js';
import { ScheduleDefinitionError } from '../../lib/errors/omniq.errors.js';

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

  it('defaults to skipping missed fires and not overlapping, and encodes the payload', () => {
    const spec = toScheduleSpec(where, 'report', { every: '1s', payload: { since: new Date(0) } }, codec);
    expect(spec).toMatchObject({ missed: 'skip', overlap: false, taskName: 'report' });
    expect(codec.decode(spec.payload)).toEqual({ since: new Date(0) });
  });

  it.each([
    [{ cron: '61 * * * *' }, 'Reports.nightly: invalid cron expression "61 * * * *": Field value (61) is out of range'],
    [{ cron: '0 3 * * *', tz: 'Mars/Olympus' }, 'Reports.nightly: unknown time zone "Mars/Olympus"'],
    [{ every: 0 }, 'Reports.nightly: every 0 must be a whole number of ms > 0'],
    [{ every: -5 }, 'Reports.nightly: every -5 must be'],
    [{ every: '10 parsecs' }, 'Reports.nightly: every "10 parsecs" must be'],
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
