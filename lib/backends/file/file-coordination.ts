import type { Coordination, Leadership } from '../../storage/coordination.js';
import { fileKey } from './task-codec.js';
import type { ControlFiles } from './control-files.js';
import type { VersionedFiles } from './versioned-files.js';

interface LeaseBody {
  name: string;
  holder: string;
  /** Epoch ms; 0 once resigned. */
  expiresAtMs: number;
  fence: number;
}

function reviveLease(body: Record<string, unknown>): LeaseBody {
  const { name, holder, expiresAtMs, fence } = body;
  if (typeof name !== 'string' || typeof holder !== 'string' || typeof expiresAtMs !== 'number' || typeof fence !== 'number') {
    throw new Error('the lease lacks a name, holder, expiry or fence');
  }
  return { name, holder, expiresAtMs, fence };
}

/**
 * Leader leases as files, `control/lease-<name>.json`, each change a compare-and-swap (see
 * VersionedFiles): of several instances trying to take a free or lapsed lease at once, exactly
 * one write lands. The fence grows with every change of holder. Times are this machine's clock,
 * which every process on a local folder shares.
 */
export class FileCoordination implements Coordination {
  private readonly leases: VersionedFiles<LeaseBody>;

  constructor(
    control: ControlFiles,
    private readonly assertOpen: (operation: string) => void,
  ) {
    this.leases = control.records('omniq.lease/1', reviveLease);
  }

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

const leaseKey = (name: string): string => `lease-${fileKey(name)}`;
