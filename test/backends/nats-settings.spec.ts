import { NatsSettingsError, hideNatsSecrets, natsSettings } from '../../lib/backends/nats/nats-settings.js';

describe('NATS settings', () => {
  it('reads one server, with defaults for every option', () => {
    expect(natsSettings('nats://127.0.0.1:4222', {})).toEqual({
      shownUrl: 'nats://127.0.0.1:4222',
      servers: ['127.0.0.1:4222'],
      user: undefined,
      pass: undefined,
      token: undefined,
      tls: false,
      prefix: 'omniq',
      connectTimeoutMs: 5_000,
      requestTimeoutMs: 10_000,
      replicas: 1,
      storage: 'file',
      eventsMaxAgeMs: 7 * 86_400_000,
      eventsMaxMessages: 1_000_000,
      resultsMaxAgeMs: 0,
    });
  });

  it('reads several servers, credentials, a token, TLS and the prefix parameter', () => {
    const cluster = natsSettings('tls://app:s%40cret@a.internal:4222,nats://b.internal,[::1]:4333?prefix=jobs', {});
    expect(cluster).toMatchObject({ servers: ['a.internal:4222', 'b.internal:4222', '[::1]:4333'], user: 'app', pass: 's@cret', tls: true, prefix: 'jobs' });
    expect(cluster.shownUrl).toBe('tls://app:***@a.internal:4222,nats://b.internal,[::1]:4333?prefix=jobs');
    expect(natsSettings('nats://t0ken@host', {})).toMatchObject({ token: 't0ken', user: undefined, servers: ['host:4222'], shownUrl: 'nats://***@host' });
    expect(hideNatsSecrets('nats://user:pw@host:4222')).toBe('nats://user:***@host:4222');
  });

  it('reads storageOptions, numbers given as strings too (environment variables)', () => {
    const settings = natsSettings('nats://host', {
      prefix: 'queue-1',
      connectTimeoutMs: '250',
      requestTimeoutMs: 2_000,
      replicas: 3,
      storage: 'memory',
      eventsMaxAgeMs: 0,
      eventsMaxMessages: '5000',
      resultsMaxAgeMs: 60_000,
    });
    expect(settings).toMatchObject({ prefix: 'queue-1', connectTimeoutMs: 250, requestTimeoutMs: 2_000, replicas: 3, storage: 'memory', eventsMaxAgeMs: 0, eventsMaxMessages: 5_000, resultsMaxAgeMs: 60_000 });
  });

  it.each([
    ['redis://host:6379', {}, /not a NATS URL/],
    ['nats://', {}, /names no valid host/],
    ['nats://host:4222/path', {}, /has no path/],
    ['nats://host:99999', {}, /port 99999 is out of range/],
    ['nats://host?schema=x', {}, /unknown parameter "schema"/],
    ['nats://host?prefix=a', { prefix: 'b' }, /given twice, differently: "a" in the URL .* and "b" in storageOptions.prefix/],
    ['nats://host?prefix=a.b', {}, /the prefix parameter of nats:\/\/host\?prefix=a.b: expected letters, digits or "-"/],
    ['nats://host', { prefix: 'my_prefix' }, /storageOptions.prefix: expected letters, digits or "-" .*got "my_prefix"/],
    ['nats://host', { connectTimeoutMs: 0 }, /storageOptions.connectTimeoutMs: expected a positive integer, got 0/],
    ['nats://host', { requestTimeoutMs: 'soon' }, /storageOptions.requestTimeoutMs: expected a positive integer, got "soon"/],
    ['nats://host', { replicas: 2 }, /storageOptions.replicas: expected 1, 3 or 5 .*got 2/],
    ['nats://host', { storage: 'disk' }, /storageOptions.storage: expected "file" or "memory", got "disk"/],
    ['nats://host', { eventsMaxAgeMs: -1 }, /storageOptions.eventsMaxAgeMs: expected a non-negative integer, got -1/],
    ['nats://host', { eventsMaxMessages: 1.5 }, /storageOptions.eventsMaxMessages: expected a positive integer, got 1.5/],
  ])('refuses %s with %j, naming the culprit', (url, options, message) => {
    expect(() => natsSettings(url, options)).toThrow(NatsSettingsError);
    expect(() => natsSettings(url, options)).toThrow(message);
  });

  it('never shows the password of a refused URL', () => {
    expect(() => natsSettings('nats://user:hunter2@host/x', {})).toThrow(/nats:\/\/user:\*\*\*@host\/x/);
    expect(() => natsSettings('nats://user:hunter2@host/x', {})).not.toThrow(/hunter2/);
  });
});
