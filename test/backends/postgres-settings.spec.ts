import { PostgresSettingsError } from '../../lib/index.js';
import { postgresSettings } from '../../lib/backends/postgres/postgres-settings.js';

describe('PostgreSQL settings', () => {
  it('reads postgres:// and postgresql:// URLs, takes the schema from ?schema= or storageOptions, and leaves every other parameter to the driver', () => {
    expect(postgresSettings('postgres://app@db.internal/jobs', {})).toEqual({
      url: 'postgres://app@db.internal/jobs',
      shownUrl: 'postgres://app@db.internal/jobs',
      schema: 'public',
      poolSize: 10,
      statementTimeoutMs: 30_000,
      connectTimeoutMs: 5_000,
      ssl: undefined,
      listen: true,
    });
    const fromUrl = postgresSettings('postgresql://app:s3cret@db:6432/jobs?sslmode=require&schema=omniq&application_name=api', {});
    expect(fromUrl).toMatchObject({ schema: 'omniq', shownUrl: 'postgresql://app:***@db:6432/jobs?sslmode=require&application_name=api' });
    expect(new URL(fromUrl.url).searchParams.has('schema')).toBe(false);
    expect(new URL(fromUrl.url).searchParams.get('sslmode')).toBe('require');
    // The same schema twice is no conflict; values may come as strings, as environment variables give them.
    expect(
      postgresSettings('postgres://db/jobs?schema=omniq', { schema: 'omniq', poolSize: '4', statementTimeoutMs: 0, listen: 'false', ssl: { rejectUnauthorized: false } }),
    ).toMatchObject({ schema: 'omniq', poolSize: 4, statementTimeoutMs: 0, listen: false, ssl: { rejectUnauthorized: false } });
    expect(postgresSettings('postgres://db/jobs', { schema: 'Jobs "Q"' }).schema).toBe('Jobs "Q"');
  });

  it('rejects a URL or an option it cannot use, naming it, with the password hidden', () => {
    const reject = (url: string, options: Record<string, unknown> = {}) => () => postgresSettings(url, options);
    expect(reject('postgres//app:s3cret@db')).toThrow(PostgresSettingsError);
    expect(reject('postgres//app:s3cret@db')).toThrow(/is not a valid PostgreSQL URL/);
    expect(reject('mysql://app:s3cret@db/jobs')).toThrow('"mysql://app:***@db/jobs" is not a PostgreSQL URL');
    expect(reject('postgres://app:s3cret@db/jobs?schema=a', { schema: 'b' })).toThrow(
      'The schema is given twice, differently: "a" in the URL postgres://app:***@db/jobs?schema=a and "b" in storageOptions.schema',
    );
    expect(reject('postgres://db/jobs?schema=')).toThrow(/the schema parameter of postgres:\/\/db\/jobs\?schema=: expected a schema name of 1 to 63 bytes/);
    expect(reject('postgres://db/jobs', { schema: 'x'.repeat(64) })).toThrow(/storageOptions.schema: expected a schema name of 1 to 63 bytes/);
    expect(reject('postgres://db/jobs', { poolSize: 0 })).toThrow('storageOptions.poolSize: expected a positive integer, got 0');
    expect(reject('postgres://db/jobs', { poolSize: 'many' })).toThrow('storageOptions.poolSize: expected a positive integer, got "many"');
    expect(reject('postgres://db/jobs', { statementTimeoutMs: -1 })).toThrow('storageOptions.statementTimeoutMs: expected a non-negative integer, got -1');
    expect(reject('postgres://db/jobs', { connectTimeoutMs: 1.5 })).toThrow('storageOptions.connectTimeoutMs: expected a positive integer, got 1.5');
    expect(reject('postgres://db/jobs', { listen: 'yes' })).toThrow('storageOptions.listen: expected true or false, got "yes"');
    expect(reject('postgres://db/jobs', { ssl: 5 })).toThrow('storageOptions.ssl: expected true, false or an object of TLS options, got 5');
  });
});
