import type { MigrationInterface, QueryRunner } from 'typeorm';
import type { SqliteTables } from '../sqlite-tables.js';
import { EVENTS_INDEXED_THROUGH } from '../sqlite-event-index.js';
import { FINAL_SQL, LIVE_SQL, WAITING_SQL } from '../sqlite-task-statuses.js';

/**
 * Tasks, their dependency edges, results and events. Times are epoch milliseconds; payloads and
 * values keep their codec format beside the encoded text; lists and errors are JSON text.
 *
 * A task's `ready` flag files it in the reserve indexes: 1 once it is due and unblocked (or its
 * lease lapsed), 0 otherwise. Reserve reads only ready rows in priority order, so tasks that are
 * delayed, blocked or leased cost nothing however many there are; the delayed and lease indexes
 * find the rows to flag when their time comes. A task is `blocked` while one of its edges in
 * `task_deps` is unmet: the parent has not succeeded (or, with onParentFailure `run`, not ended).
 *
 * `task_counts` keeps how many tasks each queue holds per status, so counts() never scans the
 * tasks; every write that adds, removes or moves tasks between statuses updates it in the same
 * transaction (see TaskCountChanges).
 *
 * Events are found by task through `events_by_task`, which is filled in bulk rather than per
 * append (see sqlite-event-index.ts); `meta` keeps how far it got. Event seqs never repeat
 * (AUTOINCREMENT), so that mark stays valid after purges.
 */
export class InitialSchema1795464000000 implements MigrationInterface {
  readonly name = 'InitialSchema1795464000000';

  constructor(private readonly tables: SqliteTables) {}

  async up(queryRunner: QueryRunner): Promise<void> {
    const { tasks, taskCounts, taskDeps, results, events, eventsByTask, meta, named } = this.tables;
    const statements = [
      `CREATE TABLE ${tasks} (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        priority INTEGER NOT NULL,
        payload_format TEXT NOT NULL,
        payload_data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        run_at INTEGER NOT NULL,
        max_retries INTEGER NOT NULL,
        retry_delay_ms INTEGER NOT NULL,
        retry_backoff TEXT NOT NULL,
        retry_max_delay_ms INTEGER NOT NULL,
        timeout_ms INTEGER,
        ttl_ms INTEGER,
        expires_at INTEGER,
        result_ttl_ms INTEGER,
        store_result INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        on_parent_failure TEXT NOT NULL,
        on_success TEXT,
        on_failure TEXT,
        tags TEXT NOT NULL,
        description TEXT,
        schedule_id TEXT,
        idempotency_key TEXT,
        dedupe_window_ms INTEGER,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        started_at INTEGER,
        completed_at INTEGER,
        updated_at INTEGER NOT NULL,
        last_error TEXT,
        cancel_requested_at INTEGER,
        worker_id TEXT,
        lease_token TEXT,
        lease_expires_at INTEGER,
        progress TEXT,
        ready INTEGER NOT NULL,
        blocked INTEGER NOT NULL
      )`,
      `CREATE INDEX ${named('tasks_ready_by_name')} ON ${tasks} (queue, name, priority DESC, run_at, seq) WHERE ready = 1`,
      `CREATE INDEX ${named('tasks_delayed')} ON ${tasks} (run_at) WHERE ready = 0 AND blocked = 0 AND status IN ${WAITING_SQL}`,
      `CREATE INDEX ${named('tasks_leases')} ON ${tasks} (lease_expires_at) WHERE ready = 0 AND status = 'running'`,
      `CREATE INDEX ${named('tasks_expiry')} ON ${tasks} (expires_at) WHERE expires_at IS NOT NULL AND status IN ${LIVE_SQL}`,
      `CREATE INDEX ${named('tasks_key')} ON ${tasks} (idempotency_key) WHERE idempotency_key IS NOT NULL`,
      `CREATE INDEX ${named('tasks_finished')} ON ${tasks} (completed_at) WHERE status IN ${FINAL_SQL}`,
      `CREATE TABLE ${taskCounts} (
        queue TEXT NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (queue, status)
      ) WITHOUT ROWID`,
      `CREATE TABLE ${taskDeps} (
        parent_id TEXT NOT NULL,
        child_seq INTEGER NOT NULL,
        run_on_failure INTEGER NOT NULL,
        met INTEGER NOT NULL,
        PRIMARY KEY (parent_id, child_seq)
      ) WITHOUT ROWID`,
      `CREATE INDEX ${named('task_deps_child')} ON ${taskDeps} (child_seq, met)`,
      `CREATE TABLE ${results} (
        task_id TEXT PRIMARY KEY NOT NULL,
        task_name TEXT NOT NULL,
        queue TEXT NOT NULL,
        status TEXT NOT NULL,
        value_format TEXT,
        value_data TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        completed_at INTEGER NOT NULL,
        duration_ms INTEGER,
        worker_id TEXT,
        attempts INTEGER NOT NULL,
        schedule_id TEXT,
        expires_at INTEGER
      )`,
      `CREATE INDEX ${named('results_schedule')} ON ${results} (schedule_id, completed_at) WHERE schedule_id IS NOT NULL`,
      `CREATE INDEX ${named('results_expiry')} ON ${results} (expires_at) WHERE expires_at IS NOT NULL`,
      `CREATE TABLE ${events} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        timestamp INTEGER NOT NULL,
        task_id TEXT,
        task_name TEXT,
        queue TEXT,
        schedule_id TEXT,
        worker_id TEXT,
        attempt INTEGER,
        duration_ms INTEGER,
        message TEXT,
        error TEXT,
        data TEXT
      )`,
      `CREATE INDEX ${named('events_time')} ON ${events} (timestamp)`,
      `CREATE TABLE ${eventsByTask} (
        task_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (task_id, seq)
      ) WITHOUT ROWID`,
      `CREATE TABLE ${meta} (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID`,
      `INSERT INTO ${meta} (name, value) VALUES ('${EVENTS_INDEXED_THROUGH}', 0)`,
      `CREATE INDEX ${named('events_schedule')} ON ${events} (schedule_id) WHERE schedule_id IS NOT NULL`,
    ];
    for (const sql of statements) await queryRunner.query(sql);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const { tasks, taskCounts, taskDeps, results, events, eventsByTask, meta } = this.tables;
    for (const table of [meta, eventsByTask, events, results, taskDeps, taskCounts, tasks]) await queryRunner.query(`DROP TABLE ${table}`);
  }
}
