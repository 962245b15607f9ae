import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Injectable } from '@nestjs/common';
import { Task, type TaskContext } from '../../lib/index.js';
import { POSTGRES_TEST_URL, describeOnPostgres, freshSchema, postgresUrl } from '../support/postgres.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const PGBOUNCER = '/usr/sbin/pgbouncer';
/** Server connections PgBouncer keeps: fewer than one OmniQ pool, so every app's statements share them, transaction by transaction. */
const SERVER_CONNECTIONS = 2;

/**
 * PgBouncer in transaction mode in front of the test server, on a spare port: between two
 * transactions a client may be handed another server connection, so a session setting, a named
 * prepared statement, a session advisory lock or a LISTEN would be lost or leak to another client.
 * It refuses to run as root: under root it runs as the postgres user, in a folder of that user's.
 */
class PgBouncer {
  private constructor(
    private readonly process: ChildProcess,
    private readonly dir: string,
    readonly port: number,
  ) {}

  static async start(): Promise<PgBouncer> {
    const upstream = new URL(POSTGRES_TEST_URL);
    const user = decodeURIComponent(upstream.username) || 'postgres';
    const database = upstream.pathname.slice(1) || user;
    const dir = mkdtempSync(join(tmpdir(), 'omniq-pgbouncer-'));
    const port = await sparePort();
    writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${decodeURIComponent(upstream.password)}"\n`);
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `${database} = host=${upstream.hostname} port=${upstream.port || 5432} dbname=${database} user=${user}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'unix_socket_dir =',
        'auth_type = trust',
        `auth_file = ${join(dir, 'userlist.txt')}`,
        'pool_mode = transaction',
        `default_pool_size = ${SERVER_CONNECTIONS}`,
        'max_client_conn = 200',
        'ignore_startup_parameters = extra_float_digits',
        '',
      ].join('\n'),
    );
    const owner = process.getuid?.() === 0 ? postgresUser() : undefined;
    if (owner) for (const path of [dir, join(dir, 'userlist.txt'), join(dir, 'pgbouncer.ini')]) chownSync(path, owner.uid, owner.gid);
    const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { stdio: ['ignore', 'ignore', 'pipe'], ...owner });
    let log = '';
    const lines = createInterface({ input: child.stderr! });
    const up = new Promise<void>((resolve) =>
      lines.on('line', (line) => {
        log += `${line}\n`;
        if (line.includes('process up')) resolve();
      }),
    );
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`pgbouncer exited (${String(code)}) before it was up:\n${log}`);
    });
    try {
      await Promise.race([up, exited]);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    void exited.catch(() => undefined);
    return new PgBouncer(child, dir, port);
  }

  /** A URL through PgBouncer naming `schema`. */
  url(schema: string): string {
    const url = new URL(POSTGRES_TEST_URL);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return postgresUrl(schema, url.toString());
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) {
      const exit = once(this.process, 'exit');
      this.process.kill('SIGTERM');
      await exit;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function postgresUser(): { uid: number; gid: number } {
  const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

@Injectable()
class BouncedTasks {
  @Task('bounced.square')
  square(payload: { n: number }, ctx: TaskContext): { n: number; square: number; attempt: number } {
    return { n: payload.n, square: payload.n * payload.n, attempt: ctx.attempt };
  }
}

const TASKS = 600;

describeOnPostgres('behind PgBouncer in transaction mode', () => {
  if (!existsSync(PGBOUNCER)) {
    if (process.env.CI === 'true') throw new Error(`CI=true: ${PGBOUNCER} is missing; .ci/run installs the pgbouncer package`);
    console.warn(`\n${'!'.repeat(80)}\n${PGBOUNCER} is not installed: the PgBouncer specs are SKIPPED (apt-get install pgbouncer).\n${'!'.repeat(80)}\n`);
    it.skip('needs pgbouncer', () => undefined);
    return;
  }

  let bouncer: PgBouncer;
  const apps: TestApp[] = [];

  beforeAll(async () => {
    bouncer = await PgBouncer.start();
  });
  afterEach(async () => {
    for (const app of apps.splice(0).reverse()) await app.close();
  });
  afterAll(async () => {
    await bouncer?.stop();
  });

  it(`with listen: false, worker apps drain ${TASKS} tasks with their results, dependencies and delays, needing no session state`, async () => {
    const backend = bouncer.url(freshSchema());
    // PgBouncer 1.18 refuses a startup parameter it does not know, statement_timeout included: the limit stays the server's.
    const storageOptions = { listen: false, statementTimeoutMs: 0 };
    const boot = async (options: Parameters<typeof createTestApp>[0]): Promise<TestApp> => {
      const app = await createTestApp({ backend, storageOptions, scheduler: { enabled: false }, resultPollIntervalMs: 50, ...options }, [BouncedTasks]);
      apps.push(app);
      return app;
    };
    // Started together: their migrations meet behind the pooler too.
    const [producer] = await Promise.all([
      boot({ worker: { enabled: false } }),
      ...[1, 2].map(() => boot({ worker: { concurrency: 20, pollIntervalMs: 50 }, maintenance: { intervalMs: 100, leaderTtlMs: 1_000 } })),
    ]);
    const ids: string[] = [];
    for (let i = 0; i < TASKS; i += 200) {
      ids.push(...(await producer!.omniq.enqueueMany(Array.from({ length: 200 }, (_, n) => ({ name: 'bounced.square', payload: { n: i + n } })))));
    }
    const parent = await producer!.omniq.enqueue('bounced.square', { n: -1 }, { delayMs: 300 });
    const child = await producer!.omniq.enqueue('bounced.square', { n: -2 }, { dependsOn: [parent] });

    const results = await Promise.all(ids.map((id) => producer!.omniq.waitForResult<{ n: number; square: number; attempt: number }>(id, { timeoutMs: 60_000 })));
    expect(results.map((r) => [r.status, r.value])).toEqual(ids.map((_, n) => ['success', { n, square: n * n, attempt: 1 }]));
    const childResult = await producer!.omniq.waitForResult(child, { timeoutMs: 30_000 });
    const parentTask = await producer!.omniq.getTask(parent);
    expect(childResult).toMatchObject({ status: 'success', value: { n: -2, square: 4 } });
    expect(parentTask!.startedAt!.getTime() - parentTask!.createdAt.getTime()).toBeGreaterThanOrEqual(300);
    expect((await producer!.omniq.stats()).default).toMatchObject({ success: TASKS + 2 });
    expect((await producer!.omniq.getEvents({ taskId: child })).map((e) => e.type)).toEqual(['enqueued', 'started', 'completed']);
  }, 120_000);
});
