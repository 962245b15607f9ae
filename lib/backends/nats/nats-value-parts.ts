import type { KV } from '@nats-io/kv';
import { newUuid } from '../../utils/uuid.js';
import type { NatsLink } from './nats-connection.js';

/** Room left in a message for its subject and headers. */
const MESSAGE_OVERHEAD = 8 * 1024;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/**
 * Parts read or written at once. All 20 parts of a 20 MB value in flight together, next to the
 * same value's other readers, overran the server's 64 MB buffer of unread bytes for the
 * connection, and the server cut it as a slow consumer.
 */
const PARTS_IN_FLIGHT = 4;

/** `fn` of 0..count-1, at most PARTS_IN_FLIGHT at a time, in order. */
async function inWindows<T>(count: number, fn: (n: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let start = 0; start < count; start += PARTS_IN_FLIGHT) {
    const window = Array.from({ length: Math.min(PARTS_IN_FLIGHT, count - start) }, (_, i) => fn(start + i));
    out.push(...(await Promise.all(window)));
  }
  return out;
}

/** Where a value too big for one message is: `<base>.<n>` for n below `count`, in the parts bucket. */
export interface PartsRef {
  readonly base: string;
  readonly count: number;
  /** The revision of the first part written (not stored): parts of the owner's older values come before it. */
  readonly firstSeq?: number;
}

/**
 * Values too big for one NATS message (the server's max_payload, 1 MB by default): a 1 MB task
 * payload, a result's value. They are stored in parts under keys of their own, each write's
 * parts under a fresh name, written before the entry that points to them: that entry's write is
 * still the one atomic step (a compare-and-swap where it is one), and a reader of an older entry
 * finds its parts until the writer that replaced it removes them.
 */
export class ValueParts {
  constructor(
    private readonly link: NatsLink,
    /** The bucket the parts are kept in. */
    private readonly kv: KV,
    /** The bucket's name. */
    private readonly bucket: string,
  ) {}

  /** The most bytes a value may have to go in one message. */
  get room(): number {
    return (this.link.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD) - MESSAGE_OVERHEAD;
  }

  /** Stores `bytes` in parts under `parts.<owner>.<fresh id>.<n>`. */
  async write(owner: string, bytes: Uint8Array, operation: string): Promise<PartsRef> {
    const room = this.room;
    const base = `parts.${owner}.${newUuid()}`;
    const count = Math.ceil(bytes.length / room);
    const seqs = await this.link.call(operation, () => inWindows(count, (n) => this.kv.put(`${base}.${n}`, bytes.subarray(n * room, (n + 1) * room))));
    return { base, count, firstSeq: Math.min(...seqs) };
  }

  /** The value, or undefined when a part is gone (the entry pointing to it was replaced meanwhile). */
  async read(ref: PartsRef, operation: string): Promise<Uint8Array | undefined> {
    const entries = await this.link.call(operation, () => inWindows(ref.count, (n) => this.kv.get(`${ref.base}.${n}`)));
    if (entries.some((entry) => entry?.operation !== 'PUT')) return undefined;
    return Buffer.concat(entries.map((entry) => entry!.value));
  }

  /** Removes the parts of `ref`. */
  async remove(ref: PartsRef, operation: string): Promise<void> {
    await this.link.call(operation, () => this.link.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${ref.base}.*` }));
  }

  /** Removes the parts of `owner`'s values written before `ref` (values it replaced). */
  async removeOlder(owner: string, ref: PartsRef, operation: string): Promise<void> {
    // The server reads a purge up to sequence 1 as a purge of everything: nothing can come before 1 anyway.
    if (ref.firstSeq === undefined || ref.firstSeq <= 1) return;
    await this.link.call(operation, () => this.link.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.parts.${owner}.>`, seq: ref.firstSeq }));
  }

  /** Removes every part of `owner`'s values. */
  async removeAll(owner: string, operation: string): Promise<void> {
    await this.link.call(operation, () => this.link.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.parts.${owner}.>` }));
  }
}

/** Whether a value read is a PartsRef. */
export function isPartsRef(value: unknown): value is PartsRef {
  return typeof value === 'object' && value !== null && typeof (value as PartsRef).base === 'string' && Number.isInteger((value as PartsRef).count);
}
