import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { OmniQError } from '../../errors/omniq.errors.js';
import { PostgresStorageError, isConnectionFailure, postgresCode, type PostgresCall } from './postgres-storage.error.js';

/** Runs statements: on the pool (each its own transaction) or on one transaction's connection. */
export interface PgQueryable {
  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

/** The `pg` module's type registry, as `pg.types`. */
export interface PgTypes {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;
/** Serialization failures and deadlocks: the transaction was rolled back and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;
/** The server ended the session before it ran the statement (administrator command, shutdown): nothing was done. */
const SESSION_ENDED = new Set(['57P01', '57P02', '57P03']);
/** Distinct statement texts named at most (list filters and event queries vary theirs); more are sent unnamed. */
const MAX_NAMES = 500;

/**
 * OmniQ's statements on a `pg` pool, `bigint` and `numeric` columns read as numbers (times in
 * epoch ms, sequence numbers and sums all stay far below 2^53), and driver errors become
 * PostgresStorageErrors naming the call.
 *
 * Statements are sent unnamed unless `namedStatements` (storageOptions.listen: the engine has
 * session connections anyway): then each is prepared once per connection under a name taken
 * from its text, which saves its parse and, once PostgreSQL settles on a generic plan, its
 * planning on every later call. Unnamed, no session state is left on a connection, so a pooler
 * in transaction mode can hand each transaction another server session.
 */
export class PostgresDb implements PgQueryable {
  private readonly types: PgTypes;
  private readonly names = new Map<string, string>();

  constructor(
    private readonly pool: Pool,
    pgTypes: PgTypes,
    /** The server, as messages name it (password hidden). */
    readonly shownUrl: string,
    private readonly namedStatements = false,
  ) {
    const parseNumber = (value: string): number => Number(value);
    this.types = {
      getTypeParser: (oid, format) => (oid === INT8_OID || oid === NUMERIC_OID ? parseNumber : pgTypes.getTypeParser(oid, format)),
    };
  }

  /**
   * One statement in a transaction of its own. A pooled session the server ended meanwhile (a
   * restart, pg_terminate_backend) answers it with 57P01 without running it: it is sent once more,
   * on another connection.
   */
  async query<R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[], call: PostgresCall = { operation: 'query' }): Promise<R[]> {
    try {
      return await this.run<R>(this.pool, sql, params);
    } catch (error) {
      if (!SESSION_ENDED.has(postgresCode(error) ?? '')) throw this.failure(call, error);
    }
    return this.run<R>(this.pool, sql, params).catch((error: unknown) => {
      throw this.failure(call, error);
    });
  }

  /**
   * One statement in a transaction of its own, run again (up to 5 times) when it was rolled back
   * by a serialization failure or deadlock, or once when its pooled session had been ended by the
   * server: it had no effect then, so the statement may change rows a concurrent transaction
   * changes too.
   */
  async statement<R extends object = Record<string, unknown>>(sql: string, params: readonly unknown[], call: PostgresCall): Promise<R[]> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.run<R>(this.pool, sql, params);
      } catch (error) {
        const code = postgresCode(error) ?? '';
        if (attempt >= MAX_ATTEMPTS || !(RETRYABLE.has(code) || (SESSION_ENDED.has(code) && attempt === 1))) throw this.failure(call, error);
      }
      await sleep(Math.random() * 10 * attempt);
    }
  }

  /**
   * Runs `work` in one READ COMMITTED transaction on one connection and commits. A serialization
   * failure or deadlock runs it again (up to 5 times), as does a connection found dead at BEGIN;
   * `work` must therefore have no effect outside the transaction.
   */
  async transaction<R>(call: PostgresCall, work: (tx: PgQueryable) => Promise<R>): Promise<R> {
    for (let attempt = 1; ; attempt += 1) {
      let client: PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw this.failure(call, error);
      }
      let stage: 'begin' | 'work' | 'commit' = 'begin';
      let broken: unknown;
      // A session cut between two statements emits 'error' on the checked-out client; without a
      // listener that is an uncaught exception. The next statement then fails and tells the call.
      const onError = (error: Error): void => {
        broken ??= error;
      };
      client.on('error', onError);
      try {
        await this.run(client, 'BEGIN');
        stage = 'work';
        const tx: PgQueryable = { query: (sql, params) => this.run(client, sql, params) };
        const result = await work(tx);
        stage = 'commit';
        await this.run(client, 'COMMIT');
        return result;
      } catch (error) {
        if (isConnectionFailure(error)) broken = error;
        else if (stage !== 'commit') await this.run(client, 'ROLLBACK').catch((rollback: unknown) => (broken = rollback));
        const again = attempt < MAX_ATTEMPTS && (RETRYABLE.has(postgresCode(error) ?? '') || (stage === 'begin' && broken !== undefined));
        if (!again) throw error instanceof OmniQError ? error : this.failure(call, error, stage === 'commit' && broken !== undefined);
      } finally {
        client.removeListener('error', onError);
        client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true);
      }
      await sleep(Math.random() * 10 * attempt);
    }
  }

  /** A driver error as a PostgresStorageError naming the call (OmniQ's own errors pass through). */
  failure(call: PostgresCall, error: unknown, inCommit = false): Error {
    if (error instanceof OmniQError) return error;
    return new PostgresStorageError(this.shownUrl, call, postgresCode(error), error, inCommit);
  }

  private async run<R>(on: Pool | PoolClient, sql: string, params?: readonly unknown[]): Promise<R[]> {
    const config: QueryConfig = { text: sql, values: params as unknown[] | undefined, types: this.types };
    if (this.namedStatements && params !== undefined) {
      const name = this.nameOf(sql);
      if (name !== undefined) config.name = name;
    }
    return (await on.query(config)).rows as R[];
  }

  /** A name only this text has, whichever engines (schemas, projects) share the pool. */
  private nameOf(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_NAMES) {
      name = `omniq_${createHash('sha1').update(sql).digest('base64url')}`;
      this.names.set(sql, name);
    }
    return name;
  }
}
