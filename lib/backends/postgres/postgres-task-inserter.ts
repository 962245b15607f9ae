import { OmniQError } from '../../errors/omniq.errors.js';
import { DuplicateTaskIdError, EnqueueIncompleteError, MAX_ATOMIC_ENQUEUE } from '../../errors/store.errors.js';
import type { NewTask } from '../../models/task.model.js';
import { WRITE_NOTHING, type EnqueueOutcome } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { addIds, idsOf } from '../shared/task-ids.js';
import { assertStorableText, parentsOf, type Parent } from './postgres-task-checks.js';
import type { PostgresTaskGraph } from './postgres-task-graph.js';
import { insertValues, TASK_INSERT_COLUMNS, TASK_INSERT_TYPES } from './postgres-task-row.js';
import { postgresCode } from './postgres-storage.error.js';
import { FINAL_SQL, LIVE_SQL, slices, STATEMENT_ROWS } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** A row of the reads before an insert: a stored parent's status, a stored id of the call, or a key's holder. */
interface StoredRow {
  kind: 'parent' | 'taken' | 'holder';
  id: string;
  /** The parent's status, or the holder's key. */
  value: string | null;
  /** Whether the holder still holds its key (live, or ended within its dedupe window). */
  holds: boolean | null;
}

/** What the stored tasks say about a call's tasks. */
interface Stored {
  readonly parents: ReadonlyMap<string, string>;
  readonly taken: ReadonlySet<string>;
  /** Key → id of the task holding it. */
  readonly holders: ReadonlyMap<string, string>;
}

/** A task of the call to store, with its edges. */
interface Candidate {
  readonly index: number;
  readonly task: NewTask;
  readonly parents: readonly Parent[];
  readonly unmet: number;
}

const NOTHING_STORED: Stored = { parents: new Map(), taken: new Set(), holders: new Map() };
/** How often a task is tried again whose key's holder let the key go between the insert and the read of the holder. */
const KEY_RACE_ATTEMPTS = 5;

/** The insert's parameters for `candidates`: a column's values per parameter, has_dependents last. */
function rowParams(candidates: readonly Omit<Candidate, 'index' | 'parents'>[], parentsInCall: ReadonlySet<string>): unknown[] {
  const rows = candidates.map(({ task, unmet }) => insertValues(task, task.runAt.getTime() > task.createdAt.getTime() ? 'scheduled' : 'pending', unmet));
  const params: unknown[] = TASK_INSERT_COLUMNS.map((_, column) => rows.map((row) => row[column]));
  params.push(candidates.map(({ task }) => parentsInCall.has(task.id)));
  return params;
}

/** A task whose enqueue needs no read first: no idempotency key, no parents. */
const standalone = (task: NewTask): boolean => task.key === undefined && task.dependsOn.length === 0;

const NO_IDS: ReadonlySet<string> = new Set();
/** SQLSTATE of a unique index violation: the id is taken. */
const UNIQUE_VIOLATION = '23505';

const distinct = (values: Iterable<string | undefined>): string[] => [...new Set(values)].filter((value): value is string => value !== undefined);

function storedFrom(rows: readonly StoredRow[]): Stored {
  const parents = new Map<string, string>();
  const taken = new Set<string>();
  const holders = new Map<string, string>();
  for (const row of rows) {
    if (row.kind === 'parent') parents.set(row.id, row.value!);
    else if (row.kind === 'taken') taken.add(row.id);
    else if (row.holds) holders.set(row.value!, row.id);
  }
  return { parents, taken, holders };
}

/**
 * Stores new tasks inside a write transaction: one statement reads what the checks need (the
 * parents, locked FOR SHARE so that none ends before the edges are stored; the ids already
 * taken; the keys' holders, after freeing keys whose holder's dedupe window passed), then one
 * statement per STATEMENT_ROWS tasks inserts them and their edges. The unique index on
 * `held_key` decides between concurrent enqueues with one key: the insert skips a row whose key
 * another transaction took meanwhile (ON CONFLICT DO NOTHING), and that task's holder is read
 * afterwards. A failed check throws, rolling back the caller's transaction.
 */
export class PostgresTaskInserter {
  private readonly readSql: string;
  private readonly checkSql: string;
  private readonly insertSql: string;
  private readonly insertAloneSql: string;
  private readonly insertAloneNotifySql: string;
  private readonly insertWithEdgesSql: string;
  private readonly holdersSql: string;

  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    graph: PostgresTaskGraph,
  ) {
    const { tasks } = connection.tables;
    this.readSql = `WITH freed AS (
        UPDATE ${tasks} SET held_key = NULL
        WHERE held_key = ANY($1::text[]) AND status IN ${FINAL_SQL} AND NOT COALESCE(completed_at + dedupe_window_ms > $4, false)
      ), parents AS (${graph.lockParentsSql(2)}), flagged AS (${graph.flagParentsSql()})
      SELECT 'parent' AS kind, id, status AS value, NULL::boolean AS holds FROM parents
      UNION ALL SELECT 'taken', id, NULL, NULL FROM ${tasks} WHERE id = ANY($3::text[])
      UNION ALL SELECT 'holder', id, held_key, status IN ${LIVE_SQL} OR COALESCE(completed_at + dedupe_window_ms > $4, false)
        FROM ${tasks} WHERE held_key = ANY($1::text[])`;
    this.checkSql = `SELECT 'parent' AS kind, id, status AS value, NULL::boolean AS holds FROM ${tasks} WHERE id = ANY($1::text[])
      UNION ALL SELECT 'taken', id, NULL, NULL FROM ${tasks} WHERE id = ANY($2::text[])`;
    // has_dependents last: the tasks of the call that others of it depend on (stored parents get it from readSql).
    const columns = [...TASK_INSERT_COLUMNS, 'has_dependents'].join(', ');
    const arrays = [...TASK_INSERT_COLUMNS.map((column, i) => `$${i + 1}::${TASK_INSERT_TYPES[column]}[]`), `$${TASK_INSERT_COLUMNS.length + 1}::boolean[]`].join(', ');
    // In input order, so that the tasks of a call keep it as their FIFO order (seq).
    const inserted = `inserted AS (
        INSERT INTO ${tasks} (${columns}) SELECT ${columns} FROM unnest(${arrays}) WITH ORDINALITY AS r(${columns}, ord) ORDER BY ord
        ON CONFLICT DO NOTHING RETURNING id, seq
      )`;
    this.insertSql = `WITH ${inserted} SELECT id FROM inserted`;
    // No ON CONFLICT: a taken id fails the statement, and with it the whole call (see enqueueAlone).
    this.insertAloneSql = `INSERT INTO ${tasks} (${columns}) SELECT ${columns} FROM unnest(${arrays}) WITH ORDINALITY AS r(${columns}, ord) ORDER BY ord`;
    // The same, with the peers' wake in the statement's own commit (see PostgresNotifier.inlineWake).
    const notifyParams = TASK_INSERT_COLUMNS.length + 2;
    this.insertAloneNotifySql = `WITH inserted AS (${this.insertAloneSql})
      SELECT pg_notify($${notifyParams}::text, $${notifyParams + 1}::text)`;
    this.insertWithEdgesSql = `WITH ${inserted}, edges AS (${graph.insertEdgesSql(TASK_INSERT_COLUMNS.length + 2)}) SELECT id FROM inserted`;
    this.holdersSql = `SELECT id, held_key FROM ${tasks} WHERE id = ANY($1::text[]) OR held_key = ANY($2::text[])`;
  }

  /** Stores `tasks` in a transaction of their own. */
  enqueue(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    if (tasks.length <= STATEMENT_ROWS && tasks.every(standalone)) return this.enqueueAlone(tasks);
    return this.writer.write({ operation: 'enqueue', tasks }, (write) => this.insert(write, tasks));
  }

  /**
   * Tasks without keys and parents, whose checks need no read: one autocommitted insert. An id
   * already taken fails it whole, and the call then runs as a transaction, which names the id.
   */
  private async enqueueAlone(tasks: readonly NewTask[]): Promise<EnqueueOutcome[]> {
    for (const task of tasks) assertStorableText(task);
    idsOf(tasks);
    const call = { operation: 'enqueue', tasks };
    const candidates = tasks.map((task) => ({ task, unmet: 0 }));
    try {
      await this.writer.statement(
        call,
        async (write) => {
          const due = distinct(tasks.map((task) => (task.runAt.getTime() <= write.now ? task.queue : undefined)));
          const payload = this.writer.inlineWake(due, write.now);
          const params = rowParams(candidates, NO_IDS);
          if (payload === undefined) await write.query(this.insertAloneSql, params);
          else await write.query(this.insertAloneNotifySql, [...params, this.connection.tables.notifyChannel, payload]);
          for (const queue of due) write.wake(queue);
          if (payload !== undefined) write.notifiedPeers(due);
        },
        WRITE_NOTHING,
        Date.now(),
      );
    } catch (error) {
      if (postgresCode(error) !== UNIQUE_VIOLATION) throw error;
      return this.writer.write(call, (write) => this.insert(write, tasks));
    }
    return tasks.map((task) => ({ id: task.id, created: true }));
  }

  /**
   * An enqueue of more than MAX_ATOMIC_ENQUEUE tasks: checked whole first, then stored a chunk
   * per transaction, in order. A chunk that fails after others were stored rejects with
   * EnqueueIncompleteError; `assertOpen` stops it between chunks once the store closed.
   */
  async enqueueInChunks(tasks: readonly NewTask[], assertOpen: () => void): Promise<EnqueueOutcome[]> {
    const inCall = new Set<string>();
    const ranges: Array<[from: number, to: number]> = [];
    for (let from = 0; from < tasks.length; from += MAX_ATOMIC_ENQUEUE) ranges.push([from, Math.min(tasks.length, from + MAX_ATOMIC_ENQUEUE)]);
    for (const [from, to] of ranges) addIds(tasks, from, to, inCall);
    for (const [from, to] of ranges) await this.check(tasks.slice(from, to), inCall);
    const outcomes: EnqueueOutcome[] = [];
    for (const [from, to] of ranges) {
      const chunk = tasks.slice(from, to);
      try {
        assertOpen();
        const stored = await this.writer.write({ operation: 'enqueue', tasks: chunk }, (write) => this.insert(write, chunk, inCall));
        for (const outcome of stored) outcomes.push(outcome);
      } catch (error) {
        // Nothing stored yet: the call failed as a whole, as an atomic one would.
        if (outcomes.length === 0) throw error;
        throw new EnqueueIncompleteError(outcomes, tasks.length, error);
      }
    }
    return outcomes;
  }

  /**
   * Stores `tasks` inside the caller's transaction; `inCall` holds the ids of the whole call when
   * they are a chunk of it (see `idsOf`). Outcomes in input order.
   */
  async insert(write: PostgresWrite, tasks: readonly NewTask[], inCall: ReadonlySet<string> = idsOf(tasks)): Promise<EnqueueOutcome[]> {
    for (const task of tasks) assertStorableText(task);
    const stored = await this.read(write, tasks);
    const parentsInCall = new Set(tasks.flatMap((task) => task.dependsOn));
    const outcomes: EnqueueOutcome[] = new Array<EnqueueOutcome>(tasks.length);
    const firstOfKey = new Map<string, number>();
    const sameKeyAs = new Map<number, number>();
    let candidates: Candidate[] = [];
    tasks.forEach((task, index) => {
      if (task.key !== undefined) {
        const holder = stored.holders.get(task.key);
        const earlier = firstOfKey.get(task.key);
        if (holder !== undefined || earlier !== undefined) {
          // Not stored, but an id already taken is still the caller's mistake.
          if (stored.taken.has(task.id)) throw new DuplicateTaskIdError(task.id);
          if (holder !== undefined) outcomes[index] = { id: holder, created: false };
          else sameKeyAs.set(index, earlier!);
          return;
        }
        firstOfKey.set(task.key, index);
      }
      const parents = parentsOf(task, inCall, stored.parents);
      if (stored.taken.has(task.id)) throw new DuplicateTaskIdError(task.id);
      candidates.push({ index, task, parents, unmet: parents.filter((parent) => !parent.met).length });
    });
    for (let attempt = 1; candidates.length > 0; attempt++) {
      const created = await this.store(write, candidates, parentsInCall);
      for (const { index, task, unmet } of candidates) {
        if (!created.has(task.id)) continue;
        outcomes[index] = { id: task.id, created: true };
        if (unmet === 0 && task.runAt.getTime() <= write.now) write.wake(task.queue);
      }
      const skipped = candidates.filter(({ task }) => !created.has(task.id));
      candidates = skipped.length === 0 ? [] : await this.holdersOf(write, skipped, outcomes, attempt);
    }
    for (const [index, earlier] of sameKeyAs) outcomes[index] = { id: outcomes[earlier]!.id, created: false };
    return outcomes;
  }

  /** The checks of `insert` for a chunk of a call whose ids are `inCall`, read outside any transaction; throws what `insert` would. */
  private async check(range: readonly NewTask[], inCall: ReadonlySet<string>): Promise<void> {
    for (const task of range) assertStorableText(task);
    const rows = await this.connection.db.query<StoredRow>(
      this.checkSql,
      [distinct(range.flatMap((task) => task.dependsOn)), range.map((task) => task.id)],
      { operation: 'enqueue', tasks: range },
    );
    const stored = storedFrom(rows);
    for (const task of range) {
      if (stored.taken.has(task.id)) throw new DuplicateTaskIdError(task.id);
      parentsOf(task, inCall, stored.parents);
    }
  }

  /** What the checks need, in one statement; nothing when no task has a key or parents (a taken id then shows at the insert). */
  private async read(write: PostgresWrite, tasks: readonly NewTask[]): Promise<Stored> {
    const keys = distinct(tasks.map((task) => task.key));
    const parents = distinct(tasks.flatMap((task) => task.dependsOn));
    if (keys.length === 0 && parents.length === 0) return NOTHING_STORED;
    return storedFrom(await write.query<StoredRow>(this.readSql, [keys, parents, tasks.map((task) => task.id), write.now]));
  }

  /** Inserts the candidates (marked has_dependents when in `parentsInCall`) and their edges, STATEMENT_ROWS a statement; returns the ids it stored. */
  private async store(write: PostgresWrite, candidates: readonly Candidate[], parentsInCall: ReadonlySet<string>): Promise<Set<string>> {
    const created = new Set<string>();
    for (const slice of slices(candidates)) {
      const params = rowParams(slice, parentsInCall);
      const edges = slice.flatMap(({ task, parents }) => parents.map((parent) => [task.id, parent.id, task.onParentFailure === 'run', parent.met] as const));
      if (edges.length > 0) for (let column = 0; column < 4; column++) params.push(edges.map((edge) => edge[column]));
      const stored = await write.query<{ id: string }>(edges.length > 0 ? this.insertWithEdgesSql : this.insertSql, params);
      for (const { id } of stored) created.add(id);
    }
    return created;
  }

  /**
   * The outcomes of tasks the insert skipped: an id another transaction stored meanwhile
   * (DuplicateTaskIdError), or a key another task holds. Returns the tasks whose key's holder let
   * it go again before this read, to be tried again.
   */
  private async holdersOf(write: PostgresWrite, skipped: readonly Candidate[], outcomes: EnqueueOutcome[], attempt: number): Promise<Candidate[]> {
    const rows = await write.query<{ id: string; held_key: string | null }>(this.holdersSql, [
      skipped.map(({ task }) => task.id),
      distinct(skipped.map(({ task }) => task.key)),
    ]);
    const ids = new Set(rows.map((row) => row.id));
    const holders = new Map(rows.filter((row) => row.held_key !== null).map((row) => [row.held_key!, row.id]));
    const again: Candidate[] = [];
    for (const candidate of skipped) {
      const { task, index } = candidate;
      if (ids.has(task.id)) throw new DuplicateTaskIdError(task.id);
      const holder = task.key === undefined ? undefined : holders.get(task.key);
      if (holder !== undefined) outcomes[index] = { id: holder, created: false };
      else if (attempt < KEY_RACE_ATTEMPTS) again.push(candidate);
      else {
        const clash = task.key === undefined ? 'id' : `key "${task.key}"`;
        throw new OmniQError(`enqueue of task ${task.id}: the task holding its ${clash} changed ${attempt} times while it was stored; retry the enqueue`);
      }
    }
    return again;
  }
}
