/**
 * Status lists as SQL. SQLite uses a partial index only when the query repeats the index's WHERE
 * terms, so the migrations and the queries both take these exact strings. They are spelled out
 * rather than derived from the model's lists: an index definition must not change once migrated.
 */
export const WAITING_SQL = `('pending', 'scheduled', 'retrying')`;
export const LIVE_SQL = `('pending', 'scheduled', 'retrying', 'running')`;
export const FINAL_SQL = `('success', 'failed', 'cancelled', 'expired')`;
export const REQUEUEABLE_SQL = `('failed', 'cancelled', 'expired')`;
