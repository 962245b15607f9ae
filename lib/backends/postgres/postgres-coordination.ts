import type { Coordination, Leadership } from '../../storage/coordination.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { PostgresConnection } from './postgres-connection.js';
import type { PostgresDb } from './postgres-db.js';

/**
 * Leases in `<project>_leases`, shared by every engine on the schema. A try is one statement:
 * insert the lease, or take it over when it lapsed, or renew it for its holder, and otherwise
 * leave it (the row lock of the upsert orders racing tries, and each sees the outcome of the one
 * before), so two instances never both lead. Times are the caller's clock, as in every backend.
 * A resign lets the lease lapse at once but keeps the row, so the fence goes on growing from
 * where it was when the next holder takes over.
 */
export class PostgresCoordination implements Coordination {
  private readonly db: PostgresDb;
  private readonly take: string;
  private readonly select: string;
  private readonly lapse: string;
  private readonly lifecycle = new StoreLifecycle('PostgresCoordination');

  constructor(connection: PostgresConnection) {
    const { leases } = connection.tables;
    this.db = connection.db;
    // A renewal keeps the term's fence; a new holder starts the next term.
    this.take = `INSERT INTO ${leases} AS lease (name, holder, expires_at, fence) VALUES ($1, $2, $3, 1)
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at,
        fence = CASE WHEN lease.holder = EXCLUDED.holder THEN lease.fence ELSE lease.fence + 1 END
      WHERE lease.holder = EXCLUDED.holder OR lease.expires_at <= $4
      RETURNING fence`;
    this.select = `SELECT holder, fence FROM ${leases} WHERE name = $1`;
    this.lapse = `UPDATE ${leases} SET expires_at = 0 WHERE name = $1 AND holder = $2`;
  }

  async tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership> {
    this.lifecycle.assertOpen('tryLead');
    const call = { operation: `tryLead("${name}")` };
    return this.lifecycle.whileOpen('tryLead', async () => {
      const now = Date.now();
      const [taken] = await this.db.query<{ fence: number }>(this.take, [name, holder, now + ttlMs, now], call);
      if (taken !== undefined) return { leader: true, fence: taken.fence, holder };
      // Another holder's live lease: who (read after the try, so it is at least as new).
      const [current] = await this.db.query<{ holder: string; fence: number }>(this.select, [name], call);
      return { leader: false, fence: current!.fence, holder: current!.holder };
    });
  }

  async resign(name: string, holder: string): Promise<void> {
    this.lifecycle.assertOpen('resign');
    await this.lifecycle.whileOpen('resign', () => this.db.query(this.lapse, [name, holder], { operation: `resign("${name}")` }));
  }

  close(): void {
    this.lifecycle.close();
  }
}
