import type { EncodedValue } from '../models/encoded-value.model.js';
import type { TaskEvent } from '../models/event.model.js';
import type { ResultRecord } from '../models/result.model.js';
import type { ScheduleStore } from './schedule.store.js';
import type { Coordination } from './coordination.js';
import type { Notifier } from './notifier.js';
import type { EventStore } from './event.store.js';
import type { ResultStore } from './result.store.js';
import type { NewTask, TaskError, TaskRecord, TaskStatus } from '../models/task.model.js';

export type Unsubscribe = () => void;

export interface EnqueueOutcome {
  id: string;
  /** False when an idempotency key matched a live task: `id` is that task's id. */
  created: boolean;
}

/**
 * What a transition writes beyond the tasks themselves. The core sets a flag only when the
 * store's `colocated` result (event) store is the one in use, so the write lands in the same
 * atomic step as the task's change; otherwise the core writes it after the store reported what
 * it did, and only for what the store says it did.
 * - `results`: store the results a settlement carries, build and store the result of every task
 *   the call ends unrun when it stores results (see `unrunOutcome`), and delete the results of
 *   tasks a requeue sends back.
 * - `events`: store the events a settlement carries, and build and store the event of every task
 *   the call ends unrun or reclaims (see `unrunOutcome`, `leaseEvent`), and the `released` event
 *   of a release whose settlement carries none.
 */
export interface WriteScope {
  results: boolean;
  events: boolean;
}

export const WRITE_NOTHING: WriteScope = Object.freeze({ results: false, events: false });

/** What `cancel` did to a task. */
export interface CancelOutcome {
  /** The task as it is now. */
  task: TaskRecord;
  /**
   * True when this call cancelled it or requested its cancellation; false when it had already
   * ended or its cancellation had already been requested (by this process or another).
   */
  changed: boolean;
  /**
   * Every task this call ended, in the order it ended them: the task itself when it was waiting,
   * then the dependents cancelled because of it (transitively). Empty when `changed` is false or
   * the task was running (its holder ends it).
   */
  ended: TaskRecord[];
}

export interface ReserveRequest {
  /** Queues in priority order: every due task of queues[0] comes before any of queues[1]. */
  queues: readonly string[];
  workerId: string;
  limit: number;
  leaseMs: number;
  /** Only tasks with these names (the handlers this worker has). Omitted: any name. */
  names?: readonly string[];
  /**
   * At most this many tasks whose lease lapsed `lapsedFrom` times or more in this call; the others
   * stay waiting, and the call may return fewer than `limit`. A worker takes a task on its last
   * delivery (one more lapse makes it a dead letter) only while it holds no other such task, so a
   * poison task cannot take the same innocent tasks down with it to their last lapse. Omitted: no
   * limit.
   */
  maxLapsed?: number;
  /** The `lapses` from which `maxLapsed` counts a task (default 1: every task that lapsed before). */
  lapsedFrom?: number;
  now?: Date;
}

/** What one `reclaimLapsed` call did. */
export interface ReclaimReport {
  /**
   * The tasks reclaimed, as they are now: waiting again, or — for a task whose lapses reached
   * `maxLapses` — failed, a dead letter with a TaskLapsedError (see `lapsedError`).
   */
  tasks: TaskRecord[];
  /** The dependents the dead letters' ends cancelled (transitively), as they are now. */
  ended: TaskRecord[];
}

interface SettlementBase extends LeaseRef {
  /** The attempt's result, written in the same step when the scope says `results` and the lease is held. */
  result?: ResultRecord;
  /** The attempt's events (completed, failed, retry, timeout, cancelled, released), written like `result`. */
  events?: readonly TaskEvent[];
  /**
   * Tasks to store in the same step when the lease is held (an outbox: the callbacks the task's
   * end triggers). They never depend on other tasks; an idempotency key works as in `enqueue`.
   */
  enqueue?: readonly NewTask[];
}

/** The end of an attempt, reported with the lease token the task was reserved with. */
export type Settlement = SettlementBase &
  (
    | { outcome: 'success'; at?: Date }
    | { outcome: 'failed'; error: TaskError; at?: Date }
    | { outcome: 'retry'; error: TaskError; retryAt: Date }
    | { outcome: 'cancelled'; error?: TaskError; at?: Date }
    /** Give the task back without counting the attempt (shutdown): it is due again at once. */
    | { outcome: 'release' }
  );

/**
 * What one settlement did. Not held: the token was not the task's live lease (the lease lapsed
 * and the task was reclaimed, or it ended otherwise); nothing at all was written, neither the
 * task, nor its result, events or outbox.
 */
export type SettleReport =
  | { held: false }
  | {
      held: true;
      /** The dependents this settlement cancelled (transitively), as they are now; empty on success, retry and release. */
      ended: readonly TaskRecord[];
      /** Outcomes of the settlement's `enqueue` tasks, in order. */
      enqueued: readonly EnqueueOutcome[];
    };

export interface LeaseRef {
  id: string;
  token: string;
}

/** Which tasks a bulk call acts on: every given field must match. */
export interface TaskSelector {
  queue?: string;
  status?: TaskStatus | readonly TaskStatus[];
  name?: string;
}

export interface TaskListFilter extends TaskSelector {
  offset?: number;
  limit?: number;
  /**
   * Cursor paging: only tasks enqueued after the one this cursor (a page's `nextCursor`) ends
   * with. Stable while tasks are added and removed, unlike `offset`.
   */
  after?: string;
}

export interface Page<T> {
  items: T[];
  /** Matching tasks in all, before paging (`after` included: tasks before the cursor count too). */
  total: number;
  offset: number;
  limit: number;
  /** Pass as `after` for the next page; absent on the last page. */
  nextCursor?: string;
}

export interface QueueStatusCount {
  queue: string;
  status: TaskStatus;
  count: number;
}

/** What `requeue` did. */
export interface RequeueOutcome {
  /** The task as it is now (unchanged when it was not failed, cancelled or expired). */
  task: TaskRecord;
  changed: boolean;
  /**
   * Dependents its failure had cancelled (`cancelledBy` naming it, transitively) that went back to
   * waiting with it, as they are now: blocked again until it succeeds.
   */
  revived: TaskRecord[];
}

/**
 * The task queue contract every backend keeps.
 *
 * Leases: `reserve` hands each task out with a fresh token and `leaseExpiresAt`. Every later call
 * about that attempt names the token; a stale token is rejected. A running task whose lease
 * lapsed stays running until the maintenance leader reclaims it (`reclaimLapsed`); until then its
 * old holder's token is still accepted (it may still settle or extend), after that never.
 *
 * Ending a task is one atomic step (`settle`, `cancel`, `expireOverdue`): the task changes only
 * while the caller may change it; dependents whose parents all ended as they need become
 * reservable; dependents that needed a parent that failed, was cancelled or expired are
 * cancelled transitively (`cancelledBy` naming the parent whose end cancelled them, `lastError`
 * a ParentFailedError, see `parentFailedError`); the outbox is stored; and, as the WriteScope
 * says, results and events are written. A crash leaves all of that done or none of it (engines
 * that need several writes for it finish what a crash left half-done in `recoverPending`).
 */
export interface TaskQueueStore {
  /**
   * Stores new tasks in one atomic step, after checking them all; any failed check rejects the
   * whole call and stores nothing:
   * - an id already stored, or twice in the call: DuplicateTaskIdError;
   * - a `dependsOn` id neither stored nor in the call: UnknownParentError;
   * - with onParentFailure `cancel`, a stored parent that ended failed, cancelled or expired:
   *   ParentEndedError.
   * The checks and the insert are atomic with every concurrent change: a parent that ends while
   * its child is stored either is seen ended (ParentEndedError) or sees the child (and cancels
   * it when it ended badly). A task whose `key` is held by a live task (pending, scheduled,
   * running, retrying), or by a task that ended less than its `dedupeWindowMs` ago, is not stored;
   * its outcome names the holder instead (also for two tasks with one key in the call, or in
   * concurrent calls: one is created). Results are in input order. Notifies `wake` for the queues
   * of tasks due now.
   *
   * No call may hold the storage's write lock long enough to stall other processes' heartbeats: a
   * call of more than MAX_ATOMIC_ENQUEUE tasks may be stored in chunks. The checks above then cover
   * the whole call before the first chunk, each chunk is atomic, and chunks land in input order; a
   * crash between chunks leaves the chunks stored so far (as a crash after any enqueue leaves tasks
   * the caller never heard of: idempotency keys make a repeated call safe). A chunk that fails a
   * check of its own (a concurrent call took an id) rejects the call with EnqueueIncompleteError,
   * which carries the outcomes of the tasks already stored.
   */
  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]>;

  /**
   * Up to `limit` tasks that are due (status pending, scheduled or retrying with `runAt` <= now),
   * not expired (`expiresAt` unset or in the future), whose dependencies all succeeded (with
   * onParentFailure `run`: all ended, whatever the outcome), in queues that are not paused;
   * ordered by queue order, then priority (higher first), then `runAt`, then enqueue order. Each
   * is marked running with attempts + 1, `startedAt` = now, the worker id and a new lease token.
   * Never hands a task to two holders of a live lease. Running tasks are never reserved, whatever
   * their lease: only `reclaimLapsed` makes them reservable again. Only the statuses above are
   * reserved: a record with any other status, or a damaged one (a field that cannot be read), is
   * never handed out; reserve sets it aside (ends it failed with a DamagedTaskError naming the
   * field, where it can still write the record; its dependents wait as on a failed parent), logs
   * it once with its id and the field, and goes on with the other tasks.
   */
  reserve(request: ReserveRequest): Promise<TaskRecord[]>;

  /** Ends attempts, each in one atomic step (see the contract above); reports in input order. */
  settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]>;

  /** Pushes each live lease's expiry to now + leaseMs. Returns, in order, which were still held. */
  extendLeases(leases: readonly LeaseRef[], leaseMs: number): Promise<boolean[]>;

  /**
   * Stores the handler's latest progress report (JSON data) on the task it holds. False, and no
   * change, for a stale token.
   */
  setProgress(id: string, token: string, progress: unknown): Promise<boolean>;

  /**
   * Cancels a waiting task (pending, scheduled, retrying), with its dependents as above. On a
   * running task it sets `cancelRequestedAt` (once), leaves the lease alone and notifies
   * `control` with `cancel:<id>`: the holder stops the handler and settles `cancelled`, and a
   * worker that reserves it after a crash ends it without running it. Undefined for an unknown id.
   */
  cancel(id: string, error: TaskError, scope: WriteScope): Promise<CancelOutcome | undefined>;

  /** Which of these tasks are running with a cancel request (workers poll this where notifications do not reach them). */
  cancelRequested(ids: readonly string[]): Promise<string[]>;

  /**
   * Sends a failed, cancelled or expired task back to pending with attempts and lapses reset, due at once, a
   * fresh `expiresAt` when it has a TTL, and its key held again when no live task holds it; with
   * it, the dependents its end had cancelled (see RequeueOutcome). With `scope.results` their
   * stored results are deleted in the same step. Undefined for an unknown id.
   */
  requeue(id: string, scope: WriteScope): Promise<RequeueOutcome | undefined>;

  /**
   * `requeue` for up to `limit` failed, cancelled or expired tasks matching the selector (its
   * status, if given, narrows those three), oldest first. Returns the tasks requeued (revived
   * dependents not included; they come back with their parent). Call again until it returns
   * fewer than `limit`.
   */
  requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]>;

  /**
   * `cancel` for up to `limit` live tasks matching the selector that this call changes (waiting
   * ones cancelled, running ones asked to stop; a running task already asked is passed over),
   * oldest first. Returns every task it ended (cascades included) and how many it changed; call
   * again until `changed` is less than `limit`.
   */
  cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }>;

  get(id: string): Promise<TaskRecord | undefined>;

  /** The tasks with these ids, in order (undefined for an unknown id), in one round trip. */
  getMany(ids: readonly string[]): Promise<(TaskRecord | undefined)[]>;

  /** Tasks matching the filter, oldest first (enqueue order), with the total before paging. */
  list(filter?: TaskListFilter): Promise<Page<TaskRecord>>;

  /** How many tasks each queue holds per status (only non-zero rows). */
  counts(): Promise<QueueStatusCount[]>;

  /**
   * Stops reserving from a queue, for every instance on the storage and across restarts, until
   * `resumeQueue`. Running tasks go on. True when this call paused it. Notifies `control` with
   * `pause:<queue>`.
   */
  pauseQueue(queue: string): Promise<boolean>;
  /** Undoes `pauseQueue`; true when this call resumed it. Notifies `control` (`resume:<queue>`) and `wake`. */
  resumeQueue(queue: string): Promise<boolean>;
  /** The paused queues, by name. */
  pausedQueues(): Promise<string[]>;

  // Maintenance: the elected leader calls these (see Coordination); each is safe to run
  // concurrently with everything else, and with itself, since leadership may overlap briefly.

  /**
   * Sends up to `limit` running tasks whose lease expired before `now` back to waiting (pending, or
   * retrying with its `runAt` when it has a later one), attempts unchanged, `lapses` + 1; their old
   * tokens are rejected from then on. A task whose `lapses` reaches `maxLapses` ends instead, in
   * the same atomic step: status failed, `completedAt` now, `lastError` = `lapsedError(task as it
   * was, lapses)`, its key freed as at any failure, its dependents cascading as at any failure (in
   * `ended`). Writes a `reclaimed` event for each when `scope.events` (see `leaseEvent`, built
   * from the task as it was, so it names the lost worker), and for each dead letter, after it, its
   * `unrunOutcome` event (and result when `scope.results`), as for the tasks in `ended`. Notifies
   * `wake`.
   */
  reclaimLapsed(now: Date, limit: number, scope: WriteScope, maxLapses: number): Promise<ReclaimReport>;

  /**
   * Moves up to `limit` scheduled and retrying tasks whose `runAt` has passed to pending and
   * notifies `wake` for their queues, so idle workers in every process start them without
   * polling. (Reserve takes due scheduled and retrying tasks anyway: this is about wake-ups and
   * the status users see.) Returns how many.
   */
  promoteDue(now: Date, limit: number): Promise<number>;

  /** When the soonest scheduled or retrying task falls due (for the leader to sleep until then). */
  nextDueAt(): Promise<Date | undefined>;

  /**
   * Ends as expired up to `limit` waiting tasks whose `expiresAt` has passed, each with its
   * cascade, in one atomic step each; returns every task ended (the expired and the cancelled
   * dependents). Running tasks are not touched.
   */
  expireOverdue(now: Date, limit: number, scope: WriteScope): Promise<TaskRecord[]>;

  /** Deletes up to `limit` final tasks (success, failed, cancelled, expired) completed before `before`. */
  purgeFinished(before: Date, limit?: number): Promise<number>;

  /**
   * Engines whose atomic step spans several writes (the file backend) finish here what a crashed
   * process left half-done, and return the tasks that ended meanwhile. Absent where every step is
   * one write.
   */
  recoverPending?(now: Date, scope: WriteScope): Promise<TaskRecord[]>;

  /** How the stores of this engine notify every instance on the storage. */
  readonly notifier: Notifier;

  /** Leases for electing one maintenance leader among the instances on the storage. */
  readonly coordination: Coordination;

  /** The result and event stores of the same atomic domain, when this engine has them. */
  readonly colocated: { readonly results?: ResultStore; readonly events?: EventStore };

  /** The schedules this backend keeps beside its tasks (absent: the backend cannot run schedules). */
  readonly schedules?: ScheduleStore;

  close(): Promise<void>;
}

export type { EncodedValue };
