import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where this machine's PostgreSQL 15 server programs are (Debian's layout). */
const BIN = process.env.OMNIQ_TEST_POSTGRES_BIN ?? '/usr/lib/postgresql/15/bin';

/** A port nothing listens on right now, picked by the kernel. */
async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether this machine can run a private cluster: the server programs, and root to run them as the postgres user. */
export function privateClusterUnavailable(): string | undefined {
  if (!existsSync(join(BIN, 'initdb'))) return `no PostgreSQL server programs in ${BIN} (set OMNIQ_TEST_POSTGRES_BIN)`;
  if (process.getuid?.() !== 0) return 'the tests do not run as root, so they cannot run initdb and pg_ctl as the postgres user';
  return undefined;
}

/**
 * A PostgreSQL server of the test's own, on a spare loopback port, that it can stop and start
 * again (an outage) without touching the shared server: `initdb` into a temporary folder owned
 * by the postgres user, trust authentication, its socket in that folder. `remove()` stops it and
 * deletes the folder.
 */
export class PostgresCluster {
  private running = false;

  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  /** The URL of the cluster's `postgres` database, as superuser `postgres`. */
  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates the cluster and starts it. */
  static async create(): Promise<PostgresCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'omniq-pg-cluster-'));
    const cluster = new PostgresCluster(dir, await sparePort());
    try {
      const { uid, gid } = await postgresUser();
      chownSync(dir, uid, gid);
      await asPostgres('initdb', ['-D', cluster.data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
      await cluster.start();
      return cluster;
    } catch (error) {
      await cluster.remove();
      throw error;
    }
  }

  private get data(): string {
    return join(this.dir, 'data');
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c max_connections=50`;
    await asPostgres('pg_ctl', ['-D', this.data, '-l', join(this.dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start']);
    this.running = true;
  }

  /** Stops the server (`fast`: every session is ended at once, as when a database is restarted). */
  async stop(): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    this.running = false;
  }

  /** Stops the server if it runs and deletes its folder. */
  async remove(): Promise<void> {
    if (this.running) await this.stop().catch(() => asPostgres('pg_ctl', ['-D', this.data, '-m', 'immediate', 'stop']).catch(() => undefined));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const [{ stdout: uid }, { stdout: gid }] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
}

async function asPostgres(program: string, args: string[]): Promise<void> {
  try {
    await run('runuser', ['-u', 'postgres', '--', join(BIN, program), ...args], { timeout: 90_000 });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${program} ${args.join(' ')} failed: ${(stderr || stdout || String(error)).trim()}`, { cause: error });
  }
}

/**
 * A describe block that needs a private cluster: under CI=true a machine that cannot run one
 * fails the run; elsewhere the block is skipped, with a warning no one can miss.
 */
export function describeOnPrivateCluster(title: string, specs: () => void): void {
  const missing = privateClusterUnavailable();
  if (missing === undefined) return describe(title, specs);
  if (process.env.CI === 'true') throw new Error(`A private PostgreSQL cluster cannot run here: ${missing}. CI=true: "${title}" must run.`);
  console.warn(`\n${'!'.repeat(100)}\nA private PostgreSQL cluster cannot run here: ${missing}.\n"${title}" is SKIPPED.\n${'!'.repeat(100)}\n`);
  describe.skip(title, specs);
}
