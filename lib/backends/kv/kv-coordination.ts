import type { Coordination, Leadership } from '../../storage/coordination.js';
import type { KvRecords, RecordCodec } from './kv-records.js';
import { recordKey } from './kv-task-codec.js';

export interface LeaseBody {
  name: string;
  holder: string;
  /** Epoch ms; 0 once resigned. */
  expiresAtMs: number;
  fence: number;
}

export const LEASE_CODEC: RecordCodec<LeaseBody> = {
  format: 'omniq.lease/1',
  revive(body) {
    const { name, holder, expiresAtMs, fence } = body;
    if (typeof name !== 'string' || typeof holder !== 'string' || typeof expiresAtMs !== 'number' || typeof fence !== 'number') {
      throw new Error('the lease lacks a name, holder, expiry or fence');
    }
    return { name, holder, expiresAtMs, fence };
  },
};

/**
 * Leader leases as control records, `lease-<name>`, each change a compare-and-swap: of several
 * instances trying to take a free or lapsed lease at once, exactly one write lands. The fence
 * grows with every change of holder. Times are the clock of the process that writes, so the
 * processes sharing a storage must share a clock (every process on a local folder does; on a
 * server, hosts' clocks must agree to well within a lease's ttl).
 */
export class KvCoordination implements Coordination {
  constructor(
    private readonly leases: KvRecords<LeaseBody>,
    private readonly assertOpen: (operation: string) => void,
  ) {}

  async tryLead(name: string, holder: string, ttlMs: number): Promise<Leadership> {
    this.assertOpen('tryLead');
    const key = leaseKey(name);
    for (;;) {
      const now = Date.now();
      const mine = (fence: number): LeaseBody => ({ name, holder, expiresAtMs: now + ttlMs, fence });
      const current = await this.leases.read(key);
      if (current === undefined) {
        if (await this.leases.create(key, mine(1))) return { leader: true, fence: 1, holder };
        continue;
      }
      const lease = current.body;
      if (lease.holder !== holder && lease.expiresAtMs > now) return { leader: false, fence: lease.fence, holder: lease.holder };
      const fence = lease.holder === holder ? lease.fence : lease.fence + 1;
      const outcome = await this.leases.mutate(
        key,
        (body) => (body.holder === lease.holder && body.fence === lease.fence && body.expiresAtMs === lease.expiresAtMs ? mine(fence) : undefined),
        { onBusy: 'wait', known: current },
      );
      if (outcome.kind === 'written') return { leader: true, fence, holder };
      // Another instance changed the lease first: judge again from what it wrote.
    }
  }

  async resign(name: string, holder: string): Promise<void> {
    this.assertOpen('resign');
    // The record stays, so the next holder's fence still grows from this one's.
    await this.leases.mutate(leaseKey(name), (body) => (body.holder === holder && body.expiresAtMs > 0 ? { ...body, expiresAtMs: 0 } : undefined), {
      onBusy: 'wait',
    });
  }
}

const leaseKey = (name: string): string => `lease-${recordKey(name)}`;
