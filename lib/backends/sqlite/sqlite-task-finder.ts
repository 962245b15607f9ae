import { OmniQError } from '../../errors/omniq.errors.js';
import type { TaskRecord } from '../../models/task.model.js';
import type { Page, TaskListFilter, TaskSelector } from '../../storage/task-queue.store.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import { TASK_COLUMNS, taskColumn, taskFromRow, type TaskRow } from './sqlite-task-row.js';
import type { SqliteTables } from './sqlite-tables.js';
import { BOUND } from './sqlite-values.js';

const DEFAULT_PAGE_SIZE = 100;
const COLUMNS = TASK_COLUMNS.join(', ');

/** A selector as SQL: its terms and their parameters, the statuses narrowed to `allowed` when given. */
interface Where {
  terms: string[];
  params: unknown[];
  /** False when the selector's statuses and `allowed` have none in common: nothing can match. */
  satisfiable: boolean;
}

function where(selector: TaskSelector, allowed?: readonly string[]): Where {
  const terms: string[] = [];
  const params: unknown[] = [];
  const filterBy = (term: string, value: unknown): void => {
    terms.push(term);
    params.push(value);
  };
  if (selector.queue !== undefined) filterBy('queue = ?', selector.queue);
  if (selector.name !== undefined) filterBy('name = ?', selector.name);
  const asked = typeof selector.status === 'string' ? [selector.status] : selector.status;
  const statuses = allowed === undefined ? asked : asked === undefined ? allowed : asked.filter((status) => allowed.includes(status));
  if (statuses !== undefined) filterBy('status IN (SELECT value FROM json_each(?))', JSON.stringify(statuses));
  return { terms, params, satisfiable: statuses === undefined || statuses.length > 0 };
}

const clause = (terms: readonly string[]): string => (terms.length > 0 ? `WHERE ${terms.join(' AND ')}` : '');

/** The seq a `list` cursor names; throws naming the cursor when it is not one this store handed out. */
function cursorSeq(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw new OmniQError(`"${cursor}" is not a task list cursor; pass a page's nextCursor as \`after\``);
  return Number(cursor);
}

/**
 * The task queue's reads by selector: pages for `list`, the candidates of the bulk calls, and
 * `getMany`. Their SQL depends on which fields a call gives, so statements are prepared per
 * shape and kept.
 */
export class SqliteTaskFinder {
  private readonly statements = new Map<string, SqliteStatement<unknown[]>>();
  private readonly readPage: (filter: TaskListFilter) => Page<TaskRecord>;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly tables: SqliteTables,
  ) {
    // One read transaction, so the page and the total agree.
    this.readPage = db.transaction((filter: TaskListFilter) => this.page(filter));
  }

  list(filter: TaskListFilter): Page<TaskRecord> {
    return this.readPage(filter);
  }

  /**
   * Up to `limit` rows matching `selector` with a status among `allowed`, oldest first (enqueue
   * order); running tasks that were already asked to cancel are left out when `skipAsked`.
   */
  select(selector: TaskSelector, allowed: readonly string[], limit: number, skipAsked: boolean): TaskRow[] {
    const { terms, params, satisfiable } = where(selector, allowed);
    if (!satisfiable || limit <= 0) return [];
    if (skipAsked) terms.push(`NOT (status = 'running' AND cancel_requested_at IS NOT NULL)`);
    return this.statement(`SELECT ${COLUMNS} FROM ${this.tables.tasks} ${clause(terms)} ORDER BY seq LIMIT ${BOUND}`).all(...params, limit);
  }

  private page(filter: TaskListFilter): Page<TaskRecord> {
    const offset = filter.offset ?? 0;
    const limit = filter.limit ?? DEFAULT_PAGE_SIZE;
    const after = filter.after === undefined ? undefined : cursorSeq(filter.after);
    const { terms, params } = where(filter);
    const { tasks, taskCounts } = this.tables;
    // Without a name filter, the kept counts (same queue and status columns) give the total without a scan.
    const count = filter.name === undefined ? `SELECT COALESCE(SUM(count), 0) FROM ${taskCounts}` : `SELECT COUNT(*) FROM ${tasks}`;
    const [total] = this.statement(`${count} ${clause(terms)}`).get(...params) as [number];
    const pageTerms = after === undefined ? terms : [...terms, 'seq > ?'];
    const pageParams = after === undefined ? params : [...params, after];
    // One row more than the page tells whether there is a next page.
    const rows = this.statement(`SELECT ${COLUMNS} FROM ${tasks} ${clause(pageTerms)} ORDER BY seq LIMIT ${BOUND} OFFSET ${BOUND}`).all(
      ...pageParams,
      limit + 1,
      offset,
    );
    const last = rows.length > limit && limit > 0 ? rows[limit - 1] : undefined;
    const page: Page<TaskRecord> = { items: rows.slice(0, limit).map(taskFromRow), total, offset, limit };
    if (last !== undefined) page.nextCursor = String(taskColumn(last, 'seq'));
    return page;
  }

  private statement(sql: string): SqliteStatement<unknown[]> {
    let statement = this.statements.get(sql);
    if (statement === undefined) this.statements.set(sql, (statement = this.db.prepare(sql).raw(true)));
    return statement;
  }
}
