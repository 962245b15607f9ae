import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The server the PostgreSQL specs run on: this machine's, unless OMNIQ_TEST_POSTGRES_URL names another. */
export const POSTGRES_TEST_URL = process.env.OMNIQ_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Connects and runs one query, in a child process so that the answer is known while jest collects the specs. */
const PROBE = `
const { default: pg } = await import('pg');
const client = new pg.Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 });
try {
  await client.connect();
  await client.query('SELECT 1');
} catch (error) {
  process.stderr.write(String(error?.message ?? error));
  process.exitCode = 1;
} finally {
  await client.end().catch(() => {});
}`;

let probed: { up: true } | { up: false; reason: string } | undefined;
let warned = false;

function probe(): { up: true } | { up: false; reason: string } {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, POSTGRES_TEST_URL], { cwd: REPO, encoding: 'utf8', timeout: 15_000 });
  if (run.status === 0) return { up: true };
  return { up: false, reason: run.error?.message ?? (run.stderr.trim() || `the probe exited with ${run.status ?? run.signal}`) };
}

/**
 * Whether the PostgreSQL specs of this file run, checked once per spec file. Under CI=true a
 * server that does not answer fails the run (this throws, failing the spec file that declares
 * them); elsewhere they are skipped, with a warning no one can miss.
 */
export function postgresAvailable(): boolean {
  probed ??= probe();
  if (probed.up) return true;
  const problem = `PostgreSQL does not answer at ${shown(POSTGRES_TEST_URL)} (${probed.reason}).`;
  if (process.env.CI === 'true') {
    throw new Error(`${problem} CI=true: the PostgreSQL specs must run. Start the server or set OMNIQ_TEST_POSTGRES_URL.`);
  }
  if (warned) return false;
  warned = true;
  console.warn(
    `\n${'!'.repeat(100)}\n${problem}\nThe PostgreSQL specs of this file are SKIPPED. Start the server or set OMNIQ_TEST_POSTGRES_URL.\n${'!'.repeat(100)}\n`,
  );
  return false;
}

/** `entries` where the PostgreSQL specs run (see postgresAvailable), none elsewhere: for the backend lists of describe.each. */
export function onPostgres<T>(...entries: T[]): T[] {
  return postgresAvailable() ? entries : [];
}

/** A describe block that needs the server: skipped (loudly) without it, or failing under CI. */
export function describeOnPostgres(title: string, specs: () => void): void {
  if (postgresAvailable()) describe(title, specs);
  else describe.skip(title, specs);
}

export const quoted = (name: string): string => `"${name.replaceAll('"', '""')}"`;

const shown = (url: string): string => url.replace(/^([a-z]+:\/\/[^:/@]*):[^@]*@/i, '$1:***@');

/** The schemas this spec file made; every one is dropped after the file, whatever its specs did. */
const schemas = new Set<string>();

/**
 * A new schema name (`omniq_t_<random><suffix>`), dropped after the spec file; the engine that
 * opens it first creates it.
 */
export function freshSchema(suffix = ''): string {
  const schema = `omniq_t_${randomBytes(6).toString('hex')}${suffix}`;
  schemas.add(schema);
  return schema;
}

/** The test server's URL naming `schema` (`?schema=`), as an app would configure it. */
export function postgresUrl(schema: string, base = POSTGRES_TEST_URL): string {
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** Runs `work` on a connection of the test's own, past OmniQ: to look at or damage what the stores wrote. */
export async function withPostgres<T>(work: (client: pg.Client) => Promise<T>, url = POSTGRES_TEST_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'omniq-test' });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Drops schemas this file made. A lock timeout, so that a session a failed spec left inside a
 * transaction fails the cleanup with its cause instead of hanging it.
 */
export async function dropSchemas(names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await withPostgres(async (client) => {
    await client.query(`SET lock_timeout = '10s'`);
    for (const schema of names) {
      await client.query(`DROP SCHEMA IF EXISTS ${quoted(schema)} CASCADE`);
      schemas.delete(schema);
    }
  });
}

afterAll(async () => {
  await dropSchemas([...schemas]);
});
