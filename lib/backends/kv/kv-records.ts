import { OmniQError } from '../../errors/omniq.errors.js';

/*
 * The primitive every key-value engine stands on: records under string keys, each change a
 * compare-and-swap on the version read. The file backend keeps one JSON file per record (see
 * VersionedFiles), a NATS engine one key of a KV bucket per record.
 */

/**
 * How long a write may stay in flight before others presume its writer died mid-write. A write
 * that has not landed by half this age after it began gives up instead of landing, so a write
 * others skipped past never lands late. The engine also uses it as the age past which a link,
 * key or marker without its record was left by a writer that died.
 */
export const CLAIM_STALE_MS = 2_000;

/** One version of a record. */
export interface Versioned<T> {
  /** Grows with every write of the record (by 1 or more): orders its versions, counts nothing. */
  readonly gen: number;
  /** Unique to this version: what the compare-and-swap of the next write compares. */
  readonly rev: string;
  readonly body: T;
}

export const DELETE = Symbol('delete');

/** What a write does to the current body: a new body, DELETE, or undefined to leave it as is. */
export type Change<T> = (current: T) => T | typeof DELETE | undefined;

export type MutateOutcome<T> =
  | { kind: 'written'; before: Versioned<T>; after: Versioned<T> }
  | { kind: 'deleted'; before: Versioned<T> }
  | { kind: 'unchanged'; current: Versioned<T> }
  | { kind: 'missing' }
  | { kind: 'busy' };

export interface MutateOptions<T> {
  /**
   * 'skip': give up (`busy`) when another writer got there first or holds the record; 'wait':
   * re-read and re-apply until the change lands or is refused.
   */
  onBusy: 'skip' | 'wait';
  /** A version believed current (from a cache): saves the first read; a stale one fails the swap like any. */
  known?: Versioned<T>;
}

/** How a kind of record is stored: its format name (kept with each record) and how a stored body is read back. */
export interface RecordCodec<T> {
  readonly format: string;
  /** Turns a parsed JSON body into the record (Dates revived); throws on a body that is no such record. */
  revive(body: Record<string, unknown>): T;
}

/**
 * Records of one kind, keyed by strings of `[A-Za-z0-9_-]` (at most 110 characters), changed by
 * compare-and-swap so that any number of processes may write them without locks.
 *
 * Atomicity is per record: a write lands whole or not at all, and lands only on the version its
 * change was computed from. There is no atomicity across records. Reads return the newest landed
 * version (a version landed before the read began is never missed).
 *
 * Errors: an unreadable record throws CorruptRecordError (see there); a failure of the storage
 * itself (disk, connection) rejects with the storage's error.
 */
export interface KvRecords<T> {
  /** The current version, or undefined when there is no such record. */
  read(key: string): Promise<Versioned<T> | undefined>;
  /** Creates the record; undefined when a record with this key exists (another create won). */
  create(key: string, body: T): Promise<Versioned<T> | undefined>;
  /**
   * Applies `change` to the current version and writes the result by compare-and-swap,
   * re-reading and re-applying on conflict (onBusy 'wait'). `change` may run several times; only
   * the result that lands counts. `missing` when there is no record; DELETE removes it.
   */
  mutate(key: string, change: Change<T>, options: MutateOptions<T>): Promise<MutateOutcome<T>>;
  /**
   * Every record, each at a version read during the call. An unreadable one is handed to
   * `onCorrupt` and left out, so one damaged record does not hide the others.
   */
  list(onCorrupt: (error: CorruptRecordError) => void): Promise<Versioned<T>[]>;
}

/**
 * A stored record that is not what the engine writes (edited by hand, damaged by the storage).
 * `foreign`: a record of another format (a newer OmniQ may share the storage), to leave alone;
 * otherwise it is no record at all. `location` names it (a path, a bucket and key) and keys the
 * once-per-process reports of it; `medium` says what it is to a reader of the logs ('file').
 */
export class CorruptRecordError extends OmniQError {
  override name = 'CorruptRecordError';
  constructor(
    readonly location: string,
    readonly medium: string,
    message: string,
    readonly foreign = false,
  ) {
    super(message);
  }
}
