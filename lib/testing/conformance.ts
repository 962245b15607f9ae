import { describeBulkCases } from './cases/bulk.cases.js';
import { describeCancelAndExpiryCases } from './cases/cancel-expire.cases.js';
import { describeCascadeCases } from './cases/cascade.cases.js';
import { describeCoordinationCases } from './cases/coordination.cases.js';
import { describeDamageCases } from './cases/damage.cases.js';
import { describeEnqueueCases } from './cases/enqueue.cases.js';
import { describeEventStoreCases } from './cases/event-store.cases.js';
import { describeLapseCases } from './cases/lapses.cases.js';
import { describeLeaseCases } from './cases/leases.cases.js';
import { describeLifecycleCases } from './cases/lifecycle.cases.js';
import { describeNotifyCases } from './cases/notify.cases.js';
import { describePeerCases } from './cases/peers.cases.js';
import { describeQueryCases } from './cases/queries.cases.js';
import { describeRaceCases } from './cases/races.cases.js';
import { describeReserveCases } from './cases/reserve.cases.js';
import { describeResultStoreCases } from './cases/result-store.cases.js';
import { describeScheduleStoreCases } from './cases/schedule-store.cases.js';
import { describeSettleCases } from './cases/settle.cases.js';
import { describeVolumeCases } from './cases/volume.cases.js';
import { type ConformanceTarget, useEngines } from './harness.js';
import { describe } from './test-globals.js';

/**
 * Declares the storage-engine contract's cases (lib/storage) for one backend, under the test
 * framework's globals (jest, or vitest with `globals: true`). Each case opens a new engine on new
 * storage (`target.open`), and peers on it where it tests several instances (`target.openPeer`);
 * every engine is closed after the case, then `target.cleanup` runs.
 */
export function describeEngineConformance(target: ConformanceTarget): void {
  describe(`storage engine conformance: ${target.name}`, () => {
    const h = useEngines(target);
    describeEnqueueCases(h);
    describeReserveCases(h);
    describeSettleCases(h);
    describeLeaseCases(h);
    describeLapseCases(h);
    describeCascadeCases(h);
    describeCancelAndExpiryCases(h);
    describeBulkCases(h);
    describeQueryCases(h);
    describeNotifyCases(h);
    describeRaceCases(h);
    describePeerCases(h);
    describeCoordinationCases(h);
    describeVolumeCases(h);
    describeResultStoreCases(h);
    describeEventStoreCases(h);
    describeScheduleStoreCases(h);
    describeDamageCases(h);
    describeLifecycleCases(h);
  });
}
