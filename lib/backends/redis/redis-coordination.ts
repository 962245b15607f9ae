import type { Coordination, Leadership } from '../../storage/coordination.js';
import { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { RedisConnection } from './redis-connection.js';
import { RESIGN_LUA, TRY_LEAD_LUA } from './redis-coordination.lua.js';
import { RedisScript } from './redis-scripts.js';

const TRY_LEAD = new RedisScript('tryLead', TRY_LEAD_LUA);
const RESIGN = new RedisScript('resign', RESIGN_LUA);

/**
 * Leases in `lead:<name>` hashes, shared by every engine on the project's keys. A try is one
 * script (take the lease when free or lapsed, renew it for its holder, else report who has it),
 * so racing tries are ordered by the server and two instances never both lead. Lapses are judged
 * by the server's clock (see redis-coordination.lua.ts). A resign lets the lease lapse at once;
 * the hash stays, so the fence grows from where it was when the next holder takes over.
 */
export class RedisCoordination implements Coordination {
  private readonly lifecycle = new StoreLifecycle('RedisCoordination');

  constructor(private readonly connection: RedisConnection) {}

  async tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership> {
    this.lifecycle.assertOpen('tryLead');
    const key = this.connection.keys.lead(name);
    const [leader, fence, current] = await this.lifecycle.whileOpen('tryLead', () =>
      this.connection.run<[number, number, string]>(TRY_LEAD, [key], [holder, Math.max(1, Math.ceil(ttlMs))], `tryLead("${name}")`),
    );
    return { leader: leader === 1, fence, holder: current };
  }

  async resign(name: string, holder: string): Promise<void> {
    this.lifecycle.assertOpen('resign');
    await this.lifecycle.whileOpen('resign', () => this.connection.run(RESIGN, [this.connection.keys.lead(name)], [holder], `resign("${name}")`));
  }

  /** Later calls reject with StoreClosedError (the engine closes it with its stores). */
  close(): void {
    this.lifecycle.close();
  }
}
