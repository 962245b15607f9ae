import { setTimeout as sleep } from 'node:timers/promises';
import { natsBackend } from '../../lib/backends/nats/nats.backend.js';
import { NatsStorageError } from '../../lib/backends/nats/nats-storage.error.js';
import { eventually } from '../support/eventually.js';
import { NatsServer, describeOnPrivateNats } from '../support/nats-server.js';
import { endStatuses, enqueueDuringOutage, lateTaskRunsAtOnce, outageRig, producerOptions, runCounts, runs, workerOptions, workItems } from '../support/outage.js';

const OUTAGE_MS = 3_000;

const rig = outageRig();

describeOnPrivateNats('NATS: a private server stopped and started again mid-run', () => {
  it('enqueue rejects clearly in bounded time, workers reconnect by themselves, no task is lost, and a new task starts at once', async () => {
    const server = await rig.server(NatsServer.create());
    await rig.appOnEngine(natsBackend, server.url, workerOptions({ concurrency: 4, leaseMs: 10_000 }));
    const producer = await rig.appOnEngine(natsBackend, server.url, producerOptions);

    const ids = await producer.omniq.enqueueMany(workItems(300));
    await eventually(async () => runs.length >= 50, 20_000, '50 tasks to run');
    await server.stop();
    const stoppedAt = Date.now();
    const startedBeforeStop = new Set(runs.map((run) => run.id));

    const refused = await enqueueDuringOutage(producer);
    expect(refused).toBeInstanceOf(NatsStorageError);
    expect((refused as Error).message).toContain(`127.0.0.1:${server.port}`);
    // Sent before the client saw the socket close, or held back until the connect timeout: either way it says what happened.
    expect((refused as Error).message).toMatch(/connectTimeoutMs .*nothing was sent|lost with the request in flight: it may or may not have been applied/);

    // The outage itself: nothing to wait for but time.
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    await server.start();

    expect(await endStatuses(producer, ids, 60_000)).toEqual(ids.map(() => 'success'));
    const counts = runCounts();
    expect(ids.filter((id) => (counts.get(id) ?? 0) === 0)).toEqual([]);
    // At least once: only a task that had started before the stop may have run again (its outcome not recorded in time).
    expect(ids.filter((id) => counts.get(id)! > 1 && !startedBeforeStop.has(id))).toEqual([]);
    const results = await Promise.all(ids.map((id) => producer.omniq.getResult(id)));
    expect(results.filter((result) => result?.status !== 'success')).toEqual([]);

    await lateTaskRunsAtOnce(producer);
  }, 120_000);
});
