import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server every PostgreSQL figure of the bench is measured on. */
export const POSTGRES_URL = process.env.OMNIQ_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one SQL statement on a short-lived connection of its own. */
export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Runs `fn` with a schema name of its own (`<prefix>_<random>`), so no run sees another's rows;
 * drops the schema and everything in it afterwards, whether `fn` succeeded or not.
 */
export async function withSchema<T>(prefix: string, fn: (schema: string) => Promise<T>): Promise<T> {
  const schema = `${prefix}_${randomBytes(4).toString('hex')}`;
  try {
    return await fn(schema);
  } finally {
    await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}
