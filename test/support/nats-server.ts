import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWithServers, PrivateServer, programsUnavailable, sparePort } from './private-server.js';

/** Where this machine's nats-server is (on the PATH unless OMNIQ_TEST_NATS_BIN names a folder). */
const BIN = process.env.OMNIQ_TEST_NATS_BIN;
const program = BIN ? join(BIN, 'nats-server') : 'nats-server';

/** Why this machine cannot run private nats-servers (the program is missing), or undefined when it can. */
export function privateNatsUnavailable(): string | undefined {
  return programsUnavailable([program], 'OMNIQ_TEST_NATS_BIN');
}

/**
 * A `nats-server -js` of the test's own, on a spare loopback port, with JetStream's file storage
 * in a temporary folder. `stop()` is a graceful stop (JetStream flushes its files and closes its
 * clients), `kill()` a crash (JetStream keeps what it had written to its files).
 */
export class NatsServer extends PrivateServer {
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  static async create(): Promise<NatsServer> {
    const dir = mkdtempSync(join(tmpdir(), 'omniq-nats-'));
    const port = await sparePort(30_000, 'a private nats-server');
    const server = new NatsServer(dir, port, { program, args: ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], ready: /Server is ready/ });
    try {
      await server.start();
      return server;
    } catch (error) {
      await server.remove();
      throw error;
    }
  }
}

/** A describe block that needs private nats-servers (see describeWithServers). */
export function describeOnPrivateNats(title: string, specs: () => void): void {
  describeWithServers('Private nats-servers', privateNatsUnavailable(), title, specs);
}
