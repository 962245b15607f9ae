import type { KV, KvEntry } from '@nats-io/kv';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import { CorruptRecordError, DELETE, type Change, type KvRecords, type MutateOptions, type MutateOutcome, type RecordCodec, type Versioned } from '../kv/kv-records.js';
import type { NatsLink } from './nats-connection.js';
import { isWrongRevision } from './nats-storage.error.js';
import { readRange } from './nats-stream-reader.js';
import { isPartsRef, type PartsRef, type ValueParts } from './nats-value-parts.js';

/** How a record's value is kept: its format (so a record of another kind is told apart) and its body, or where the body's parts are (see ValueParts). */
interface Envelope {
  format: string;
  body?: unknown;
  parts?: PartsRef;
}

/** A version as read or written here: with the parts its body is kept in, when it was too big for one message. */
export interface NatsVersion<T> extends Versioned<T> {
  readonly parts?: PartsRef;
}

/** A value whose parts were gone when read: the entry was replaced meanwhile, and is read again. */
export const REPLACED = Symbol('replaced');

/**
 * How a delete is made: `tombstone` (a KV delete with the revision expected: watchers of the
 * bucket see it) or `purge` (the key's subject purged up to the revision read: no tombstone left,
 * and a newer version, put meanwhile, is never removed: the purge then removes nothing, which
 * tells the delete lost).
 */
export type DeleteMode = 'tombstone' | 'purge';

/** A KV entry that holds a value (not a delete or purge marker). */
export const isValue = (entry: KvEntry | null): entry is KvEntry => entry !== null && entry.operation === 'PUT';

/**
 * Records of one kind as keys of a KV bucket (`<prefix><key>`), each value an envelope
 * `{format, body}` (KvRecords on NATS). A version's `gen` is the entry's revision (the bucket's
 * stream sequence: it grows with every write, so it orders one key's versions), its `rev` the
 * same as text; every write is one request, conditional on the revision read (KV update /
 * create, JetStream error 10071 when another write came first). A body too big for one message
 * goes in parts (ValueParts) written before the entry; the parts of a version replaced or deleted
 * here are removed after.
 */
export class NatsKvRecords<T> implements KvRecords<T> {
  readonly format: string;
  private readonly revive: (body: Record<string, unknown>) => T;

  constructor(
    private readonly link: NatsLink,
    private readonly kv: KV,
    /** The bucket's name (for messages and stream reads). */
    readonly bucket: string,
    /** Put before every key: records of several kinds share a bucket, each under its prefix. */
    private readonly prefix: string,
    codec: RecordCodec<T>,
    private readonly deletes: DeleteMode,
    /** Where bodies too big for one message go. */
    private readonly parts: ValueParts,
  ) {
    this.format = codec.format;
    this.revive = codec.revive;
  }

  /** Where a record is, for messages and once-per-process reports: `bucket/key`. */
  location(key: string): string {
    return `${this.bucket}/${this.prefix}${key}`;
  }

  /** The subject of a key's entries. */
  subject(key: string): string {
    return `$KV.${this.bucket}.${this.prefix}${key}`;
  }

  async read(key: string): Promise<NatsVersion<T> | undefined> {
    for (;;) {
      const entry = await this.link.call(`read ${this.location(key)}`, () => this.kv.get(this.prefix + key));
      if (!isValue(entry)) return undefined;
      const version = await this.decode(key, entry.revision, entry.string());
      if (version !== REPLACED) return version;
    }
  }

  /**
   * The version a stored value holds, its parts read when it has some; REPLACED when they are
   * gone. Throws CorruptRecordError for a value that is no such record.
   */
  async decode(key: string, revision: number, text: string): Promise<NatsVersion<T> | typeof REPLACED> {
    const location = this.location(key);
    const envelope = this.envelope(location, revision, text);
    if (envelope.parts === undefined) return this.version(location, revision, envelope.body);
    const bytes = await this.parts.read(envelope.parts, `read ${location}`);
    if (bytes === undefined) return REPLACED;
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(bytes).toString('utf8'));
    } catch (error) {
      throw new CorruptRecordError(location, 'record', `The record ${location} (revision ${revision}) holds parts that are no JSON: ${(error as Error).message}`);
    }
    return { ...this.version(location, revision, body), parts: envelope.parts };
  }

  private version(location: string, revision: number, body: unknown): Versioned<T> {
    if (typeof body !== 'object' || body === null) throw new CorruptRecordError(location, 'record', `The record ${location} (revision ${revision}) has no body`);
    try {
      return { gen: revision, rev: String(revision), body: this.revive(body as Record<string, unknown>) };
    } catch (error) {
      throw new CorruptRecordError(location, 'record', `The record ${location} (revision ${revision}) cannot be read: ${(error as Error).message}`);
    }
  }

  private envelope(location: string, revision: number, text: string): Envelope {
    let parsed: Partial<Envelope> | null;
    try {
      parsed = JSON.parse(text) as Partial<Envelope> | null;
    } catch (error) {
      throw new CorruptRecordError(location, 'record', `The record ${location} (revision ${revision}) holds no JSON: ${(error as Error).message}`);
    }
    const holdsBody = (typeof parsed?.body === 'object' && parsed.body !== null) || isPartsRef(parsed?.parts);
    if (parsed?.format !== this.format || !holdsBody) {
      const foreign = typeof parsed?.format === 'string' && parsed.format !== this.format;
      const what = foreign ? `a "${parsed!.format}" record, not "${this.format}"` : `not a "${this.format}" record`;
      throw new CorruptRecordError(location, 'record', `The record ${location} (revision ${revision}) is ${what}`, foreign);
    }
    return parsed as Envelope;
  }

  /** The value to store for `body`: inline, or (too big for one message) its parts written first. */
  private async serialize(key: string, body: T): Promise<{ value: string; parts?: PartsRef }> {
    const value = JSON.stringify({ format: this.format, body });
    // Up to 3 bytes per UTF-16 unit: most values are known to fit without counting.
    if (value.length * 3 <= this.parts.room || Buffer.byteLength(value) <= this.parts.room) return { value };
    const parts = await this.parts.write(this.owner(key), Buffer.from(JSON.stringify(body)), `write ${this.location(key)}`);
    return { value: JSON.stringify({ format: this.format, parts: { base: parts.base, count: parts.count } }), parts };
  }

  private owner(key: string): string {
    return `${this.bucket}.${this.prefix}${key}`;
  }

  /** Removes the parts of a version no entry points to any more (replaced, deleted, or never landed). */
  private async drop(key: string, parts: PartsRef | undefined): Promise<void> {
    if (parts) await this.parts.remove(parts, `write ${this.location(key)}`);
  }

  async create(key: string, body: T): Promise<NatsVersion<T> | undefined> {
    const { value, parts } = await this.serialize(key, body);
    try {
      const revision = await this.link.call(`create ${this.location(key)}`, () => this.createEntry(key, value));
      return { gen: revision, rev: String(revision), body, parts };
    } catch (error) {
      await this.drop(key, parts);
      if (isWrongRevision((error as { cause?: unknown }).cause)) return undefined;
      throw error;
    }
  }

  async mutate(key: string, change: Change<T>, options: MutateOptions<T>): Promise<MutateOutcome<T>> {
    let current: NatsVersion<T> | undefined = options.known;
    for (;;) {
      current ??= await this.read(key);
      if (current === undefined) return { kind: 'missing' };
      const next = change(current.body);
      if (next === undefined) return { kind: 'unchanged', current };
      if (next === DELETE) {
        if (await this.remove(key, current.gen)) {
          await this.drop(key, current.parts);
          return { kind: 'deleted', before: current };
        }
      } else {
        const after = await this.update(key, next, current.gen);
        if (after !== undefined) {
          await this.drop(key, current.parts);
          return { kind: 'written', before: current, after };
        }
      }
      if (options.onBusy === 'skip') return { kind: 'busy' };
      current = undefined;
    }
  }

  async list(onCorrupt: (error: CorruptRecordError) => void): Promise<Versioned<T>[]> {
    const stored: { key: string; seq: number; text: string }[] = [];
    const start = `$KV.${this.bucket}.`.length + this.prefix.length;
    await readRange(this.link, `KV_${this.bucket}`, { filter: `${this.subject('')}*`, lastPerSubject: true }, `list ${this.bucket}/${this.prefix}*`, ({ subject, seq, message }) => {
      const operation = message.headers?.get('KV-Operation');
      if (operation !== 'DEL' && operation !== 'PURGE') stored.push({ key: subject.slice(start), seq, text: message.string() });
      return true;
    });
    const versions = await mapLimit(stored, IO_CONCURRENCY, async ({ key, seq, text }) => {
      try {
        const version = await this.decode(key, seq, text);
        return version === REPLACED ? this.read(key) : version;
      } catch (error) {
        if (!(error instanceof CorruptRecordError)) throw error;
        onCorrupt(error);
        return undefined;
      }
    });
    return versions.filter((version): version is NatsVersion<T> => version !== undefined);
  }

  /** Reads many keys, IO_CONCURRENCY at a time (pipelined on the one connection); a corrupt one goes to `onCorrupt`. */
  async readMany(keys: readonly string[], onCorrupt: (error: CorruptRecordError) => void): Promise<(Versioned<T> | undefined)[]> {
    return mapLimit(keys, IO_CONCURRENCY, async (key) => {
      try {
        return await this.read(key);
      } catch (error) {
        if (!(error instanceof CorruptRecordError)) throw error;
        onCorrupt(error);
        return undefined;
      }
    });
  }

  /** Writes `body` if the key is still at `revision`: the new version, or undefined when another write came first. */
  private async update(key: string, body: T, revision: number): Promise<NatsVersion<T> | undefined> {
    const { value, parts } = await this.serialize(key, body);
    try {
      const landed = await this.link.call(`write ${this.location(key)}`, async () => (await this.link.publish(this.subject(key), value, { expectLastSubjectSeq: revision })).seq);
      return { gen: landed, rev: String(landed), body, parts };
    } catch (error) {
      await this.drop(key, parts);
      if (isWrongRevision((error as { cause?: unknown }).cause)) return undefined;
      throw error;
    }
  }

  /**
   * Stores the first version of a key: a publish expecting no message on its subject, else (the
   * key has one: a live value, or the tombstone of a deleted one) the driver's create, which
   * replaces a tombstone and fails on a value.
   */
  private async createEntry(key: string, value: string): Promise<number> {
    try {
      return (await this.link.publish(this.subject(key), value, { expectLastSubjectSeq: 0 })).seq;
    } catch (error) {
      if (!isWrongRevision(error)) throw error;
      return this.kv.create(this.prefix + key, value);
    }
  }

  /** Deletes the key if it is still at `revision` (see DeleteMode); false when another write came first. */
  private async remove(key: string, revision: number): Promise<boolean> {
    const operation = `delete ${this.location(key)}`;
    if (this.deletes === 'purge') {
      const { purged } = await this.link.call(operation, () => this.link.jsm.streams.purge(`KV_${this.bucket}`, { filter: this.subject(key), seq: revision + 1 }));
      return purged > 0;
    }
    try {
      await this.link.call(operation, () => this.kv.delete(this.prefix + key, { previousSeq: revision }));
      return true;
    } catch (error) {
      if (isWrongRevision((error as { cause?: unknown }).cause)) return false;
      throw error;
    }
  }
}
