import 'reflect-metadata';
import { Injectable } from '@nestjs/common';
import { Task } from '../../lib/index.js';
import { describeOnEveryBackend } from '../support/backends.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

/**
 * A handler that ignores its AbortSignal cannot be stopped in process: once its attempt times out
 * the task fails (and may retry elsewhere), but its body runs on. The worker keeps counting it
 * against `concurrency` until it returns, so no more handler bodies run at once than configured.
 */
const bodies = { running: 0, most: 0, gates: new Map<string, () => void>() };

@Injectable()
class StubbornTasks {
  @Task('stubborn.gated', { timeoutMs: 30, maxRetries: 0 })
  async gated(id: string): Promise<void> {
    bodies.running++;
    bodies.most = Math.max(bodies.most, bodies.running);
    const gate = deferred();
    bodies.gates.set(id, gate.resolve);
    await gate.promise;
    bodies.running--;
  }
}

describeOnEveryBackend('handlers that ignore their signal', (backend) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    for (const release of bodies.gates.values()) release();
    await t?.close();
    t = undefined;
    bodies.running = bodies.most = 0;
    bodies.gates.clear();
  });

  it('keep their slot after timing out: never more bodies at once than concurrency', async () => {
    t = await createTestApp({ backend: backend.url(), worker: { concurrency: 2, pollIntervalMs: 20 } }, [StubbornTasks]);
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const ids = await t.omniq.enqueueMany(names.map((name) => ({ name: 'stubborn.gated', payload: name })));
    for (const [i, id] of ids.entries()) {
      expect(await t.omniq.waitForResult(id)).toMatchObject({ status: 'timeout' });
      await t.worker.settled(id);
      expect(t.worker.overrunning).toBeGreaterThanOrEqual(1);
      expect(t.worker.inFlight).toBeLessThanOrEqual(2);
      bodies.gates.get(names[i]!)!();
    }
    expect(bodies.most).toBe(2);
  });
});
