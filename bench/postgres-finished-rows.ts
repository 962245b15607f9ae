import { postgresTables } from '../lib/backends/postgres/postgres-tables.js';
import { median } from './bench-figures.js';
import { drainApp, withApp, type BenchStore } from './bench-omniq.js';
import { POSTGRES_URL, sql, withSchema } from './postgres-schemas.js';

export const FINISHED_ROWS = 1_000_000;

/**
 * Gives a project's tasks table the history of a long-running deployment: `FINISHED_ROWS` tasks
 * that succeeded (completed in the last FINISHED_ROWS ms), written by one INSERT … SELECT; then
 * VACUUM ANALYZE, as autovacuum would have run by then.
 */
async function fillWithFinished(schema: string): Promise<void> {
  const { tasks } = postgresTables(schema, 'omniq');
  await sql(
    `INSERT INTO ${tasks} (id, name, queue, priority, payload_format, payload_data, created_at, run_at, max_retries, retry_delay_ms,
       retry_backoff, retry_max_delay_ms, store_result, depends_on, on_parent_failure, tags, status, attempts, started_at, completed_at, updated_at)
     SELECT 'finished-' || n, 'bench.noop', 'default', 0, 'omniq-json/1', '{}', $2 - n, $2 - n, 0, 1000,
       'exponential', 60000, true, '[]', 'cancel', '[]', 'success', 1, $2 - n, $2 - n, $2 - n
     FROM generate_series(1, $1::bigint) AS n`,
    [FINISHED_ROWS, Date.now()],
  );
  await sql(`VACUUM ANALYZE ${tasks}`);
}

export interface FinishedRowsDrains {
  /** Median drain rate on a tasks table empty at the start of each run. */
  empty: number;
  /** Median drain rate beside FINISHED_ROWS finished tasks. */
  full: number;
  lossPercent: number;
}

/**
 * Reserve and settle beside a million finished rows, against the same drain on an empty table:
 * runs alternate between the two so the machine's drift hits both alike. The empty runs each get
 * a new schema; the full one is filled once (its own drains then add to it).
 */
export async function finishedRowsDrains(jobs: number, concurrency: number, runs: number): Promise<FinishedRowsDrains> {
  const store = (schema: string): BenchStore => ({ backend: POSTGRES_URL, storageOptions: { schema } });
  return withSchema('omniq_bench', async (fullSchema) => {
    const empty: number[] = [];
    const full: number[] = [];
    for (let run = 0; run < runs; run++) {
      const emptyRun = await withSchema('omniq_bench', (schema) => withApp(store(schema), concurrency, false, (app) => drainApp(app, jobs)));
      empty.push(emptyRun.drainPerSecond);
      const fullRun = await withApp(store(fullSchema), concurrency, false, async (app) => {
        if (run === 0) await fillWithFinished(fullSchema);
        return drainApp(app, jobs);
      });
      full.push(fullRun.drainPerSecond);
    }
    const [emptyMedian, fullMedian] = [median(empty), median(full)];
    return { empty: emptyMedian, full: fullMedian, lossPercent: Math.round((1 - fullMedian / emptyMedian) * 1000) / 10 };
  });
}
