import { postgresTables } from '../../lib/backends/postgres/postgres-tables.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { describeEngineConformance, type ConformanceTarget, type DamageField } from '../../lib/testing/index.js';
import { describeOnPostgres, dropSchemas, freshSchema, postgresUrl, withPostgres } from '../support/postgres.js';
import { context, loadPostgres } from './targets.js';

/**
 * What each damage case writes straight into the task's row: a status that is no status, invalid
 * JSON, a codec no one has. The run time is a typed `bigint` column: PostgreSQL itself refuses
 * anything but a number there, so that damage cannot happen and is not tested.
 */
const GARBAGE: Readonly<Partial<Record<DamageField, Readonly<Record<string, string>>>>> = {
  status: { status: 'zzz' },
  tags: { tags: '{not json' },
  dependsOn: { depends_on: '{not json' },
  lastError: { last_error: '{not json' },
  payload: { payload_format: 'bogus', payload_data: '{not json' },
};

/** A schema of its own for each case; a peer opens the same URL again, as another process would. */
function postgresTarget(): ConformanceTarget {
  const schemas = new Map<StorageEngine, string>();
  const schemaOf = (engine: StorageEngine, call: string): string => {
    const schema = schemas.get(engine);
    if (!schema) throw new Error(`postgres: ${call}() got an engine this target did not open`);
    return schema;
  };
  const open = async (schema: string): Promise<StorageEngine> => (await loadPostgres()).open(postgresUrl(schema), context('.'));
  return {
    name: 'postgres',
    async open() {
      const schema = freshSchema();
      const engine = await open(schema);
      schemas.set(engine, schema);
      return engine;
    },
    openPeer: (engine) => open(schemaOf(engine, 'openPeer')),
    /** Damages the row as another program would: with a connection of its own, past OmniQ's stores. */
    async damage(engine, taskId, field) {
      const { tasks } = postgresTables(schemaOf(engine, 'damage'), context('.').projectName);
      const columns = Object.entries(GARBAGE[field]!);
      await withPostgres(async (client) => {
        const { rowCount } = await client.query(`UPDATE ${tasks} SET ${columns.map(([column], i) => `${column} = $${i + 1}`).join(', ')} WHERE id = $${columns.length + 1}`, [
          ...columns.map(([, value]) => value),
          taskId,
        ]);
        if (rowCount !== 1) throw new Error(`damage(): no task ${taskId} in ${tasks}`);
      });
    },
    damageFields: Object.keys(GARBAGE) as DamageField[],
    async cleanup() {
      const made = [...schemas.values()];
      schemas.clear();
      await dropSchemas(made);
    },
  };
}

describeOnPostgres('PostgreSQL', () => describeEngineConformance(postgresTarget()));
