import type { Coordination, Leadership } from '../../storage/coordination.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { SqliteDatabase, SqliteStatement } from './sqlite-database.types.js';
import type { SqliteLocks } from './sqlite-locks.js';
import type { SqliteTables } from './sqlite-tables.js';

/**
 * Leases in `<project>_leases`, shared by every connection on the file. A try is one
 * `BEGIN IMMEDIATE` transaction (read the lease, then take, renew or leave it), so two instances
 * never both lead. A resign lets the lease lapse at once but keeps the row, so the fence goes on
 * growing from where it was when the next holder takes over.
 */
export class SqliteCoordination implements Coordination {
  private readonly select: SqliteStatement<unknown[]>;
  private readonly insert: SqliteStatement;
  private readonly update: SqliteStatement;
  private readonly lapse: SqliteStatement;
  private readonly tryLeadOnce: (name: string, holder: string, ttlMs: number) => Leadership;

  private readonly lifecycle = new StoreLifecycle('SqliteCoordination');

  constructor(
    db: SqliteDatabase,
    { leases }: SqliteTables,
    private readonly locks: SqliteLocks,
  ) {
    this.select = db.prepare(`SELECT holder, expires_at, fence FROM ${leases} WHERE name = ?`).raw(true);
    this.insert = db.prepare(`INSERT INTO ${leases} (name, holder, expires_at, fence) VALUES (?, ?, ?, 1)`);
    this.update = db.prepare(`UPDATE ${leases} SET holder = ?, expires_at = ?, fence = ? WHERE name = ?`);
    this.lapse = db.prepare(`UPDATE ${leases} SET expires_at = 0 WHERE name = ? AND holder = ?`);
    this.tryLeadOnce = locks.transaction(db, { operation: 'tryLead' }, (name: string, holder: string, ttlMs: number) =>
      this.take(name, holder, ttlMs),
    );
  }

  async tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership> {
    this.lifecycle.assertOpen('tryLead');
    return this.locks.run({ operation: `tryLead("${name}")` }, () => this.tryLeadOnce(name, holder, ttlMs));
  }

  async resign(name: string, holder: string): Promise<void> {
    this.lifecycle.assertOpen('resign');
    await this.locks.run({ operation: `resign("${name}")` }, () => this.lapse.run(name, holder));
  }

  close(): void {
    this.lifecycle.close();
  }

  private take(name: string, holder: string, ttlMs: number): Leadership {
    const now = Date.now();
    const row = this.select.get(name) as [holder: string, expiresAt: number, fence: number] | undefined;
    if (row === undefined) {
      this.insert.run(name, holder, now + ttlMs);
      return { leader: true, fence: 1, holder };
    }
    const [current, expiresAt, fence] = row;
    if (current !== holder && expiresAt > now) return { leader: false, fence, holder: current };
    // A renewal keeps the term's fence; a new holder starts the next term.
    const term = current === holder ? fence : fence + 1;
    this.update.run(holder, now + ttlMs, term, name);
    return { leader: true, fence: term, holder };
  }
}
