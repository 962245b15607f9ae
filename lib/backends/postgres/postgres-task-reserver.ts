import type { LoggerService } from '@nestjs/common';
import type { TaskRecord } from '../../models/task.model.js';
import { damagedError } from '../../storage/outcomes.js';
import { WRITE_NOTHING, type ReserveRequest } from '../../storage/task-queue.store.js';
import type { PostgresConnection } from './postgres-connection.js';
import { CLEAR_LEASE, COMMIT_WITHOUT_FLUSH, HELD_KEY_AT_END, WAITING_SQL } from './postgres-task-write-sql.js';
import { taskFromRow, type TaskRow } from './postgres-task-row.js';
import type { PostgresWriter } from './postgres-writer.js';

/** A claimed row as it is now, with the `started_at` it had before the claim (restored when it is set aside). */
type ClaimedRow = TaskRow & { prior_started_at: number | null };

/** The most a `maxLapsed` can mean: no limit. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;
/** Parameters every claim statement takes first; the task names and the queues follow. */
const FIXED_PARAMS = 7;

/** Reserve order within a queue, as the tasks_ready index keeps it: priority (higher first), runAt, enqueue order. */
const withinQueue = (a: TaskRow, b: TaskRow): number => b.priority - a.priority || a.run_at - b.run_at || a.seq - b.seq;

/**
 * Hands tasks out under leases with one autocommitted statement: per queue, in the order asked,
 * an index scan of `tasks_ready` (waiting, unblocked tasks only, however many finished ones the
 * table holds) locks due rows `FOR UPDATE SKIP LOCKED`, a running count passes over lapsed tasks
 * beyond `maxLapsed`, and the first `limit` rows left are leased and returned. Rows stream
 * through the plan, so a scan stops as soon as the call is full, and a later queue's scan never
 * starts when an earlier queue filled it: the queues' scans are the branches of one UNION ALL,
 * which PostgreSQL runs one after the other (row-locking plans are never parallel).
 *
 * The claim commits without waiting for the disk (see COMMIT_WITHOUT_FLUSH): a server crash
 * within a moment of it may undo it, and the task is then waiting again, its first holder's token
 * unknown — a lost lease, which the holder learns at its next renewal or settle, as after a lapse.
 *
 * A claimed row whose record cannot be read (see taskFromRow) is set aside in a second write:
 * ended failed with a DamagedTaskError, its dependents left waiting, logged once. A row whose
 * status is no status is outside `tasks_ready`, so it is never claimed at all.
 */
export class PostgresTaskReserver {
  private readonly statements = new Map<string, string>();

  constructor(
    private readonly connection: PostgresConnection,
    private readonly writer: PostgresWriter,
    private readonly logger: LoggerService,
  ) {}

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    const queues = [...new Set(request.queues)];
    const names = request.names === undefined ? undefined : [...new Set(request.names)];
    if (queues.length === 0 || request.limit <= 0 || names?.length === 0) return [];
    const now = request.now?.getTime() ?? Date.now();
    const maxLapsed = request.maxLapsed === undefined || !Number.isFinite(request.maxLapsed) ? NO_LIMIT : request.maxLapsed;
    // LIMIT NULL is no limit.
    const limit = Number.isFinite(request.limit) ? Math.floor(request.limit) : null;
    // With a lapse limit, a queue's scan may pass over as many suspects as the call takes tasks.
    const scan = maxLapsed === NO_LIMIT || limit === null ? limit : 2 * limit;
    const params: unknown[] = [now, limit, request.lapsedFrom ?? 1, maxLapsed, request.workerId, now + request.leaseMs, scan];
    if (names !== undefined) params.push(names);
    params.push(...queues);
    const rows = await this.connection.db.query<ClaimedRow>(this.claimStatement(queues.length, names !== undefined), params, { operation: 'reserve' });
    if (rows.length === 0) return [];
    const position = new Map(queues.map((queue, index) => [queue, index]));
    rows.sort((a, b) => position.get(a.queue)! - position.get(b.queue)! || withinQueue(a, b));
    const reserved: TaskRecord[] = [];
    const damaged: Array<{ row: ClaimedRow; record: TaskRecord }> = [];
    for (const row of rows) {
      const record = taskFromRow(row);
      if (record.damaged === undefined) reserved.push(record);
      else damaged.push({ row, record });
    }
    if (damaged.length > 0) await this.setAside(damaged, now);
    return reserved;
  }

  /**
   * Ends claimed tasks that cannot run as stored failed with a DamagedTaskError (attempts and
   * startedAt as before the claim), without touching their dependents, and logs each once the
   * write committed. A failure here leaves the other tasks of the call theirs: it is logged, and
   * the damaged tasks stay claimed under a lease nobody renews, so they come back after a
   * reclaim and are set aside then.
   */
  private async setAside(damaged: ReadonlyArray<{ row: ClaimedRow; record: TaskRecord }>, now: number): Promise<void> {
    const records = damaged.map(({ record }) => record);
    try {
      await this.writer.write(
        { operation: 'reserve (setting damaged tasks aside)', tasks: records },
        async (write) => {
          await write.query(
            `UPDATE ${this.connection.tables.tasks} AS t SET status = 'failed', completed_at = $1, updated_at = $1,
              attempts = t.attempts - 1, started_at = d.started_at, last_error = d.error, held_key = ${HELD_KEY_AT_END}, ${CLEAR_LEASE}
              FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[]) AS d(seq, token, started_at, error)
              WHERE t.seq = ANY($2::bigint[]) AND t.seq = d.seq AND t.status = 'running' AND t.lease_token = d.token`,
            [
              now,
              damaged.map(({ row }) => row.seq),
              damaged.map(({ row }) => row.lease_token),
              damaged.map(({ row }) => row.prior_started_at),
              damaged.map(({ record }) => JSON.stringify(damagedError(record.damaged!))),
            ],
          );
          write.afterCommit(() => {
            for (const { id, name, queue, damaged: damage } of records) {
              this.logger.error(`Task ${id} (${name}, queue ${queue}) is damaged: ${damage}; it was set aside and never runs`);
            }
          });
        },
        WRITE_NOTHING,
        now,
      );
    } catch (error) {
      this.logger.error(
        `Tasks ${records.map((record) => record.id).join(', ')} are damaged (${records[0]!.damaged}) and could not be set aside yet: ` +
          `${(error as Error).message ?? String(error)}; they are retried after their lease lapses`,
      );
    }
  }

  /**
   * The claim statement for `queues` queues, with or without a name filter. Parameters: $1 now,
   * $2 limit, $3 lapsedFrom, $4 maxLapsed, $5 worker id, $6 lease expiry, $7 the most rows one
   * queue's scan locks, then the names (an array) when filtered, then one per queue. `suspects`
   * counts, in claim order, the locked rows that lapsed `lapsedFrom` times or more; those past
   * `maxLapsed` stay waiting (their row locks end with the statement).
   *
   * The scans stop early anyway (rows are pulled only while the call is not full); their LIMIT
   * is what tells the planner so: without it, a CTE is planned to return every due row, and where
   * most of the table is due a sequential scan and a sort of all of it looks cheaper than the index.
   * The update finds the picked rows by their `ctid` (a TID scan, the one plan for it) rather than
   * by a join or `seq = ANY(…)`: with statistics that say the table is empty (an ANALYZE while its
   * rows were dead but not yet removable, behind a long transaction), the planner estimates one
   * row everywhere, and then may put the whole table outside a join, rescanning the picked rows
   * for each of its rows (measured: 1.9 s for 100 tasks of 20,000), or read `seq = ANY(…)` off a
   * whole other index (0.16 s). The rows are locked, so their ctid holds until the update; a row
   * locked in a version newer than the statement's snapshot is not visible to the TID scan and
   * simply stays waiting (it is claimed by a later call).
   */
  private claimStatement(queues: number, byName: boolean): string {
    const shape = `${queues}:${byName}`;
    let sql = this.statements.get(shape);
    if (sql !== undefined) return sql;
    const { tasks, pausedQueues } = this.connection.tables;
    const nameTerm = byName ? `AND name = ANY($${FIXED_PARAMS + 1}::text[])` : '';
    const branch = (index: number): string => {
      const queue = `$${FIXED_PARAMS + (byName ? 1 : 0) + index + 1}::text`;
      return `SELECT * FROM (
        SELECT ctid, seq, lapses, started_at FROM ${tasks}
        WHERE queue = ${queue} AND status IN ${WAITING_SQL} AND unmet = 0 AND run_at <= $1::bigint
          AND (expires_at IS NULL OR expires_at > $1::bigint) ${nameTerm}
          AND NOT EXISTS (SELECT 1 FROM ${pausedQueues} WHERE queue = ${queue})
        ORDER BY priority DESC, run_at, seq
        LIMIT $7::bigint
        FOR UPDATE SKIP LOCKED) AS q${index}`;
    };
    sql = `WITH candidates AS (
        ${Array.from({ length: queues }, (_, index) => branch(index)).join('\n        UNION ALL\n        ')}
      ), picked AS (
        SELECT ctid, seq, started_at FROM (
          SELECT ctid, seq, started_at, lapses >= $3::integer AS suspect,
            count(*) FILTER (WHERE lapses >= $3::integer) OVER (ROWS UNBOUNDED PRECEDING) AS suspects
          FROM candidates
        ) AS ranked
        WHERE NOT suspect OR suspects <= $4::bigint
        LIMIT $2::bigint
      )
      UPDATE ${tasks} AS t SET status = 'running', attempts = t.attempts + 1, started_at = $1::bigint, updated_at = $1::bigint,
        worker_id = $5::text, lease_token = gen_random_uuid()::text, lease_expires_at = $6::bigint
      WHERE t.ctid = ANY(ARRAY(SELECT ctid FROM picked)) AND ${COMMIT_WITHOUT_FLUSH}
      RETURNING t.*, (SELECT started_at FROM picked WHERE picked.seq = t.seq) AS prior_started_at`;
    this.statements.set(shape, sql);
    return sql;
  }
}
