import { delay, type EngineHarness } from '../harness.js';
import { describe, expect, it } from '../test-globals.js';

/** Short enough that waiting for a lapse costs little real time (tryLead has no `now`). */
const TTL_MS = 150;
const LAPSE_MS = TTL_MS * 3;

export function describeCoordinationCases(h: EngineHarness): void {
  describe('leader election', () => {
    it('of two instances trying at once, exactly one leads; the other sees who', async () => {
      const peer = await h.peer();
      const [mine, theirs] = await Promise.all([
        h.tasks.coordination.tryLead('maintenance', 'instance-a', 10_000),
        peer.tasks.coordination.tryLead('maintenance', 'instance-b', 10_000),
      ]);
      expect([mine.leader, theirs.leader].filter(Boolean)).toHaveLength(1);
      const leader = mine.leader ? 'instance-a' : 'instance-b';
      expect(mine.holder).toBe(leader);
      expect(theirs.holder).toBe(leader);
    });

    it('a renewal by the leader keeps its fence; another holder is refused while the lease is live', async () => {
      const peer = await h.peer();
      const first = await h.tasks.coordination.tryLead('maintenance', 'instance-a', 10_000);
      expect(first).toMatchObject({ leader: true, holder: 'instance-a' });
      expect(await h.tasks.coordination.tryLead('maintenance', 'instance-a', 10_000)).toEqual(first);
      expect(await peer.tasks.coordination.tryLead('maintenance', 'instance-b', 10_000)).toMatchObject({
        leader: false,
        holder: 'instance-a',
      });
      expect(await peer.tasks.coordination.tryLead('other-name', 'instance-b', 10_000)).toMatchObject({ leader: true });
    });

    it('after the leader’s TTL lapses, the other instance takes over with a higher fence', async () => {
      const peer = await h.peer();
      const old = await h.tasks.coordination.tryLead('maintenance', 'instance-a', TTL_MS);
      expect(old.leader).toBe(true);
      await delay(LAPSE_MS);
      const next = await peer.tasks.coordination.tryLead('maintenance', 'instance-b', 10_000);
      expect(next).toMatchObject({ leader: true, holder: 'instance-b' });
      expect(next.fence).toBeGreaterThan(old.fence);
      expect(await h.tasks.coordination.tryLead('maintenance', 'instance-a', 10_000)).toMatchObject({
        leader: false,
        holder: 'instance-b',
      });
    });

    it('resign frees the lease at once for another instance; resigning a lease one does not hold changes nothing', async () => {
      const peer = await h.peer();
      const first = await h.tasks.coordination.tryLead('maintenance', 'instance-a', 60_000);
      await peer.tasks.coordination.resign('maintenance', 'instance-b');
      expect(await peer.tasks.coordination.tryLead('maintenance', 'instance-b', 60_000)).toMatchObject({ leader: false });
      await h.tasks.coordination.resign('maintenance', 'instance-a');
      const next = await peer.tasks.coordination.tryLead('maintenance', 'instance-b', 60_000);
      expect(next).toMatchObject({ leader: true, holder: 'instance-b' });
      expect(next.fence).toBeGreaterThan(first.fence);
    });
  });
}
