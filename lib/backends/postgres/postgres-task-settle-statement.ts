import type { TaskEvent } from '../../models/event.model.js';
import type { ResultRecord } from '../../models/result.model.js';
import { unnestRows } from './postgres-batch.js';
import { EVENT_COLUMNS, eventValues } from './postgres-event-row.js';
import { RESULT_COLUMNS, resultValues } from './postgres-result-row.js';
import type { PostgresTables } from './postgres-tables.js';
import { CLEAR_LEASE } from './postgres-task-write-sql.js';

/** Statuses a settlement ends its task in. */
export const FINAL_OUTCOMES = `('success', 'failed', 'cancelled')`;

/** A settlement as the statements take it: its lease, the status it leaves, the change's time, the next run and the error. */
export interface SettleParams {
  readonly ids: string[];
  readonly tokens: string[];
  readonly statuses: string[];
  readonly at: number[];
  readonly runAt: (number | null)[];
  readonly errors: (string | null)[];
}

/** A row of the one-statement settle: a task it changed (`ord`, the settlement's place, from 1), or the seqs of the events it inserted. */
export type SettledStatementRow = { ord: number; queue: string; lo: null; hi: null } | { ord: null; queue: null; lo: number | null; hi: number | null };

const RESULT_NAMES = Object.keys(RESULT_COLUMNS);
const EVENT_NAMES = Object.keys(EVENT_COLUMNS);
/** The columns of the results and events the statement stores, each led by its settlement's ord. */
const RESULT_TYPES = ['bigint', ...Object.values(RESULT_COLUMNS)];
const EVENT_TYPES = ['bigint', ...Object.values(EVENT_COLUMNS)];
const RESULT_UPDATES = RESULT_NAMES.filter((name) => name !== 'task_id')
  .map((name) => `${name} = EXCLUDED.${name}`)
  .join(', ');

/**
 * The settle statements. `update` changes every task whose lease a settlement holds (the lease
 * check is its WHERE: a stale token changes nothing). `oneStatement` is the whole settle of
 * tasks without dependents as one autocommitted statement: the update, then, of the tasks it
 * changed, the results upserted and the events inserted (in settlement order, so their seqs keep
 * it); a task with dependents is left unchanged, for a transaction that also runs the cascade.
 */
export class SettleStatements {
  readonly update: string;
  private readonly shapes = new Map<string, string>();

  constructor(private readonly tables: PostgresTables) {
    // `at`: the end's time for success, failed and cancelled (completedAt, updatedAt), now for a
    // retry or release. An error given replaces lastError; none keeps the last attempt's.
    // `t.id = ANY($1)` keeps the plan an index lookup of the batch's ids even when the table's
    // statistics say it is empty (an ANALYZE while a long transaction held its dead rows): joined
    // on `t.id = s.id` alone, such a plan scans the whole table for every settle.
    this.update = `UPDATE ${tables.tasks} t SET status = s.status,
        completed_at = CASE WHEN s.status IN ${FINAL_OUTCOMES} THEN s.at ELSE t.completed_at END,
        updated_at = s.at, run_at = COALESCE(s.run_at, t.run_at),
        attempts = CASE WHEN s.status = 'pending' THEN t.attempts - 1 ELSE t.attempts END,
        last_error = COALESCE(s.error, t.last_error),
        held_key = CASE WHEN s.status IN ${FINAL_OUTCOMES} AND t.dedupe_window_ms IS NULL THEN NULL ELSE t.held_key END,
        ${CLEAR_LEASE}
      FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[]) WITH ORDINALITY AS s(id, token, status, at, run_at, error, ord)
      WHERE t.id = s.id AND t.id = ANY($1::text[]) AND t.lease_token = s.token AND t.status = 'running'`;
  }

  /**
   * The one statement for `settle` with its parameters; `results` and `events` name the
   * settlement (its `ord`) they belong to, and are stored only when it changed its task.
   */
  oneStatement(
    settle: SettleParams,
    results: ReadonlyArray<{ ord: number; result: ResultRecord }>,
    events: ReadonlyArray<{ ord: number; event: TaskEvent }>,
  ): [string, unknown[]] {
    const params: unknown[] = [settle.ids, settle.tokens, settle.statuses, settle.at, settle.runAt, settle.errors];
    if (results.length > 0) params.push(...unnestRows(results.map(({ ord, result }) => [ord, ...resultValues(result)]), RESULT_TYPES).params);
    if (events.length > 0) params.push(...unnestRows(events.map(({ ord, event }) => [ord, ...eventValues(event)]), EVENT_TYPES).params);
    const shape = `${results.length > 0}:${events.length > 0}`;
    let sql = this.shapes.get(shape);
    if (sql === undefined) {
      sql = this.oneStatementSql(results.length > 0, events.length > 0);
      this.shapes.set(shape, sql);
    }
    return [sql, params];
  }

  private oneStatementSql(withResults: boolean, withEvents: boolean): string {
    const parts = [`settled AS (${this.update} AND NOT (t.has_dependents AND s.status IN ${FINAL_OUTCOMES}) RETURNING s.ord, t.queue)`];
    let next = 7;
    if (withResults) {
      const { source } = unnestRows([], RESULT_TYPES, next);
      next += RESULT_TYPES.length;
      parts.push(`stored AS (
        INSERT INTO ${this.tables.results} (${RESULT_NAMES.join(', ')})
        SELECT ${RESULT_NAMES.map((name) => `r.${name}`).join(', ')} FROM ${source} AS r(ord, ${RESULT_NAMES.join(', ')}) JOIN settled ON settled.ord = r.ord
        ON CONFLICT (task_id) DO UPDATE SET ${RESULT_UPDATES})`);
    }
    if (withEvents) {
      const { source } = unnestRows([], EVENT_TYPES, next);
      parts.push(`appended AS (
        INSERT INTO ${this.tables.events} (${EVENT_NAMES.join(', ')})
        SELECT ${EVENT_NAMES.map((name) => `e.${name}`).join(', ')} FROM ${source} WITH ORDINALITY AS e(ord, ${EVENT_NAMES.join(', ')}, i)
        JOIN settled ON settled.ord = e.ord ORDER BY e.i
        RETURNING seq)`);
    }
    const seqs = withEvents ? 'UNION ALL SELECT NULL, NULL, min(seq), max(seq) FROM appended' : '';
    return `WITH ${parts.join(', ')}
      SELECT ord, queue, NULL::bigint AS lo, NULL::bigint AS hi FROM settled ${seqs}`;
  }
}
