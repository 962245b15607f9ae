import { OmniQError } from '../../errors/omniq.errors.js';
import type { TaskListFilter } from '../../storage/task-queue.store.js';
import type { PostgresTables } from './postgres-tables.js';

/** The seq a `list` cursor names; throws naming the cursor when it is not one this store handed out. */
function cursorSeq(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw new OmniQError(`"${cursor}" is not a task list cursor; pass a page's nextCursor as \`after\``);
  return Number(cursor);
}

const where = (terms: readonly string[]): string => (terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '');

/** A `list` call as one statement, or nothing to read when its statuses are an empty list (nothing matches). */
export interface ListStatement {
  readonly sql: string;
  readonly params: unknown[];
}

/**
 * The statement of a `list` page: the page (one row more, which tells whether there is a next)
 * and its total, from one snapshot. Rows come back as `page_total`, `page_deltas` (the delta
 * rows summed) and the task's columns, all null when the page is empty.
 *
 * The total sums the `task_counts` deltas of the filter's queue, name and statuses: no count of
 * the tasks themselves. The page reads the tasks in enqueue order (seq) through an index that
 * keeps that order for the filter: `status = $1` rather than `= ANY(…)` for one status, so the
 * (status, seq) and (queue, status, seq) indexes serve it; for several statuses, a branch per
 * status, each limited to the rows the page can need, merged by seq. A `status = ANY(…)` would
 * leave the planner walking the whole table in seq order when the statuses asked for are rare
 * among a million finished tasks.
 */
export function listStatement(tables: PostgresTables, filter: TaskListFilter, offset: number, limit: number): ListStatement | undefined {
  const after = filter.after === undefined ? undefined : cursorSeq(filter.after);
  const asked = filter.status === undefined ? undefined : typeof filter.status === 'string' ? [filter.status] : [...new Set(filter.status)];
  if (asked?.length === 0) return undefined;
  const params: unknown[] = [];
  const param = (value: unknown, type: string): string => {
    params.push(value);
    return `$${params.length}::${type}`;
  };
  const shared: string[] = [];
  if (filter.queue !== undefined) shared.push(`queue = ${param(filter.queue, 'text')}`);
  if (filter.name !== undefined) shared.push(`name = ${param(filter.name, 'text')}`);
  const totalTerms = asked === undefined ? shared : [...shared, `status = ANY(${param(asked, 'text[]')})`];
  const pageTerms = after === undefined ? shared : [...shared, `seq > ${param(after, 'bigint')}`];
  const rows = param(limit + 1, 'bigint');
  const skip = param(offset, 'bigint');
  const { tasks, taskCounts } = tables;
  let matched: string;
  if (asked === undefined || asked.length === 1) {
    const terms = asked === undefined ? pageTerms : [...pageTerms, `status = ${param(asked[0], 'text')}`];
    matched = `SELECT * FROM ${tasks} ${where(terms)}`;
  } else {
    const branches = asked.map(
      (status) => `(SELECT * FROM ${tasks} ${where([...pageTerms, `status = ${param(status, 'text')}`])} ORDER BY seq LIMIT ${rows} + ${skip})`,
    );
    matched = `SELECT * FROM (${branches.join(' UNION ALL ')}) AS matched`;
  }
  return {
    sql: `WITH page AS (
        ${matched} ORDER BY seq LIMIT ${rows} OFFSET ${skip}
      ), total AS (
        SELECT COALESCE(sum(delta), 0) AS page_total, count(*) AS page_deltas FROM ${taskCounts} ${where(totalTerms)}
      )
      SELECT total.page_total, total.page_deltas, page.* FROM total LEFT JOIN page ON true ORDER BY page.seq`,
    params,
  };
}
