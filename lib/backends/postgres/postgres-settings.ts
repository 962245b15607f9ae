import { OmniQError } from '../../errors/omniq.errors.js';

/** The `storageOptions` keys the PostgreSQL backend reads. */
export const POSTGRES_STORAGE_OPTIONS = ['schema', 'poolSize', 'statementTimeoutMs', 'connectTimeoutMs', 'ssl', 'listen'] as const;

/** How OmniQ connects to one PostgreSQL database, from the URL and `storageOptions`. */
export interface PostgresSettings {
  /** The URL as the driver reads it (OmniQ's own query parameters removed). */
  readonly url: string;
  /** The URL with its password hidden, for messages. */
  readonly shownUrl: string;
  /** Where OmniQ's tables live (created when missing). Default `public`. */
  readonly schema: string;
  /** Connections in OmniQ's pool (default 10). The LISTEN connection comes on top. */
  readonly poolSize: number;
  /** Server-side limit on one statement; 0 turns it off (default 30,000 ms). */
  readonly statementTimeoutMs: number;
  /** How long getting a connection may take before a call fails (default 5,000 ms): an outage rejects calls instead of hanging them. */
  readonly connectTimeoutMs: number;
  /** Passed to the `pg` driver as its `ssl` option (true, or an object of TLS options). */
  readonly ssl: boolean | Readonly<Record<string, unknown>> | undefined;
  /**
   * One LISTEN connection per engine for wake-ups, results and cancel requests (default true).
   * False: no session state at all (behind PgBouncer in transaction mode); instances poll.
   */
  readonly listen: boolean;
}

export class PostgresSettingsError extends OmniQError {
  override name = 'PostgresSettingsError';
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function hidePassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@');
}

function positiveInteger(key: string, value: unknown, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number === 'number' && Number.isInteger(number) && (number > 0 || (allowZero && number === 0))) return number;
  throw new PostgresSettingsError(
    `storageOptions.${key}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`,
  );
}

function flag(key: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new PostgresSettingsError(`storageOptions.${key}: expected true or false, got ${JSON.stringify(value)}`);
}

function sslOption(value: unknown): PostgresSettings['ssl'] {
  if (value === undefined || typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  throw new PostgresSettingsError(`storageOptions.ssl: expected true, false or an object of TLS options, got ${JSON.stringify(value)}`);
}

function schemaName(value: unknown, source: string): string {
  if (typeof value === 'string' && value.length > 0 && Buffer.byteLength(value) <= 63) return value;
  throw new PostgresSettingsError(`${source}: expected a schema name of 1 to 63 bytes, got ${JSON.stringify(value)}`);
}

/**
 * Reads a `postgres://` / `postgresql://` URL and the backend's `storageOptions`. The URL may
 * name the schema itself (`?schema=jobs`); the driver reads every other query parameter
 * (`sslmode`, `application_name`, …).
 */
export function postgresSettings(url: string, options: Readonly<Record<string, unknown>>): PostgresSettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PostgresSettingsError(`"${hidePassword(url)}" is not a valid PostgreSQL URL; expected postgres://user:password@host:5432/database`);
  }
  if (!/^postgres(ql)?:$/i.test(parsed.protocol)) {
    throw new PostgresSettingsError(`"${hidePassword(url)}" is not a PostgreSQL URL (postgres:// or postgresql://)`);
  }
  const fromUrl = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (fromUrl !== null && options.schema !== undefined && options.schema !== fromUrl) {
    throw new PostgresSettingsError(
      `The schema is given twice, differently: "${fromUrl}" in the URL ${hidePassword(url)} and ${JSON.stringify(options.schema)} in storageOptions.schema`,
    );
  }
  const driverUrl = fromUrl === null ? url : parsed.toString();
  return {
    url: driverUrl,
    shownUrl: hidePassword(driverUrl),
    schema: fromUrl !== null ? schemaName(fromUrl, `the schema parameter of ${hidePassword(url)}`) : schemaName(options.schema ?? 'public', 'storageOptions.schema'),
    poolSize: positiveInteger('poolSize', options.poolSize, 10),
    statementTimeoutMs: positiveInteger('statementTimeoutMs', options.statementTimeoutMs, 30_000, true),
    connectTimeoutMs: positiveInteger('connectTimeoutMs', options.connectTimeoutMs, 5_000),
    ssl: sslOption(options.ssl),
    listen: flag('listen', options.listen, true),
  };
}
