/**
 * The part of a better-sqlite3 `Database` the stores use directly. TypeORM exposes the connection
 * as `any` (`dataSource.driver.databaseConnection`) and better-sqlite3 ships no types, so this
 * names just what OmniQ relies on.
 */
export interface SqliteStatement<Row = unknown> {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
  /** Rows as arrays of column values instead of keyed objects (only for statements that return rows). */
  raw(toggle: true): SqliteStatement<unknown[]>;
}

export interface SqliteTransaction<Args extends unknown[], Result> {
  /** Runs in `BEGIN DEFERRED`, or in a savepoint when a transaction is already open. */
  (...args: Args): Result;
  /** Runs in `BEGIN IMMEDIATE`: the write lock is taken before the first read. */
  immediate(...args: Args): Result;
}

export interface SqliteDatabase {
  /** The file the connection opened, as given to it (`:memory:` for a database in this process). */
  readonly name: string;
  /** True for a database in this process's memory, which no other connection can open. */
  readonly memory: boolean;
  readonly open: boolean;
  readonly inTransaction: boolean;
  prepare<Row = unknown>(sql: string): SqliteStatement<Row>;
  transaction<Args extends unknown[], Result>(fn: (...args: Args) => Result): SqliteTransaction<Args, Result>;
  pragma(source: string, options?: { simple: boolean }): unknown;
}
