import { createServer } from 'node:net';
import { Injectable, Logger } from '@nestjs/common';
import { Cluster, Redis } from 'ioredis';
import { Task, type OmniQModuleOptions } from '../../lib/index.js';
import { redisBackend, redisStores, type RedisStores } from '../../lib/backends/redis/redis.backend.js';
import { attachRedisConnection, openRedisConnection, type RedisConnection } from '../../lib/backends/redis/redis-connection.js';
import { RedisNotifier } from '../../lib/backends/redis/redis-notifier.js';
import { RedisScript } from '../../lib/backends/redis/redis-scripts.js';
import { RedisSettingsError, redisSettings } from '../../lib/backends/redis/redis-settings.js';
import { RedisStorageError } from '../../lib/backends/redis/redis-storage.error.js';
import { REDIS_TEST_URL, describeOnRedis, freshPrefix } from '../support/redis.js';
import { RedisClusterServers, RedisServer, describeOnPrivateRedis } from '../support/redis-server.js';
import { createTestApp, type TestApp } from '../support/test-app.js';
import { eventually } from '../support/eventually.js';
import type { StorageEngine } from '../../lib/storage/engine.js';

const logger = new Logger('OmniQRedisSpec');

/** Counts a key under P: proves a script ran on the right slot and was (re)loaded. */
const BUMP = new RedisScript('bump', `return redis.call('INCR', KEYS[1])`);

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `work` on a plain client of the test's own. */
async function withClient<T>(url: string, work: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(url);
  try {
    return await work(client);
  } finally {
    await client.quit();
  }
}

/** A message on a notifier channel, or a rejection after 5 s. */
function heard(notifier: RedisNotifier, channel: 'wake' | 'result' | 'control', message: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no ${channel} "${message}" within 5 s`));
    }, 5_000);
    const stop = notifier.listen(channel, (got) => {
      if (got !== message) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

@Injectable()
class SpecTasks {
  @Task('spec.double')
  async double(payload: { n: number }): Promise<number> {
    return payload.n * 2;
  }
}

/** Boots an app on `stores`, runs `count` tasks through it and checks every result; closes the app. */
async function runTasksOn(stores: Pick<OmniQModuleOptions, 'taskQueue' | 'resultStore' | 'eventStore'>, count = 20): Promise<void> {
  const app: TestApp = await createTestApp({ ...stores, scheduler: { enabled: false }, worker: { concurrency: 4 } }, [SpecTasks]);
  try {
    const ids = await app.omniq.enqueueMany(Array.from({ length: count }, (_, n) => ({ name: 'spec.double', payload: { n } })));
    const results = await Promise.all(ids.map((id) => app.omniq.waitForResult(id, { timeoutMs: 20_000 })));
    expect(results.map((result) => result.value)).toEqual(ids.map((_, n) => n * 2));
    expect((await app.omniq.getEvents({ taskId: ids[0] })).map((event) => event.type)).toContain('completed');
  } finally {
    await app.close();
  }
}

const engineStores = (engine: StorageEngine): Pick<OmniQModuleOptions, 'taskQueue' | 'resultStore' | 'eventStore'> => ({
  taskQueue: engine.tasks,
  resultStore: engine.results,
  eventStore: engine.events,
});

const closeStores = async (stores: RedisStores): Promise<void> => {
  await Promise.all([stores.taskQueue.close(), stores.resultStore.close(), stores.eventStore.close()]);
};

describe('Redis settings', () => {
  it('reads the URL and storageOptions, with defaults', () => {
    const settings = redisSettings('rediss://me:s3cret@cache.example:6380/2', { prefix: 'jobs', eventsMaxLen: '5000' });
    expect(settings).toMatchObject({
      host: 'cache.example',
      port: 6380,
      username: 'me',
      password: 's3cret',
      db: 2,
      tls: true,
      prefix: 'jobs',
      eventsMaxLen: 5000,
      connectTimeoutMs: 5_000,
      commandTimeoutMs: 10_000,
      cluster: false,
      shownUrl: 'rediss://me:***@cache.example:6380/2',
    });
    expect(redisSettings('redis://127.0.0.1', {})).toMatchObject({ port: 6379, db: 0, tls: false, prefix: 'omniq' });
  });

  it('reads the key prefix from the URL too, and refuses two different ones or other parameters', () => {
    expect(redisSettings('redis://127.0.0.1:6379/1?prefix=jobs', {}).prefix).toBe('jobs');
    expect(redisSettings('redis://127.0.0.1:6379?prefix=jobs', { prefix: 'jobs' }).prefix).toBe('jobs');
    expect(() => redisSettings('redis://127.0.0.1:6379?prefix=jobs', { prefix: 'other' })).toThrow(/given twice, differently: "jobs" in the URL .* "other" in storageOptions\.prefix/);
    expect(() => redisSettings('redis://127.0.0.1:6379?prefix=a{b', {})).toThrow(/the prefix parameter of redis:\/\/127\.0\.0\.1:6379/);
    expect(() => redisSettings('redis://127.0.0.1:6379?family=6', {})).toThrow(/unknown parameter "family"/);
  });

  it.each([
    ['prefix', { prefix: 'a{b}' }, /storageOptions\.prefix/],
    ['prefix', { prefix: '' }, /storageOptions\.prefix/],
    ['eventsMaxLen', { eventsMaxLen: 0 }, /storageOptions\.eventsMaxLen/],
    ['connectTimeoutMs', { connectTimeoutMs: 'soon' }, /storageOptions\.connectTimeoutMs/],
    ['commandTimeoutMs', { commandTimeoutMs: -1 }, /storageOptions\.commandTimeoutMs/],
    ['cluster', { cluster: 'maybe' }, /storageOptions\.cluster/],
  ])('refuses a bad %s, naming the key', (_key, options, message) => {
    expect(() => redisSettings('redis://127.0.0.1:6379', options)).toThrow(RedisSettingsError);
    expect(() => redisSettings('redis://127.0.0.1:6379', options)).toThrow(message);
  });

  it('refuses URLs it cannot use, never showing the password', () => {
    for (const url of ['redis://:hunter2@host/abc', 'http://:hunter2@host', 'redis://:hunter2@', 'redis://:hunter2@host/1']) {
      const options = url.endsWith('/1') ? { cluster: true } : {};
      let failure: unknown;
      try {
        redisSettings(url, options);
      } catch (error) {
        failure = error;
      }
      expect(failure).toBeInstanceOf(RedisSettingsError);
      expect((failure as Error).message).not.toContain('hunter2');
      expect((failure as Error).message).toContain(':***@');
    }
  });
});

describeOnRedis('Redis connection', () => {
  const opened: RedisConnection[] = [];
  afterEach(async () => {
    for (const connection of opened.splice(0)) await connection.close();
  });

  async function open(url = REDIS_TEST_URL, options: Record<string, unknown> = {}): Promise<RedisConnection> {
    const connection = await openRedisConnection(redisSettings(url, { prefix: freshPrefix(), ...options }), 'omniq', logger);
    opened.push(connection);
    return connection;
  }

  it('an unreachable server fails the open after connectTimeoutMs, naming the URL without its password', async () => {
    const url = `redis://:hunter2@127.0.0.1:${await closedPort()}`;
    const started = Date.now();
    const failure = await open(url, { connectTimeoutMs: 500 }).then(
      () => new Error('it connected'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(RedisStorageError);
    expect(failure.message).toContain(`redis://:***@127.0.0.1`);
    expect(failure.message).not.toContain('hunter2');
    expect(failure.message).toMatch(/connectTimeoutMs \(500 ms\).*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('names the operation and the URL when a command fails, keeping the cause', async () => {
    const connection = await open();
    const failing = new RedisScript('failing', `return redis.error_reply('OOM pretend the server is full')`);
    const failure = await connection.run<number>(failing, [connection.keys.seq], [], 'enqueue of task t1').then(
      () => new RedisStorageError('-', 'the script succeeded', undefined),
      (error: unknown) => error as RedisStorageError,
    );
    expect(failure).toBeInstanceOf(RedisStorageError);
    expect(failure.message).toMatch(/^Redis redis:\/\/127\.0\.0\.1:6379: enqueue of task t1 failed \(OOM pretend the server is full\): the server reached its maxmemory/);
    expect(failure.code).toBe('OOM');
    expect((failure.cause as Error).name).toBe('ReplyError');
  });

  it('pub/sub: every engine hears every notification, its own included; the first key routes the script', async () => {
    const connection = await open();
    const peer = await openRedisConnection(redisSettings(REDIS_TEST_URL, { prefix: connection.settings.prefix }), 'omniq', logger);
    opened.push(peer);
    const mine = new RedisNotifier(connection, logger);
    const theirs = new RedisNotifier(peer, logger);
    await Promise.all([mine.start(), theirs.start()]);
    try {
      const both = Promise.all([heard(mine, 'wake', 'mail'), heard(theirs, 'wake', 'mail'), heard(theirs, 'control', 'cancel:t1')]);
      await mine.notify('wake', ['mail']);
      await mine.notify('control', ['cancel:t1']);
      await both;
      await expect(connection.run(BUMP, ['elsewhere'], [], 'bumping')).rejects.toThrow(/needs a first key under/);
    } finally {
      await Promise.all([mine.close(), theirs.close()]);
    }
  });

  it("redisStores() runs tasks on an application's own client and leaves it open", async () => {
    const client = new Redis(REDIS_TEST_URL);
    try {
      const stores = await redisStores(client, { prefix: freshPrefix() });
      await runTasksOn({ taskQueue: stores.taskQueue, resultStore: stores.resultStore, eventStore: stores.eventStore }).finally(() => closeStores(stores));
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });

  it('refuses an application client with a keyPrefix (scripts would see keys both with and without it)', async () => {
    const client = new Redis(REDIS_TEST_URL, { keyPrefix: 'app:' });
    try {
      await expect(redisStores(client, { prefix: freshPrefix() })).rejects.toThrow(/keyPrefix "app:".*without keyPrefix/);
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });

  it("leaves an application's own client open", async () => {
    const client = new Redis(REDIS_TEST_URL);
    try {
      const connection = await attachRedisConnection(client, { projectName: 'omniq', prefix: freshPrefix() }, logger);
      const notifier = new RedisNotifier(connection, logger);
      await notifier.start();
      await connection.run(BUMP, [connection.keys.seq], [], 'bumping');
      await notifier.close();
      await connection.close();
      expect(client.status).toBe('ready');
      expect(await client.ping()).toBe('PONG');
    } finally {
      await client.quit();
    }
  });
});

describeOnPrivateRedis('Redis on private servers', () => {
  const servers: { remove(): Promise<void> }[] = [];
  const opened: RedisConnection[] = [];
  afterEach(async () => {
    for (const connection of opened.splice(0)) await connection.close();
    for (const server of servers.splice(0)) await server.remove();
  });

  it('a refused password fails the open, naming the URL without it', async () => {
    const server = await RedisServer.create(['requirepass', 'right-one']);
    servers.push(server);
    const url = `redis://:wrong-one@127.0.0.1:${server.port}`;
    const failure = await redisBackend.open(url, { projectName: 'omniq', baseDir: '.', storageOptions: { connectTimeoutMs: 1_000 } }).then(
      async (engine) => {
        await engine.close();
        return new Error('it opened');
      },
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(RedisStorageError);
    expect(failure.message).toContain(`redis://:***@127.0.0.1:${server.port}`);
    expect(failure.message).not.toContain('wrong-one');
    expect(failure.message).toMatch(/WRONGPASS|invalid username-password/);
  });

  it('refuses a server whose maxmemory-policy may evict keys, naming the policy and the fix', async () => {
    const server = await RedisServer.create(['maxmemory-policy', 'allkeys-lru']);
    servers.push(server);
    const failure = await openRedisConnection(redisSettings(server.url, {}), 'omniq', logger).then(
      (connection) => {
        opened.push(connection);
        return new Error('it opened');
      },
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(RedisSettingsError);
    expect(failure.message).toContain('maxmemory-policy allkeys-lru');
    expect(failure.message).toContain('maxmemory-policy noeviction');
  });

  it('runs scripts by EVALSHA and loads them again after SCRIPT FLUSH', async () => {
    const server = await RedisServer.create();
    servers.push(server);
    const connection = await openRedisConnection(redisSettings(server.url, {}), 'omniq', logger);
    opened.push(connection);
    const key = `${connection.keys.P}bump`;
    expect(await connection.run(BUMP, [key], [], 'bumping')).toBe(1);
    // SCRIPT FLUSH empties the server's script cache, as a restart does (on a private server: the shared one's scripts stay).
    await server.cli('SCRIPT', 'FLUSH');
    expect(await connection.run(BUMP, [key], [], 'bumping')).toBe(2);
    expect(await connection.run(BUMP, [key], [], 'bumping')).toBe(3);
  });

  it('an outage: calls wait up to connectTimeoutMs, then reject with nothing sent; once the server is back, scripts load again and the subscription catches up', async () => {
    const server = await RedisServer.create(['appendonly', 'yes', 'appendfsync', 'always']);
    servers.push(server);
    const connection = await openRedisConnection(redisSettings(server.url, { connectTimeoutMs: 500 }), 'omniq', logger);
    opened.push(connection);
    const notifier = new RedisNotifier(connection, logger);
    await notifier.start();
    try {
      const wakes: string[] = [];
      notifier.listen('wake', (queue) => wakes.push(queue));
      // A queue with tasks counted (the task queue's counts hash), and one only heard of.
      await connection.call('counting', (client) => client.hset(connection.keys.counts, 'mail\nsend\npending', '1'));
      const outbox = heard(notifier, 'wake', 'outbox');
      await notifier.notify('wake', ['outbox']);
      await outbox;
      expect(await connection.run(BUMP, [connection.keys.seq], [], 'bumping')).toBe(1);

      await server.kill();
      const attemptAt = Date.now();
      const failure = await connection.run(BUMP, [connection.keys.seq], [], 'enqueue of task t1').then(
        () => new Error('it ran'),
        (error: unknown) => error as Error,
      );
      expect(Date.now() - attemptAt).toBeLessThan(2_000);
      expect(failure).toBeInstanceOf(RedisStorageError);
      expect(failure.message).toContain(`Redis redis://127.0.0.1:${server.port}: enqueue of task t1 failed (not connected within storageOptions.connectTimeoutMs (500 ms)`);
      expect(failure.message).toMatch(/nothing was sent/);

      wakes.splice(0);
      const caughtUp = Promise.all([heard(notifier, 'wake', 'mail'), heard(notifier, 'wake', 'outbox')]);
      await server.start();
      await caughtUp;
      // The restarted server knows no scripts: the call loads it again; the AOF kept the counter.
      expect(await connection.run(BUMP, [connection.keys.seq], [], 'bumping')).toBe(2);
      const after = heard(notifier, 'wake', 'after');
      await notifier.notify('wake', ['after']);
      await after;
    } finally {
      await notifier.close();
    }
  });

  it('a reply later than commandTimeoutMs rejects, saying the command may or may not have been applied (and here it was)', async () => {
    const server = await RedisServer.create(['enable-debug-command', 'yes']);
    servers.push(server);
    const connection = await openRedisConnection(redisSettings(server.url, { commandTimeoutMs: 200 }), 'omniq', logger);
    opened.push(connection);
    await connection.run(BUMP, [connection.keys.seq], [], 'bumping');
    const busy = server.cli('DEBUG', 'SLEEP', '1');
    // Asleep once a PING gets no reply within commandTimeoutMs.
    await eventually(() => connection.call('probing', (client) => client.ping()).then(() => false, () => true), 5_000, 'the server to sleep');
    const failure = await connection.run(BUMP, [connection.keys.seq], [], 'settle of task t1').then(
      () => new Error('it replied in time'),
      (error: unknown) => error as Error,
    );
    expect(failure).toBeInstanceOf(RedisStorageError);
    expect(failure.message).toMatch(/settle of task t1 failed \(Command timed out\).*may or may not have been applied/);
    await busy;
    expect(await withClient(server.url, (client) => client.get(connection.keys.seq))).toBe('2');
  });

  it('runs scripts, notifications and tasks on a 3-master cluster, from a URL or on an application\'s Cluster', async () => {
    const cluster = await RedisClusterServers.create();
    servers.push(cluster);
    const connection = await openRedisConnection(redisSettings(cluster.url, { cluster: true }), 'omniq', logger);
    opened.push(connection);
    const notifier = new RedisNotifier(connection, logger);
    await notifier.start();
    try {
      const woken = heard(notifier, 'wake', 'mail');
      expect(await connection.run(BUMP, [connection.keys.seq], [], 'bumping')).toBe(1);
      await notifier.notify('wake', ['mail']);
      await woken;
    } finally {
      await notifier.close();
    }

    const engine = await redisBackend.open(cluster.url, { projectName: 'first', baseDir: '.', storageOptions: { cluster: true } });
    try {
      await runTasksOn(engineStores(engine));
    } finally {
      await engine.close();
    }

    const app = new Cluster(cluster.startupNodes);
    try {
      const stores = await redisStores(app, { projectName: 'second' });
      await runTasksOn({ taskQueue: stores.taskQueue, resultStore: stores.resultStore, eventStore: stores.eventStore }).finally(() => closeStores(stores));
      expect(app.status).toBe('ready');
      // The two projects' keys live on different slots, each project's in one.
      const slots = await Promise.all(['{omniq:first}:seq', '{omniq:second}:seq'].map((key) => app.cluster('KEYSLOT', key)));
      expect(new Set(slots).size).toBe(2);
    } finally {
      await app.quit();
    }
  }, 60_000);
});
