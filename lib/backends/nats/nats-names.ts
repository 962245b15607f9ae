import type { NotifyChannel } from '../../storage/notifier.js';

/** What a token can hold as it is: valid in a subject, a KV key and a stream name. */
const RAW_TOKEN = /^[A-Za-z0-9_-]+$/;
/** The token of an absent id (a task-less event); also what an empty id would encode to, and no id is empty. */
export const NO_TOKEN = '=';

/**
 * One subject token (or KV key token) for an id: the id itself when it is only letters, digits,
 * `_` and `-` (every UUID), else `=` and its UTF-8 in unpadded base64url. A raw token never
 * starts with `=`, so the encoding is one-to-one.
 */
export function idToken(id: string | undefined): string {
  if (id === undefined || id === '') return NO_TOKEN;
  if (RAW_TOKEN.test(id)) return id;
  return `=${Buffer.from(id, 'utf8').toString('base64url')}`;
}

/** The id of a token `idToken` made; undefined for NO_TOKEN. */
export function tokenId(token: string): string | undefined {
  if (token === NO_TOKEN) return undefined;
  if (!token.startsWith('=')) return token;
  return Buffer.from(token.slice(1), 'base64url').toString('utf8');
}

/**
 * The names of one project's streams, buckets and subjects on a NATS server. Stream and bucket
 * names are `<prefix>_<projectName>_<role>`: the prefix holds no `_`, so two projects or prefixes
 * never share a name. Subjects start with S = `<prefix>.<projectName>.`.
 */
export class NatsNames {
  /** The subject prefix, with its trailing dot. */
  readonly S: string;

  constructor(
    readonly prefix: string,
    readonly projectName: string,
  ) {
    this.S = `${prefix}.${projectName}.`;
  }

  /** A stream or KV bucket of the project (`role`: letters, digits, `-`). */
  store(role: string): string {
    return `${this.prefix}_${this.projectName}_${role}`;
  }

  get eventsStream(): string {
    return this.store('events');
  }

  get resultsBucket(): string {
    return this.store('results');
  }

  /** The core NATS subject of a notify channel. */
  notify(channel: NotifyChannel): string {
    return `${this.S}notify.${channel}`;
  }

  /** Every subject of the events stream. */
  get events(): string {
    return `${this.S}ev.>`;
  }

  /** Where an event lives: `ev.e.<task>.<schedule>`, so a task's timeline and a schedule's events are filtered reads. */
  event(taskId: string | undefined, scheduleId: string | undefined): string {
    return `${this.S}ev.e.${idToken(taskId)}.${idToken(scheduleId)}`;
  }

  /** Every event of a task. */
  eventsOfTask(taskId: string): string {
    return `${this.S}ev.e.${idToken(taskId)}.*`;
  }

  /** Every event of a schedule. */
  eventsOfSchedule(scheduleId: string): string {
    return `${this.S}ev.e.*.${idToken(scheduleId)}`;
  }

  /** Every event (without the off-clock copies). */
  get allEvents(): string {
    return `${this.S}ev.e.>`;
  }

  /** The copy of an event appended far from its timestamp, found by time queries apart (see NatsEventStore). */
  offClock(taskId: string | undefined, scheduleId: string | undefined): string {
    return `${this.S}ev.o.${idToken(taskId)}.${idToken(scheduleId)}`;
  }

  get allOffClock(): string {
    return `${this.S}ev.o.>`;
  }

  offClockOfSchedule(scheduleId: string): string {
    return `${this.S}ev.o.*.${idToken(scheduleId)}`;
  }

  /** Where a live tail marks its start (one message each, purged after). */
  get mark(): string {
    return `${this.S}ev.mark`;
  }

  /** Where the event store reads the server's clock (one message, purged after). */
  get clock(): string {
    return `${this.S}ev.clock`;
  }
}
