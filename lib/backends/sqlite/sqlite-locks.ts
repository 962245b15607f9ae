import { setTimeout as sleep } from 'node:timers/promises';
import { timerDelay } from '../../utils/timer-delay.js';
import type { SqliteDatabase } from './sqlite-database.types.js';
import { SqliteStorageError, sqliteCode, type SqliteCall } from './sqlite-storage.error.js';

/**
 * How long SQLite itself waits for another connection's lock before a statement fails with
 * SQLITE_BUSY: not at all. Its busy wait sleeps on the thread, freezing the whole process (its
 * heartbeats too) while another process writes; SqliteLocks waits instead, between timers.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 0;

/** How long a store call waits in all for another connection's lock before it fails naming the database. */
export const LOCK_WAIT_MS = 5_000;

/**
 * The longest pause between two tries at a lock. Short, so that a waiter tries within the gap a
 * chunked long write leaves between its chunks (see CHUNK_GAP_MS); a failed try costs microseconds.
 */
export const LOCK_RETRY_MAX_MS = 2;

/** Doubling pauses up to LOCK_RETRY_MAX_MS, jittered so that waiters in several processes do not try in step. */
const retryDelay = (tries: number): number => timerDelay(Math.min(LOCK_RETRY_MAX_MS, 2 ** tries) * (0.5 + Math.random()));

const isBusy = (error: unknown): boolean => !(error instanceof SqliteStorageError) && (sqliteCode(error)?.startsWith('SQLITE_BUSY') ?? false);

/**
 * Runs one connection's statements and transactions so that a lock held by another connection
 * never blocks the event loop: a try that finds the database locked (SQLITE_BUSY, at once, see
 * SQLITE_BUSY_TIMEOUT_MS) is tried again after a short timer, until LOCK_WAIT_MS have passed. A
 * free lock costs nothing extra: the first try runs synchronously and its result is returned as
 * is, not as a promise. SQLite's other errors (a full disk, a read-only file) are thrown as a
 * SqliteStorageError naming the database and the call.
 *
 * A try must fail with SQLITE_BUSY only before it changed anything (a `BEGIN IMMEDIATE` that did
 * not get the lock, a single statement), so trying again never writes anything twice.
 */
export class SqliteLocks {
  constructor(
    /** The database file, as error messages name it. */
    readonly path: string,
    private readonly waitMs = LOCK_WAIT_MS,
  ) {}

  run<R>(call: SqliteCall, attempt: () => R): R | Promise<R> {
    try {
      return attempt();
    } catch (error) {
      if (!isBusy(error)) throw this.failure(call, error);
      return this.retry(call, attempt, error);
    }
  }

  /**
   * `fn` as a `BEGIN IMMEDIATE` transaction to hand to `run`: a failure after BEGIN (fn ran and
   * rolled back) is thrown as a SqliteStorageError, so it is never tried again.
   */
  transaction<A extends unknown[], R>(db: SqliteDatabase, call: SqliteCall, fn: (...args: A) => R): (...args: A) => R {
    let began = false;
    const immediate = db.transaction((...args: A) => {
      began = true;
      return fn(...args);
    }).immediate;
    return (...args) => {
      began = false;
      try {
        return immediate(...args);
      } catch (error) {
        throw began ? this.failure(call, error) : error;
      }
    };
  }

  /** What to throw for `error`: a SQLite error as a SqliteStorageError naming the database and the call; anything else as it is. */
  failure(call: SqliteCall, error: unknown): unknown {
    const code = sqliteCode(error);
    if (code === undefined || error instanceof SqliteStorageError) return error;
    return new SqliteStorageError(this.path, call, code, (error as Error).message, error);
  }

  private async retry<R>(call: SqliteCall, attempt: () => R, first: unknown): Promise<R> {
    const deadline = Date.now() + this.waitMs;
    let last = first;
    for (let tries = 0; Date.now() < deadline; tries++) {
      await sleep(retryDelay(tries));
      try {
        return attempt();
      } catch (error) {
        if (!isBusy(error)) throw this.failure(call, error);
        last = error;
      }
    }
    throw new SqliteStorageError(this.path, call, sqliteCode(last)!, `still locked by another connection after ${this.waitMs} ms`, last);
  }
}
