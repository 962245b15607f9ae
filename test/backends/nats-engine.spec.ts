import { connect, type NatsConnection } from '@nats-io/transport-node';
import { natsBackend, natsStores } from '../../lib/backends/nats/nats.backend.js';
import { NatsSettingsError } from '../../lib/backends/nats/nats-settings.js';
import { NatsStorageError } from '../../lib/backends/nats/nats-storage.error.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { newTask, reserveRequest } from '../../lib/testing/index.js';
import { describeOnNats, freshNatsPrefix, NATS_TEST_URL, natsUrl, withNats } from '../support/nats.js';

const PROJECT = 'engine';
const context = { projectName: PROJECT, baseDir: '.', storageOptions: {} };

describeOnNats('NATS engine', () => {
  const engines: StorageEngine[] = [];

  afterEach(async () => {
    for (const engine of engines.splice(0)) await engine.close();
  });

  it('creates its streams and buckets once when several instances start at once, each with the configured limits', async () => {
    const prefix = freshNatsPrefix();
    const opened = await Promise.all(Array.from({ length: 4 }, () => natsBackend.open(natsUrl(prefix), { ...context, storageOptions: { eventsMaxMessages: 500 } })));
    engines.push(...opened);
    await opened[0]!.tasks.enqueue([newTask({ id: 'shared' })]);
    expect((await opened[3]!.tasks.get('shared'))?.id).toBe('shared');
    await withNats(async (_nc, jsm) => {
      const names: string[] = [];
      for await (const name of jsm.streams.names()) if (name.includes(prefix)) names.push(name);
      expect(names.sort()).toEqual([`KV_${prefix}_${PROJECT}_records`, `KV_${prefix}_${PROJECT}_results`, `KV_${prefix}_${PROJECT}_tasks`, `${prefix}_${PROJECT}_events`]);
      expect((await jsm.streams.info(`${prefix}_${PROJECT}_events`)).config.max_msgs).toBe(500);
    });
    // A later start with other limits brings the stream to them.
    engines.push(await natsBackend.open(natsUrl(prefix), { ...context, storageOptions: { eventsMaxMessages: 900 } }));
    await withNats(async (_nc, jsm) => expect((await jsm.streams.info(`${prefix}_${PROJECT}_events`)).config.max_msgs).toBe(900));
  });

  it("runs on the application's own connection and leaves it open when its stores close", async () => {
    const nc: NatsConnection = await connect({ servers: NATS_TEST_URL.replace(/^[a-z]+:\/\//, '') });
    try {
      const prefix = freshNatsPrefix();
      const stores = await natsStores(nc, { projectName: PROJECT, prefix });
      const [id] = (await stores.taskQueue.enqueue([newTask()])).map((outcome) => outcome.id);
      expect((await stores.taskQueue.reserve(reserveRequest({ queues: ['default'] }))).map((task) => task.id)).toEqual([id]);
      await Promise.all([stores.taskQueue.close(), stores.resultStore.close(), stores.eventStore.close()]);
      expect(nc.isClosed()).toBe(false);
      await nc.flush();
      await expect(natsStores(nc, { prefix: 'a.b' })).rejects.toThrow(NatsSettingsError);
    } finally {
      await nc.close();
    }
  });

  it('fails to open with a NatsStorageError naming the server when none answers', async () => {
    const refused = await natsBackend.open('nats://127.0.0.1:1', { ...context, storageOptions: { connectTimeoutMs: 500 } }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(NatsStorageError);
    expect((refused as Error).message).toMatch(/NATS nats:\/\/127\.0\.0\.1:1: connecting failed/);
  });
});
