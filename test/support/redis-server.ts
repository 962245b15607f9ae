import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeWithServers, PrivateServer, programsUnavailable, sparePort } from './private-server.js';

const run = promisify(execFile);

/** Where this machine's redis-server and redis-cli are (on the PATH unless OMNIQ_TEST_REDIS_BIN names a folder). */
const BIN = process.env.OMNIQ_TEST_REDIS_BIN;
const program = (name: string): string => (BIN ? join(BIN, name) : name);

/** Why this machine cannot run private redis-servers (the programs are missing), or undefined when it can. */
export function privateRedisUnavailable(): string | undefined {
  return programsUnavailable([program('redis-server'), program('redis-cli')], 'OMNIQ_TEST_REDIS_BIN');
}

/**
 * A redis-server of the test's own, on a spare loopback port whose cluster bus port (+10,000) is
 * free too, with its data in a temporary folder. `config` adds redis.conf directives as `--name
 * value` arguments (`['appendonly', 'yes']`); no persistence unless it turns some on. `kill()` is
 * a crash: nothing flushed beyond what its fsync policy already wrote.
 */
export class RedisServer extends PrivateServer {
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async create(config: readonly string[] = []): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'omniq-redis-'));
    const port = await sparePort(20_000, 'a private redis-server', (at) => [at + 10_000]);
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', ''];
    for (let i = 0; i < config.length; i += 2) args.push(`--${config[i]}`, config[i + 1]!);
    const server = new RedisServer(dir, port, { program: program('redis-server'), args, ready: /Ready to accept connections/ });
    try {
      await server.start();
      return server;
    } catch (error) {
      await server.remove();
      throw error;
    }
  }

  /** Runs redis-cli against the server. */
  async cli(...args: string[]): Promise<string> {
    const { stdout } = await run(program('redis-cli'), ['-p', String(this.port), ...args], { timeout: 60_000 });
    return stdout.trim();
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

/** A describe block that needs private redis-servers (see describeWithServers). */
export function describeOnPrivateRedis(title: string, specs: () => void): void {
  describeWithServers('Private redis-servers', privateRedisUnavailable(), title, specs);
}
