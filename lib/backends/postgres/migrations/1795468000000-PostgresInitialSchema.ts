import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { PostgresTables } from '../postgres-tables.js';

const WAITING = `('pending', 'scheduled', 'retrying')`;
const LIVE = `('pending', 'scheduled', 'running', 'retrying')`;
const FINAL = `('success', 'failed', 'cancelled', 'expired')`;

/**
 * OmniQ's tables for one project in one schema. Times are epoch milliseconds (`bigint`), so the
 * stores compare them with the caller's clock as every backend does; payloads, values and free
 * text stay `text` (jsonb rejects `\u0000` and reorders keys), lists and errors are JSON text.
 *
 * - `tasks.unmet`: how many of the task's dependency edges (`task_deps`) are not met yet. Reserve
 *   reads only waiting rows with none, through `tasks_ready` (queue, priority, due time, FIFO),
 *   a partial index that finished tasks never enter, however many there are.
 * - `tasks.has_dependents`: set once a dependency edge names the task as parent (at the child's
 *   enqueue, under the parent's row lock), never cleared: a settle of tasks without it needs no
 *   look at the edges, so it is one statement.
 * - `tasks.held_key`: the idempotency key while the task holds it (live, or ended less than its
 *   dedupe window ago); the unique index on it makes two concurrent enqueues with one key create
 *   one task, whatever their isolation.
 * - `task_counts`: count deltas per queue, name and status, appended by statement triggers on the
 *   tasks table (one row per group a statement changes, never an update of a shared row, so
 *   concurrent writers do not queue on a counter); reads sum them, and the maintenance purge folds
 *   them back into one row per group.
 * - `events`: found by task, schedule, type and time through their own indexes.
 */
export class PostgresInitialSchema1795468000000 implements MigrationInterface {
  readonly name = 'PostgresInitialSchema1795468000000';

  constructor(private readonly tables: PostgresTables) {}

  async up(queryRunner: QueryRunner): Promise<void> {
    const { tasks, taskCounts, taskDeps, results, events, schedules, pausedQueues, leases, named, qualified } = this.tables;
    const countsOf = (source: string, delta: number): string =>
      `SELECT queue, name, status, ${delta} * count(*) FROM ${source} GROUP BY queue, name, status`;
    const statements = [
      `CREATE TABLE ${tasks} (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL,
        name text NOT NULL,
        queue text NOT NULL,
        priority integer NOT NULL,
        payload_format text NOT NULL,
        payload_data text NOT NULL,
        created_at bigint NOT NULL,
        run_at bigint NOT NULL,
        max_retries integer NOT NULL,
        retry_delay_ms bigint NOT NULL,
        retry_backoff text NOT NULL,
        retry_max_delay_ms bigint NOT NULL,
        timeout_ms bigint,
        ttl_ms bigint,
        expires_at bigint,
        result_ttl_ms bigint,
        store_result boolean NOT NULL,
        depends_on text NOT NULL,
        on_parent_failure text NOT NULL,
        on_success text,
        on_failure text,
        tags text NOT NULL,
        description text,
        schedule_id text,
        idempotency_key text,
        held_key text,
        dedupe_window_ms bigint,
        status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        lapses integer NOT NULL DEFAULT 0,
        started_at bigint,
        completed_at bigint,
        updated_at bigint NOT NULL,
        last_error text,
        cancel_requested_at bigint,
        cancelled_by text,
        worker_id text,
        lease_token text,
        lease_expires_at bigint,
        progress text,
        unmet integer NOT NULL DEFAULT 0,
        has_dependents boolean NOT NULL DEFAULT false
      )`,
      `CREATE UNIQUE INDEX ${named('tasks_id')} ON ${tasks} (id)`,
      `CREATE INDEX ${named('tasks_ready')} ON ${tasks} (queue, priority DESC, run_at, seq) WHERE status IN ${WAITING} AND unmet = 0`,
      `CREATE INDEX ${named('tasks_delayed')} ON ${tasks} (run_at) WHERE status IN ('scheduled', 'retrying')`,
      `CREATE INDEX ${named('tasks_leases')} ON ${tasks} (lease_expires_at) WHERE status = 'running'`,
      `CREATE INDEX ${named('tasks_expiry')} ON ${tasks} (expires_at) WHERE expires_at IS NOT NULL AND status IN ${LIVE}`,
      `CREATE INDEX ${named('tasks_finished')} ON ${tasks} (completed_at) WHERE status IN ${FINAL}`,
      `CREATE INDEX ${named('tasks_cancelled_by')} ON ${tasks} (cancelled_by) WHERE cancelled_by IS NOT NULL`,
      `CREATE UNIQUE INDEX ${named('tasks_held_key')} ON ${tasks} (held_key) WHERE held_key IS NOT NULL`,
      `CREATE INDEX ${named('tasks_by_name')} ON ${tasks} (name, seq)`,
      `CREATE INDEX ${named('tasks_by_queue_status')} ON ${tasks} (queue, status, seq)`,
      `CREATE INDEX ${named('tasks_by_status')} ON ${tasks} (status, seq)`,
      `CREATE TABLE ${taskDeps} (
        parent_id text NOT NULL,
        child_seq bigint NOT NULL,
        run_on_failure boolean NOT NULL,
        met boolean NOT NULL DEFAULT false,
        PRIMARY KEY (parent_id, child_seq)
      )`,
      `CREATE INDEX ${named('task_deps_child')} ON ${taskDeps} (child_seq)`,
      `CREATE TABLE ${taskCounts} (queue text NOT NULL, name text NOT NULL, status text NOT NULL, delta bigint NOT NULL)`,
      `CREATE FUNCTION ${qualified('count_inserted')}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${taskCounts} (queue, name, status, delta) ${countsOf('new_rows', 1)};
        RETURN NULL;
      END $$`,
      `CREATE FUNCTION ${qualified('count_deleted')}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${taskCounts} (queue, name, status, delta) ${countsOf('old_rows', -1)};
        RETURN NULL;
      END $$`,
      // No join of old and new rows: PL/pgSQL caches the plan of its first call on a connection,
      // and a join planned for one row runs as a nested loop, quadratic on a big update later.
      // A row whose status did not change adds -1 and +1 to the same group, which cancel out.
      `CREATE FUNCTION ${qualified('count_updated')}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO ${taskCounts} (queue, name, status, delta)
        SELECT queue, name, status, sum(delta) FROM (
          SELECT queue, name, status, -1 AS delta FROM old_rows
          UNION ALL
          SELECT queue, name, status, 1 AS delta FROM new_rows
        ) changes GROUP BY queue, name, status HAVING sum(delta) <> 0;
        RETURN NULL;
      END $$`,
      `CREATE TRIGGER ${named('tasks_count_inserted')} AFTER INSERT ON ${tasks} REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION ${qualified('count_inserted')}()`,
      `CREATE TRIGGER ${named('tasks_count_deleted')} AFTER DELETE ON ${tasks} REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION ${qualified('count_deleted')}()`,
      `CREATE TRIGGER ${named('tasks_count_updated')} AFTER UPDATE ON ${tasks} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION ${qualified('count_updated')}()`,
      `CREATE TABLE ${results} (
        task_id text PRIMARY KEY,
        task_name text NOT NULL,
        queue text NOT NULL,
        status text NOT NULL,
        value_format text,
        value_data text,
        error text,
        created_at bigint NOT NULL,
        started_at bigint,
        completed_at bigint NOT NULL,
        duration_ms bigint,
        worker_id text,
        attempts integer NOT NULL,
        schedule_id text,
        expires_at bigint
      )`,
      `CREATE INDEX ${named('results_schedule')} ON ${results} (schedule_id, completed_at) WHERE schedule_id IS NOT NULL`,
      `CREATE INDEX ${named('results_expiry')} ON ${results} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE INDEX ${named('results_completed')} ON ${results} (completed_at)`,
      `CREATE TABLE ${events} (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id text NOT NULL,
        type text NOT NULL,
        timestamp bigint NOT NULL,
        task_id text,
        task_name text,
        queue text,
        schedule_id text,
        worker_id text,
        attempt integer,
        duration_ms bigint,
        message text,
        error text,
        data text
      )`,
      `CREATE INDEX ${named('events_time')} ON ${events} (timestamp, seq)`,
      `CREATE INDEX ${named('events_task')} ON ${events} (task_id, timestamp, seq) WHERE task_id IS NOT NULL`,
      `CREATE INDEX ${named('events_schedule')} ON ${events} (schedule_id, timestamp, seq) WHERE schedule_id IS NOT NULL`,
      `CREATE INDEX ${named('events_type')} ON ${events} (type, timestamp, seq)`,
      `CREATE TABLE ${schedules} (
        id text PRIMARY KEY,
        kind text NOT NULL,
        cron text,
        tz text,
        every_ms bigint,
        at bigint,
        task_name text NOT NULL,
        queue text,
        priority integer,
        payload_format text NOT NULL,
        payload_data text NOT NULL,
        max_runs integer,
        start_at bigint,
        end_at bigint,
        missed text NOT NULL,
        overlap boolean NOT NULL,
        source text NOT NULL,
        spec_hash text NOT NULL,
        status text NOT NULL,
        next_run_at bigint,
        last_run_at bigint,
        run_count integer NOT NULL,
        last_task_id text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        paused_at bigint
      )`,
      `CREATE INDEX ${named('schedules_due')} ON ${schedules} (next_run_at) WHERE status = 'active' AND next_run_at IS NOT NULL`,
      `CREATE TABLE ${pausedQueues} (queue text PRIMARY KEY, paused_at bigint NOT NULL)`,
      `CREATE TABLE ${leases} (name text PRIMARY KEY, holder text NOT NULL, expires_at bigint NOT NULL, fence bigint NOT NULL)`,
    ];
    for (const sql of statements) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const { tasks, taskCounts, taskDeps, results, events, schedules, pausedQueues, leases, qualified } = this.tables;
    for (const table of [leases, pausedQueues, schedules, events, results, taskCounts, taskDeps, tasks]) await queryRunner.query(`DROP TABLE ${table}`);
    for (const fn of ['count_inserted', 'count_deleted', 'count_updated']) await queryRunner.query(`DROP FUNCTION ${qualified(fn)}()`);
  }
}
