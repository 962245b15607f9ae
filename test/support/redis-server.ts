import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where this machine's redis-server and redis-cli are (on the PATH unless OMNIQ_TEST_REDIS_BIN names a folder). */
const BIN = process.env.OMNIQ_TEST_REDIS_BIN;
const program = (name: string): string => (BIN ? join(BIN, name) : name);

async function portFree(port: number): Promise<boolean> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => server.close(() => resolve()));
  return free;
}

/** A port nothing listens on, whose cluster bus port (+10,000) is free too: picked from 20,000–29,999. */
async function sparePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('No spare port pair in 20000-29999 for a private redis-server');
}

/** Why this machine cannot run private redis-servers (the programs are missing), or undefined when it can. */
export function privateRedisUnavailable(): string | undefined {
  for (const name of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(program(name), ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0) return `${name} cannot be run (${probe.error?.message ?? probe.stderr.trim()}); install it or set OMNIQ_TEST_REDIS_BIN`;
  }
  return undefined;
}

/**
 * A redis-server of the test's own, on a spare loopback port, with its data in a temporary
 * folder: it can be killed and started again (an outage, a crash) without touching the shared
 * server. `config` adds redis.conf directives as `--name value` arguments (`['appendonly',
 * 'yes']`). `remove()` kills it and deletes the folder.
 */
export class RedisServer {
  private process: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly config: readonly string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts a server: no persistence unless `config` turns some on. */
  static async create(config: readonly string[] = []): Promise<RedisServer> {
    const server = new RedisServer(mkdtempSync(join(tmpdir(), 'omniq-redis-')), await sparePort(), config);
    try {
      await server.start();
      return server;
    } catch (error) {
      await server.remove();
      throw error;
    }
  }

  /** Starts the server (again, on the same port and folder) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.process) throw new Error(`redis-server on port ${this.port} already runs`);
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', ''];
    for (let i = 0; i < this.config.length; i += 2) args.push(`--${this.config[i]}`, this.config[i + 1]!);
    const child = spawn(program('redis-server'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error('did not get ready within 30 s')), 30_000);
      const fail = (error: Error): void => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${this.port}: ${error.message}\n${this.log}`));
      };
      const read = (chunk: Buffer): void => {
        this.log += chunk.toString();
        if (/Ready to accept connections/.test(this.log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', (code, signal) => fail(new Error(`exited with ${code ?? signal}`)));
      child.once('error', fail);
    }).catch(async (error: unknown) => {
      await this.kill();
      throw error;
    });
  }

  /** Kills the server at once (SIGKILL: a crash, nothing flushed beyond what its fsync policy already wrote) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.process;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await this.exited;
    this.process = undefined;
  }

  /** Runs redis-cli against the server. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run(program('redis-cli'), ['-p', String(this.port), ...args], { timeout: 60_000 });
    return stdout.trim();
  }

  /** Kills the server if it runs and deletes its folder. */
  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A Redis Cluster of the test's own: three masters (no replicas) on spare ports, slots assigned
 * by `redis-cli --cluster create`, ready once every node says cluster_state:ok.
 */
export class RedisClusterServers {
  private constructor(readonly nodes: readonly RedisServer[]) {}

  /** The seed nodes, for an ioredis Cluster. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((node) => ({ host: '127.0.0.1', port: node.port }));
  }

  /** The URL of the first node (with storageOptions.cluster). */
  get url(): string {
    return this.nodes[0]!.url;
  }

  static async create(): Promise<RedisClusterServers> {
    const nodes: RedisServer[] = [];
    const cluster = new RedisClusterServers(nodes);
    try {
      for (let i = 0; i < 3; i += 1) {
        nodes.push(await RedisServer.create(['cluster-enabled', 'yes', 'cluster-config-file', 'nodes.conf', 'cluster-node-timeout', '5000']));
      }
      await run(program('redis-cli'), ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        timeout: 60_000,
      });
      await cluster.untilHealthy();
      return cluster;
    } catch (error) {
      await cluster.remove();
      throw error;
    }
  }

  /** Polls CLUSTER INFO on every node until each sees every slot served (a few hundred ms after create). */
  private async untilHealthy(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(this.nodes.map((node) => node.cli('cluster', 'info')));
      if (infos.every((info) => /cluster_state:ok/.test(info) && /cluster_known_nodes:3/.test(info))) return;
      if (Date.now() > deadline) throw new Error(`The private Redis Cluster did not become healthy within 30 s:\n${infos.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async remove(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.remove()));
  }
}

/**
 * A describe block that needs private redis-servers: under CI=true a machine that cannot run
 * them fails the run; elsewhere the block is skipped, with a warning no one can miss.
 */
export function describeOnPrivateRedis(title: string, specs: () => void): void {
  const missing = privateRedisUnavailable();
  if (missing === undefined) return describe(title, specs);
  if (process.env.CI === 'true') throw new Error(`Private redis-servers cannot run here: ${missing}. CI=true: "${title}" must run.`);
  console.warn(`\n${'!'.repeat(100)}\nPrivate redis-servers cannot run here: ${missing}.\n"${title}" is SKIPPED.\n${'!'.repeat(100)}\n`);
  describe.skip(title, specs);
}
