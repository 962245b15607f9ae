import type { Coordination, Leadership } from '../../storage/coordination.js';
import type { StoreLifecycle } from '../shared/store-lifecycle.js';
import type { LeaderLease } from './memory-storage.js';

/**
 * Leadership leases in the storage's memory, shared by every engine on it, timed by Date.now().
 * The fence counts terms: it grows when the lease passes to a holder other than the one that had
 * it (or to anyone after a resign), never on a renewal.
 */
export class MemoryCoordination implements Coordination {
  constructor(
    private readonly leases: Map<string, LeaderLease>,
    private readonly lifecycle: StoreLifecycle,
  ) {}

  async tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership> {
    this.lifecycle.assertOpen('tryLead');
    const nowMs = Date.now();
    const lease = this.leases.get(name);
    if (lease !== undefined && lease.holder !== undefined && lease.holder !== holder && lease.untilMs > nowMs) {
      return { leader: false, fence: lease.fence, holder: lease.holder };
    }
    const fence = lease === undefined ? 1 : lease.holder === holder ? lease.fence : lease.fence + 1;
    this.leases.set(name, { holder, untilMs: nowMs + ttlMs, fence });
    return { leader: true, fence, holder };
  }

  async resign(name: string, holder: string): Promise<void> {
    this.lifecycle.assertOpen('resign');
    const lease = this.leases.get(name);
    if (lease?.holder === holder) lease.holder = undefined;
  }
}
