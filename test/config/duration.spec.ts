import { parseDuration } from '../../lib/config/duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', undefined, 500],
    ['30s', undefined, 30_000],
    ['5m', undefined, 300_000],
    ['1h', undefined, 3_600_000],
    ['1.5m', undefined, 90_000],
    ['1.1s', undefined, 1_100],
    ['.5s', undefined, 500],
    [' 2s ', undefined, 2_000],
    ['0', 's', 0],
    ['30', 's', 30_000],
    ['2.5', 's', 2_500],
    ['250', 'ms', 250],
    ['-5s', undefined, -5_000],
    ['-3', 's', -3_000],
  ] as const)('%j (bare unit %s) is %d ms', (text, bareUnit, ms) => {
    expect(parseDuration(text, bareUnit)).toBe(ms);
  });

  it('returns a fraction of a millisecond as it is, for the caller to reject', () => {
    expect(parseDuration('0.0005s')).toBe(0.5);
  });

  it.each([['30'], [''], ['s'], ['5 minutes'], ['5d'], ['1e3ms'], ['--5s'], ['5ms5']])('%j is no duration without a bare unit', (text) => {
    expect(parseDuration(text)).toBeNaN();
  });

  it('needs a bare unit for bare numbers only', () => {
    expect(parseDuration('30')).toBeNaN();
    expect(parseDuration('30s', 'ms')).toBe(30_000);
  });
});
