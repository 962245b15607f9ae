import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sqliteTables } from '../../lib/backends/sqlite/sqlite-tables.js';
import { describeEngineConformance, type DamageField } from '../../lib/testing/index.js';
import { context, folderTarget, loadSqlite } from './targets.js';

const DATABASE = 'omniq.db';

/** What each damage case writes straight into the task's row: a status that is no status, a time that is no number, invalid JSON, a codec no one has. */
const GARBAGE: Readonly<Record<DamageField, Readonly<Record<string, string>>>> = {
  status: { status: 'zzz' },
  runAt: { run_at: 'not a date' },
  tags: { tags: '{not json' },
  dependsOn: { depends_on: '{not json' },
  lastError: { last_error: '{not json' },
  payload: { payload_format: 'bogus', payload_data: '{not json' },
};

/** Damages the row as another program would: its own connection on the file, past OmniQ's stores. */
async function damage({ dir }: { dir: string }, taskId: string, field: DamageField): Promise<void> {
  const db = new Database(join(dir, DATABASE));
  try {
    db.pragma('busy_timeout = 5000');
    const columns = Object.entries(GARBAGE[field]);
    const { tasks } = sqliteTables(context(dir).projectName);
    const changed = db
      .prepare(`UPDATE ${tasks} SET ${columns.map(([column]) => `${column} = ?`).join(', ')} WHERE id = ?`)
      .run(...columns.map(([, value]) => value), taskId).changes;
    if (changed !== 1) throw new Error(`damage(): no task ${taskId} in ${join(dir, DATABASE)}`);
  } finally {
    db.close();
  }
}

describeEngineConformance(folderTarget('sqlite', loadSqlite, (dir) => `sqlite://${join(dir, DATABASE)}`, damage));
