import { Injectable } from '@nestjs/common';
import { Task } from '../../lib/index.js';
import { memoryBackend } from '../../lib/backends/memory/memory.backend.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

const gate = { current: deferred() };

@Injectable()
class GatedTasks {
  @Task('gated')
  async gated(): Promise<string> {
    await gate.current.promise;
    return 'through';
  }
}

describe('waitForResult while the result store cannot be read', () => {
  let t: TestApp | undefined;
  let engine: StorageEngine | undefined;
  afterEach(async () => {
    await t?.close();
    await engine?.close();
    t = engine = undefined;
    gate.current = deferred();
  });

  it('keeps waiting through failed reads and returns the result once the store answers again', async () => {
    engine = await memoryBackend.open('memory://', { projectName: 'omniq', baseDir: '.', storageOptions: {} });
    const results = engine.results;
    const get = results.get.bind(results);
    let failures = 0;
    let down = false;
    const failedTwice = deferred();
    // An outage: while `down`, every read of a result fails as a lost connection would.
    results.get = async (taskId) => {
      if (down) {
        if (++failures === 2) failedTwice.resolve();
        throw new Error('connection lost');
      }
      return get(taskId);
    };
    t = await createTestApp({ taskQueue: engine.tasks, resultStore: results, eventStore: engine.events }, [GatedTasks]);
    const id = await t.omniq.enqueue('gated', null);
    const waiting = t.omniq.waitForResult(id, { timeoutMs: 10_000 });
    down = true;
    gate.current.resolve();
    // The result's notification finds the store down: the read fails, and is tried again.
    await failedTwice.promise;
    down = false;
    expect(await waiting).toMatchObject({ status: 'success', value: 'through' });
  });
});
