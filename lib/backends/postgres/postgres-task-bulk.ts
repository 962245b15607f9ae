import { LIVE_TASK_STATUSES, type TaskError, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { TaskSelector, WriteScope } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresTaskTransitions } from './postgres-task-transitions.js';
import { WAITING_SQL } from './postgres-task-write-sql.js';
import type { PostgresWrite } from './postgres-write.js';
import type { PostgresWriter } from './postgres-writer.js';

/** Candidates a bulk call changes in one transaction at most: a few tens of milliseconds of row locks. */
export const ROUND_ROWS = 2_000;

const REQUEUEABLE: readonly TaskStatus[] = ['failed', 'cancelled', 'expired'];

interface CandidateRow {
  id: string;
  seq: number;
}

/** A selector as SQL terms and their parameters (from `$1`), its statuses narrowed to `allowed`; undefined when none is left. */
function where(selector: TaskSelector, allowed: readonly TaskStatus[]): { terms: string[]; params: unknown[] } | undefined {
  const asked = typeof selector.status === 'string' ? [selector.status] : selector.status;
  const statuses = asked === undefined ? allowed : asked.filter((status) => allowed.includes(status));
  if (statuses.length === 0) return undefined;
  const terms: string[] = [];
  const params: unknown[] = [];
  const filterBy = (term: (param: string) => string, value: unknown): void => {
    params.push(value);
    terms.push(term(`$${params.length}`));
  };
  if (selector.queue !== undefined) filterBy((param) => `queue = ${param}`, selector.queue);
  if (selector.name !== undefined) filterBy((param) => `name = ${param}`, selector.name);
  filterBy((param) => `status = ANY(${param}::text[])`, statuses);
  return { terms, params };
}

/**
 * Splits candidates (oldest first) into the groups changed one after the other, so that a call
 * does what changing them one by one would: a candidate the change of an older one may reach
 * (its cascade or its revival) gets a group of its own, after the groups before it; all others
 * are changed together.
 */
function groups(candidates: readonly CandidateRow[], reachable: ReadonlySet<number>): string[][] {
  const result: string[][] = [];
  let group: string[] = [];
  for (const { id, seq } of candidates) {
    if (!reachable.has(seq)) {
      group.push(id);
      continue;
    }
    if (group.length > 0) result.push(group);
    result.push([id]);
    group = [];
  }
  if (group.length > 0) result.push(group);
  return result;
}

/**
 * The bulk admin calls by selector, in rounds of at most ROUND_ROWS candidates, a transaction
 * each, until `limit` tasks changed or no candidates are left. A round reads its candidates,
 * finds those that the cascade or revival of another one may reach, and changes the rest
 * together (see `groups`).
 */
export class PostgresTaskBulk {
  private readonly reachedByCascadeSql: string;
  private readonly reachedByRevivalSql: string;

  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly transitions: PostgresTaskTransitions,
  ) {
    const { tasks, taskDeps } = connection.tables;
    // The waiting tasks a cascade from the waiting candidates would cancel, through waiting tasks only.
    this.reachedByCascadeSql = `WITH RECURSIVE reached(seq, id) AS (
        SELECT c.seq, c.id FROM ${tasks} p JOIN ${taskDeps} d ON d.parent_id = p.id JOIN ${tasks} c ON c.seq = d.child_seq
        WHERE p.seq = ANY($1::bigint[]) AND p.status IN ${WAITING_SQL} AND NOT d.run_on_failure AND NOT d.met AND c.status IN ${WAITING_SQL}
        UNION
        SELECT c.seq, c.id FROM reached r JOIN ${taskDeps} d ON d.parent_id = r.id JOIN ${tasks} c ON c.seq = d.child_seq
        WHERE NOT d.run_on_failure AND NOT d.met AND c.status IN ${WAITING_SQL}
      ) SELECT seq FROM reached JOIN unnest($1::bigint[]) AS candidate(seq) USING (seq)`;
    // The cancelled tasks a requeue of the candidates would revive.
    this.reachedByRevivalSql = `WITH RECURSIVE reached(seq, id) AS (
        SELECT c.seq, c.id FROM ${tasks} p JOIN ${tasks} c ON c.cancelled_by = p.id WHERE p.seq = ANY($1::bigint[]) AND c.status = 'cancelled'
        UNION
        SELECT c.seq, c.id FROM reached r JOIN ${tasks} c ON c.cancelled_by = r.id WHERE c.status = 'cancelled'
      ) SELECT seq FROM reached JOIN unnest($1::bigint[]) AS candidate(seq) USING (seq)`;
  }

  async requeueWhere(selector: TaskSelector, limit: number, scope: WriteScope): Promise<TaskRecord[]> {
    const requeued: TaskRecord[] = [];
    await this.inRounds('requeueWhere', limit, () => requeued.length, scope, async (wanted, write) => {
      const candidates = await this.candidates(write, selector, REQUEUEABLE, wanted, false);
      for (const group of groups(candidates, await this.reachable(write, candidates, this.reachedByRevivalSql))) {
        for (const outcome of await this.transitions.requeueMany(write, group)) requeued.push(outcome.task);
      }
      return candidates.length;
    });
    return requeued;
  }

  async cancelWhere(selector: TaskSelector, error: TaskError, limit: number, scope: WriteScope): Promise<{ changed: number; ended: TaskRecord[] }> {
    const reason = JSON.stringify(error);
    const ended: TaskRecord[] = [];
    let changed = 0;
    await this.inRounds('cancelWhere', limit, () => changed, scope, async (wanted, write) => {
      const candidates = await this.candidates(write, selector, LIVE_TASK_STATUSES, wanted, true);
      for (const group of groups(candidates, await this.reachable(write, candidates, this.reachedByCascadeSql))) {
        for (const outcome of await this.transitions.cancelMany(write, group, reason)) {
          changed += 1;
          for (const task of outcome.ended) ended.push(task);
        }
      }
      return candidates.length;
    });
    return { changed, ended };
  }

  /**
   * Runs rounds, a transaction each, until the call changed `limit` tasks or a round found fewer
   * candidates than it wanted. A round's candidates may include tasks an earlier candidate's
   * cascade already changed; the next round reads afresh. `round` returns how many it found.
   */
  private async inRounds(
    operation: string,
    limit: number,
    changed: () => number,
    scope: WriteScope,
    round: (wanted: number, write: PostgresWrite) => Promise<number>,
  ): Promise<void> {
    for (let wanted = Math.min(ROUND_ROWS, limit); wanted > 0; wanted = Math.min(ROUND_ROWS, limit - changed())) {
      if ((await this.writer.write({ operation }, (write) => round(wanted, write), scope)) < wanted) return;
    }
  }

  /**
   * Up to `limit` tasks matching `selector` with a status among `allowed`, oldest first (enqueue
   * order); running tasks already asked to cancel are left out when `skipAsked`.
   */
  private async candidates(
    write: PostgresWrite,
    selector: TaskSelector,
    allowed: readonly TaskStatus[],
    limit: number,
    skipAsked: boolean,
  ): Promise<CandidateRow[]> {
    const filter = where(selector, allowed);
    if (filter === undefined) return [];
    const { terms, params } = filter;
    if (skipAsked) terms.push(`NOT (status = 'running' AND cancel_requested_at IS NOT NULL)`);
    params.push(limit);
    return write.query<CandidateRow>(
      `SELECT id, seq FROM ${this.connection.tables.tasks} WHERE ${terms.join(' AND ')} ORDER BY seq LIMIT $${params.length}`,
      params,
    );
  }

  /** The candidates another candidate's change may reach (`sql`: the cascade's or the revival's), by seq. */
  private async reachable(write: PostgresWrite, candidates: readonly CandidateRow[], sql: string): Promise<Set<number>> {
    if (candidates.length < 2) return new Set();
    const rows = await write.query<{ seq: number }>(sql, [candidates.map((candidate) => candidate.seq)]);
    return new Set(rows.map((row) => row.seq));
  }
}
