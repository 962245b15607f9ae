import type { LoggerService } from '@nestjs/common';
import type { KV } from '@nats-io/kv';
import { newUuid } from '../../utils/uuid.js';
import { JOURNAL_STALE_MS, type BatchJournals, type Journal, type JournalEntry } from '../kv/kv-journals.js';
import { NEW_TASK_DATES, reviveDates } from '../kv/kv-task-codec.js';
import type { NatsLink } from './nats-connection.js';
import { readRange } from './nats-stream-reader.js';

const JOURNAL_FORMAT = 'omniq.batch/1';
/** Room left in a message for its subject and headers. */
const MESSAGE_OVERHEAD = 8 * 1024;

/** A journal as this process knows it: the revision of its head entry, and when it was last renewed. */
interface NatsJournal extends Journal {
  revision: number;
  /** Parts its entries were split into (0: they are in the head). */
  parts: number;
  touchedAt: number;
}

interface Head {
  format: string;
  id: string;
  aborted: boolean;
  parts: number;
  entries?: JournalEntry[];
}

/**
 * Batch journals in the project's records bucket (see BatchJournals): the head `journals.<id>`,
 * whose write is the commit point, holds the batch's entries when they fit in one message
 * (the server's max_payload); a bigger batch is written first in parts
 * `journal-parts.<id>.<n>`, and the head, naming how many, last. A crash before the head landed
 * leaves parts that no head names (no batch was committed). A journal's age is its head's: the
 * server's time of its last write, renewed by its writer every quarter of JOURNAL_STALE_MS.
 */
export class NatsBatchJournals implements BatchJournals {
  private readonly bucket: string;

  constructor(
    private readonly link: NatsLink,
    private readonly kv: KV,
    private readonly logger: LoggerService,
  ) {
    this.bucket = link.names.store('records');
  }

  async begin(entries: JournalEntry[]): Promise<NatsJournal> {
    const id = newUuid();
    const what = `the journal of a batch of ${entries.length} tasks, from task ${entries[0]?.task.id}`;
    const body = Buffer.from(JSON.stringify(entries));
    const room = (this.link.nc.info?.max_payload ?? 1024 * 1024) - MESSAGE_OVERHEAD;
    const parts = body.length <= room ? 0 : Math.ceil(body.length / room);
    for (let part = 0; part < parts; part += 1) {
      await this.link.call(`write ${what} (part ${part + 1} of ${parts})`, () => this.kv.put(`journal-parts.${id}.${part}`, body.subarray(part * room, (part + 1) * room)));
    }
    const head: Head = { format: JOURNAL_FORMAT, id, aborted: false, parts, ...(parts === 0 ? { entries } : {}) };
    const revision = await this.link.call(`write ${what}`, () => this.kv.create(`journals.${id}`, JSON.stringify(head)));
    return { id, entries, aborted: false, revision, parts, touchedAt: Date.now() };
  }

  /** Renews the head (written again, unchanged) while its writer is at it, so no recoverer takes it over. */
  async keepFresh(journal: NatsJournal): Promise<void> {
    if (Date.now() - journal.touchedAt < JOURNAL_STALE_MS / 4) return;
    await this.writeHead(journal, 'renew');
  }

  async abort(journal: NatsJournal): Promise<void> {
    journal.aborted = true;
    await this.writeHead(journal, 'abort');
  }

  async end(journal: NatsJournal): Promise<void> {
    const stream = `KV_${this.bucket}`;
    await this.link.call(`end the journal ${journal.id}`, async () => {
      await this.link.jsm.streams.purge(stream, { filter: `$KV.${this.bucket}.journals.${journal.id}` });
      if (journal.parts > 0) await this.link.jsm.streams.purge(stream, { filter: `$KV.${this.bucket}.journal-parts.${journal.id}.*` });
    });
  }

  async abandoned(): Promise<NatsJournal[]> {
    const heads: { key: string; revision: number; time: number; text: string }[] = [];
    const prefix = `$KV.${this.bucket}.`;
    await readRange(this.link, `KV_${this.bucket}`, { filter: `${prefix}journals.*`, lastPerSubject: true }, 'read the batch journals', ({ subject, seq, time, message }) => {
      const operation = message.headers?.get('KV-Operation');
      if (operation !== 'DEL' && operation !== 'PURGE') heads.push({ key: subject.slice(prefix.length), revision: seq, time, text: message.string() });
      return true;
    });
    const journals: NatsJournal[] = [];
    for (const { key, revision, time, text } of heads) {
      if (Date.now() - time < JOURNAL_STALE_MS) continue;
      try {
        journals.push(await this.load(text, revision));
      } catch (error) {
        await this.setAside(key, revision, text, (error as Error).message);
      }
    }
    return journals;
  }

  private async writeHead(journal: NatsJournal, action: string): Promise<void> {
    const head: Head = { format: JOURNAL_FORMAT, id: journal.id, aborted: journal.aborted, parts: journal.parts, ...(journal.parts === 0 ? { entries: journal.entries } : {}) };
    journal.revision = await this.link.call(`${action} the journal ${journal.id}`, () => this.kv.update(`journals.${journal.id}`, JSON.stringify(head), journal.revision));
    journal.touchedAt = Date.now();
  }

  private async load(text: string, revision: number): Promise<NatsJournal> {
    const head = JSON.parse(text) as Partial<Head> | null;
    if (head?.format !== JOURNAL_FORMAT || typeof head.id !== 'string' || typeof head.parts !== 'number') throw new Error(`not a "${JOURNAL_FORMAT}" record`);
    let entries = head.entries;
    if (head.parts > 0) {
      const chunks: Buffer[] = [];
      for (let part = 0; part < head.parts; part += 1) {
        const entry = await this.link.call(`read the journal ${head.id}`, () => this.kv.get(`journal-parts.${head.id}.${part}`));
        if (entry?.operation !== 'PUT') throw new Error(`part ${part + 1} of ${head.parts} is missing`);
        chunks.push(Buffer.from(entry.value));
      }
      entries = JSON.parse(Buffer.concat(chunks).toString('utf8')) as JournalEntry[];
    }
    if (!Array.isArray(entries)) throw new Error('it holds no entries');
    for (const entry of entries) reviveDates(entry.task as unknown as Record<string, unknown>, NEW_TASK_DATES);
    return { id: head.id, entries, aborted: head.aborted === true, revision, parts: head.parts, touchedAt: Date.now() };
  }

  /** An unreadable head, copied to `damaged.<key>.<revision>` and removed, so recovery stops meeting it; logged once. */
  private async setAside(key: string, revision: number, text: string, why: string): Promise<void> {
    const aside = `damaged.${key}.${revision}`;
    await this.link.call(`set aside the journal ${key}`, () => this.kv.put(aside, text));
    const { purged } = await this.link.call(`set aside the journal ${key}`, () =>
      this.link.jsm.streams.purge(`KV_${this.bucket}`, { filter: `$KV.${this.bucket}.${key}`, seq: revision + 1 }),
    );
    if (purged > 0) this.logger.error(`The batch journal ${this.bucket}/${key} cannot be read (${why}); its batch may be incomplete. Moved it to ${this.bucket}/${aside}`);
  }
}
