import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import type { TaskRecord } from '../../models/task.model.js';
import { unrunOutcome } from '../../storage/outcomes.js';
import type { WriteScope } from '../../storage/task-queue.store.js';
import type { PgQueryable } from './postgres-db.js';

/** Notifications one transaction staged, published once it committed. */
export interface StagedNotifications {
  /** Queues whose tasks may have become reservable. */
  readonly wake: ReadonlySet<string>;
  /** Task ids whose result was stored. */
  readonly result: readonly string[];
  /** `cancel:<id>`, `pause:<queue>`, `resume:<queue>`. */
  readonly control: readonly string[];
  /** Events were appended (a hint for event streams, here and in other processes). */
  readonly events?: boolean;
  /** Queues of `wake` whose NOTIFY went in the write's own statement: the peers heard them at its commit. */
  readonly wokePeers?: ReadonlySet<string>;
}

/**
 * One write transaction of an engine: its statements (`query`), its clock, the WriteScope of the
 * call, and what it gathers while it runs — results and events (written together just before
 * COMMIT, in the same transaction), notifications and effects (published after COMMIT; nothing
 * at all when it rolls back).
 */
export class PostgresWrite implements PgQueryable {
  readonly results: ResultRecord[] = [];
  readonly events: TaskEvent[] = [];
  readonly wakeQueues = new Set<string>();
  readonly resultIds: string[] = [];
  readonly controlMessages: string[] = [];
  readonly effects: Array<() => void> = [];
  /** Whether a statement of this write inserted events itself (rather than gathering them in `events`). */
  private eventsInserted = false;
  /** Queues whose wake a statement of this write NOTIFYed itself. */
  private wokePeers: Set<string> | undefined;

  constructor(
    private readonly tx: PgQueryable,
    readonly scope: WriteScope,
    /** The transaction's clock, in epoch ms. */
    readonly now: number,
  ) {}

  query<R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    return this.tx.query<R>(sql, params);
  }

  /** A result the caller handed in (a settlement's), stored when the scope says so. */
  result(result: ResultRecord): void {
    if (this.scope.results) this.results.push(result);
  }

  /** An event the store built, stored when the scope says so. */
  event(event: TaskEvent): void {
    if (this.scope.events) this.events.push(event);
  }

  /** Events the caller handed in (a settlement's), stored when the scope says so. */
  eventsOf(events: readonly TaskEvent[]): void {
    if (this.scope.events) for (const event of events) this.events.push(event);
  }

  /** A task this transaction ended without running it (cancelled or expired, as stored): its event and result, as the scope says. */
  endedUnrun(task: TaskRecord): void {
    if (!this.scope.results && !this.scope.events) return;
    const { event, result } = unrunOutcome(task, new Date(this.now));
    this.event(event);
    if (result !== undefined) this.result(result);
  }

  /** Tasks of `queue` may have become reservable. */
  wake(queue: string): void {
    this.wakeQueues.add(queue);
  }

  /** A statement of this write NOTIFYed the peers of `queues` itself (see PostgresNotifier.inlineWake). */
  notifiedPeers(queues: readonly string[]): void {
    this.wokePeers ??= new Set();
    for (const queue of queues) this.wokePeers.add(queue);
  }

  /** The result of `taskId` was stored (the result store calls this for every row it writes). */
  resultStored(taskId: string): void {
    this.resultIds.push(taskId);
  }

  /** A statement of this write inserted events itself (event streams are told after COMMIT, as for gathered ones). */
  insertedEvents(): void {
    this.eventsInserted = true;
  }

  control(message: string): void {
    this.controlMessages.push(message);
  }

  /** Runs `effect` once the transaction committed (not at all if it rolls back). */
  afterCommit(effect: () => void): void {
    this.effects.push(effect);
  }

  staged(): StagedNotifications | undefined {
    const events = this.eventsInserted || this.events.length > 0;
    if (!events && this.wakeQueues.size === 0 && this.resultIds.length === 0 && this.controlMessages.length === 0) return undefined;
    return { wake: this.wakeQueues, result: this.resultIds, control: this.controlMessages, events, wokePeers: this.wokePeers };
  }
}
