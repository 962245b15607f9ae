import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { InjectRepository, TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, EntitySchema, type Repository } from 'typeorm';
import { OmniQModule, OmniQService, Task, postgresStoresFromDataSource, type PostgresStores, type TaskContext } from '../../lib/index.js';
import { postgresBackend } from '../../lib/backends/postgres/postgres.backend.js';
import { postgresTables } from '../../lib/backends/postgres/postgres-tables.js';
import type { StorageEngine } from '../../lib/storage/engine.js';
import { newTask } from '../../lib/testing/index.js';
import { eventually } from '../support/eventually.js';
import { POSTGRES_TEST_URL, describeOnPostgres, freshSchema, postgresUrl, withPostgres } from '../support/postgres.js';
import { createTestApp, deferred, type TestApp } from '../support/test-app.js';

const MIGRATIONS = ['PostgresInitialSchema1795468000000'];

describeOnPostgres('PostgreSQL backend', () => {
  /** Engines the test opened or is opening (a failed test may leave an open in flight), closed after it. */
  const engines: Promise<StorageEngine>[] = [];
  const apps: TestApp[] = [];

  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
    for (const opened of await Promise.allSettled(engines.splice(0).reverse())) if (opened.status === 'fulfilled') await opened.value.close();
  });

  function open(url: string, projectName = 'omniq', storageOptions: Record<string, unknown> = {}): Promise<StorageEngine> {
    const engine = postgresBackend.open(url, { projectName, baseDir: '.', storageOptions });
    engines.push(engine);
    return engine;
  }

  async function boot(options: Parameters<typeof createTestApp>[0], providers: Parameters<typeof createTestApp>[1] = []): Promise<TestApp> {
    const app = await createTestApp({ scheduler: { enabled: false }, allowUnregisteredTasks: true, ...options }, providers);
    apps.push(app);
    return app;
  }

  const query = <T>(sql: string, params: unknown[] = []): Promise<T[]> => withPostgres(async (client) => (await client.query(sql, params)).rows as T[]);

  /** The tables of a schema, by name. */
  const tablesIn = async (schema: string): Promise<string[]> =>
    (await query<{ name: string }>('SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema])).map((row) => row.name);

  /** Sessions listening on the project's channel: the LISTEN connections of the engines open on it. */
  const listeners = async (schema: string, projectName = 'omniq'): Promise<number> => {
    const { notifyChannel } = postgresTables(schema, projectName);
    const [row] = await query<{ count: number }>(`SELECT count(*)::int AS count FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND strpos(query, $1) > 0`, [notifyChannel]);
    return row!.count;
  };

  describe('connecting', () => {
    it('an unreachable server fails the start at once, naming the URL without its password', async () => {
      const port = await closedPort();
      const url = `postgres://postgres:hunter2@127.0.0.1:${port}/test`;
      const started = Date.now();
      const failure = await createTestApp({ backend: url, storageOptions: { connectTimeoutMs: 1_000 } }).then(
        () => new Error('the app started'),
        (error: unknown) => error as Error,
      );
      expect(failure.message).toContain(`PostgreSQL postgres://postgres:***@127.0.0.1:${port}/test cannot be reached`);
      expect(failure.message).not.toContain('hunter2');
      expect(Date.now() - started).toBeLessThan(5_000);
    });

    it('a storage option it cannot use fails the start, naming the option', async () => {
      await expect(createTestApp({ backend: postgresUrl(freshSchema()), storageOptions: { poolSize: -2 } })).rejects.toThrow(
        'storageOptions.poolSize: expected a positive integer, got -2',
      );
    });
  });

  describe('schema and tables', () => {
    it('creates the schema that ?schema= names and keeps every table there, named after the project', async () => {
      const schema = freshSchema(' Jobs "Q"');
      // A project name of this test alone, so that no other run's tables can be taken for its own.
      const project = `p${randomBytes(4).toString('hex')}`;
      const engine = await open(postgresUrl(schema), project);
      const task = newTask();
      await engine.tasks.enqueue([task]);
      const suffixes = ['tasks', 'task_deps', 'task_counts', 'results', 'events', 'schedules', 'paused_queues', 'leases', 'migrations'];
      expect(await tablesIn(schema)).toEqual(expect.arrayContaining(suffixes.map((suffix) => `${project}_${suffix}`)));
      expect((await tablesIn(schema)).every((name) => name.startsWith(`${project}_`))).toBe(true);
      const elsewhere = await query(`SELECT table_schema FROM information_schema.tables WHERE starts_with(table_name, $1) AND table_schema <> $2`, [`${project}_`, schema]);
      expect(elsewhere).toEqual([]);
      expect(await query(`SELECT id, status FROM ${postgresTables(schema, project).tasks}`)).toEqual([{ id: task.id, status: 'pending' }]);
    });

    it('takes the schema from storageOptions.schema just as well, through the module', async () => {
      const schema = freshSchema();
      const app = await boot({ backend: POSTGRES_TEST_URL, projectName: 'beta', storageOptions: { schema }, worker: { enabled: false } });
      const id = await app.omniq.enqueue('any.task', { n: 1 });
      expect(await query(`SELECT id FROM ${postgresTables(schema, 'beta').tasks}`)).toEqual([{ id }]);
    });

    it('projects sharing a schema keep their own tables and tasks', async () => {
      const url = postgresUrl(freshSchema());
      const [one, two] = await Promise.all([open(url, 'one'), open(url, 'two')]);
      const [a, b] = [newTask({ name: 'a' }), newTask({ name: 'b' })];
      await one!.tasks.enqueue([a]);
      await two!.tasks.enqueue([b]);
      expect((await one!.tasks.list({})).items.map((t) => t.id)).toEqual([a.id]);
      expect((await two!.tasks.list({})).items.map((t) => t.id)).toEqual([b.id]);
      expect(await two!.tasks.get(a.id)).toBeUndefined();
    });

    it('five instances starting at once on a new schema migrate it once, and all of them work on it', async () => {
      const schema = freshSchema();
      const five = await Promise.all([1, 2, 3, 4, 5].map(() => open(postgresUrl(schema))));
      expect((await query<{ name: string }>(`SELECT name FROM ${postgresTables(schema, 'omniq').migrations} ORDER BY id`)).map((m) => m.name)).toEqual(MIGRATIONS);
      const tasks = five.map(() => newTask());
      await Promise.all(five.map((engine, i) => engine.tasks.enqueue([tasks[i]!])));
      for (const engine of five) expect((await engine.tasks.getMany(tasks.map((t) => t.id))).map((t) => t?.status)).toEqual(tasks.map(() => 'pending'));
      // A sixth, later, finds nothing to do.
      await open(postgresUrl(schema));
      expect(await query(`SELECT count(*)::int AS count FROM ${postgresTables(schema, 'omniq').migrations}`)).toEqual([{ count: MIGRATIONS.length }]);
    });
  });

  describe("the application's DataSource", () => {
    @Injectable()
    class EchoTasks {
      @Task('echo')
      echo(payload: { n: number }): number {
        return payload.n;
      }
    }

    it('postgresStoresFromDataSource runs OmniQ on the application pool and leaves the DataSource open when OmniQ closes', async () => {
      const schema = freshSchema();
      const dataSource = await new DataSource({ type: 'postgres', url: POSTGRES_TEST_URL }).initialize();
      try {
        const stores = await postgresStoresFromDataSource(dataSource, { projectName: 'app', schema });
        const app = await createTestApp({ ...stores, scheduler: { enabled: false } }, [EchoTasks]);
        try {
          expect((await app.omniq.waitForResult(await app.omniq.enqueue('echo', { n: 5 }))).value).toBe(5);
          expect(await listeners(schema, 'app')).toBe(1);
        } finally {
          await app.close();
        }
        // Stores handed in stay their owner's: the app closes them itself, and the DataSource stays open.
        await Promise.all([stores.taskQueue.close(), stores.resultStore.close(), stores.eventStore.close()]);
        expect(dataSource.isInitialized).toBe(true);
        expect(await dataSource.query(`SELECT count(*)::int AS count FROM "${schema}".app_tasks`)).toEqual([{ count: 1 }]);
        expect(await listeners(schema, 'app')).toBe(0);
      } finally {
        await dataSource.destroy();
      }
    });

    interface User {
      id: number;
      email: string;
    }
    const UserEntity = new EntitySchema<User>({ name: 'user', columns: { id: { type: Number, primary: true, generated: true }, email: { type: String } } });

    @Injectable()
    class SignupTasks {
      constructor(@InjectRepository(UserEntity) private readonly users: Repository<User>) {}

      @Task('signup.create')
      async create(payload: { email: string }, ctx: TaskContext): Promise<number> {
        return (await this.users.save({ email: `${payload.email}#${ctx.attempt}` })).id;
      }
    }

    /** Stores OmniQ was handed, closed after the test should the app leave them open (their LISTEN session would keep jest running). */
    const handed: PostgresStores[] = [];
    afterEach(async () => {
      for (const stores of handed.splice(0)) await Promise.all([stores.taskQueue.close(), stores.resultStore.close(), stores.eventStore.close()]);
    });

    async function bootTypeOrm(schema: string): Promise<{ omniq: OmniQService; dataSource: DataSource; close: () => Promise<void> }> {
      @Module({
        imports: [
          TypeOrmModule.forRoot({ type: 'postgres', url: POSTGRES_TEST_URL, schema, entities: [UserEntity], synchronize: true }),
          TypeOrmModule.forFeature([UserEntity]),
          OmniQModule.forRootAsync({
            inject: [DataSource],
            useFactory: async (dataSource: DataSource) => {
              const stores = await postgresStoresFromDataSource(dataSource, { projectName: 'app', schema });
              handed.push(stores);
              return { ...stores, scheduler: { enabled: false } };
            },
          }),
        ],
        providers: [SignupTasks],
      })
      class AppModule {}
      const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
      moduleRef.useLogger(false);
      const app = await moduleRef.init();
      return { omniq: app.get(OmniQService), dataSource: app.get(DataSource), close: () => app.close() };
    }

    it("on @nestjs/typeorm's DataSource: OmniQ's tables beside the app's in its schema, handlers on its repositories, a restart keeps everything", async () => {
      const schema = freshSchema();
      // TypeORM creates the entities' tables, not their schema.
      await query(`CREATE SCHEMA "${schema}"`);
      const first = await bootTypeOrm(schema);
      const id = await first.omniq.enqueue('signup.create', { email: 'ada@example.com' });
      expect((await first.omniq.waitForResult(id)).value).toBe(1);
      expect(await tablesIn(schema)).toEqual(expect.arrayContaining(['user', 'app_tasks', 'app_results', 'app_events']));
      expect(await listeners(schema, 'app')).toBe(1);
      // The DataSource is TypeORM's: it destroys it at shutdown (OmniQ leaving it open is the test above).
      await first.close();
      expect(first.dataSource.isInitialized).toBe(false);
      // Nor does OmniQ's own LISTEN connection outlive the app (stores handed in are never closed
      // by OmniQ): its notifier ends it once the DataSource's pool was ended, within a second.
      await eventually(async () => (await listeners(schema, 'app')) === 0, 5_000, 'the LISTEN session to end with the DataSource');

      const second = await bootTypeOrm(schema);
      try {
        expect(await second.omniq.getTask(id)).toMatchObject({ status: 'success' });
        expect((await second.omniq.getResult(id))?.value).toBe(1);
        expect(await second.dataSource.getRepository(UserEntity).find()).toEqual([{ id: 1, email: 'ada@example.com#1' }]);
      } finally {
        await second.close();
      }
    });
  });

  describe('listen: false', () => {
    it('holds no LISTEN session: a worker instance finds tasks and cancel requests, a waiter results, by polling', async () => {
      const schema = freshSchema();
      const hold = deferred();
      @Injectable()
      class PollTasks {
        @Task('poll.echo')
        echo(payload: { n: number }): number {
          return payload.n;
        }

        @Task('poll.hang', { maxRetries: 0 })
        async hang(_: unknown, ctx: TaskContext): Promise<void> {
          hold.resolve();
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
          ctx.signal.throwIfAborted();
        }
      }
      const storageOptions = { listen: false };
      const producer = await boot({ backend: postgresUrl(schema), storageOptions, worker: { enabled: false }, resultPollIntervalMs: 50 });
      await boot({ backend: postgresUrl(schema), storageOptions, worker: { pollIntervalMs: 50 } }, [PollTasks]);
      const engine = await open(postgresUrl(schema), 'omniq', storageOptions);
      expect(engine.capabilities.crossProcessNotify).toBe(false);
      expect(await listeners(schema)).toBe(0);

      const ids = await producer.omniq.enqueueMany(Array.from({ length: 20 }, (_, n) => ({ name: 'poll.echo', payload: { n } })));
      const results = await Promise.all(ids.map((id) => producer.omniq.waitForResult(id, { timeoutMs: 10_000 })));
      expect(results.map((r) => r.value)).toEqual(ids.map((_, n) => n));

      const hanging = await producer.omniq.enqueue('poll.hang', {});
      await hold.promise;
      expect(await producer.omniq.cancel(hanging)).toBe(true);
      expect(await producer.omniq.waitForResult(hanging, { timeoutMs: 10_000 })).toMatchObject({ status: 'cancelled' });
      expect(await listeners(schema)).toBe(0);
    });

    it('with listen on (the default), each engine holds one LISTEN session and closes it with the engine', async () => {
      const schema = freshSchema();
      const [one, two] = await Promise.all([open(postgresUrl(schema)), open(postgresUrl(schema))]);
      expect([one!.capabilities.crossProcessNotify, two!.capabilities.crossProcessNotify]).toEqual([true, true]);
      expect(await listeners(schema)).toBe(2);
      await two!.close();
      expect(await listeners(schema)).toBe(1);
    });
  });
});

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
