import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** The server the NATS specs run on: this machine's, unless OMNIQ_TEST_NATS_URL names another. Specs delete only their own prefixes' streams. */
export const NATS_TEST_URL = process.env.OMNIQ_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Connects and asks for the account's JetStream info, in a child process so that the answer is known while jest collects the specs. */
const PROBE = `
const { connect } = await import('@nats-io/transport-node');
const { jetstreamManager } = await import('@nats-io/jetstream');
let nc;
try {
  nc = await connect({ servers: process.argv[1].replace(/^[a-z]+:\\/\\//, ''), timeout: 3000, reconnect: false });
  const jsm = await jetstreamManager(nc, { checkAPI: true });
  await jsm.getAccountInfo();
} catch (error) {
  process.stderr.write(String(error?.message ?? error));
  process.exitCode = 1;
} finally {
  await nc?.close();
}`;

let probed: { up: true } | { up: false; reason: string } | undefined;
let warned = false;

function probe(): { up: true } | { up: false; reason: string } {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', PROBE, NATS_TEST_URL], { cwd: REPO, encoding: 'utf8', timeout: 15_000 });
  if (run.status === 0) return { up: true };
  return { up: false, reason: run.error?.message ?? (run.stderr.trim() || `the probe exited with ${run.status ?? run.signal}`) };
}

const shown = (url: string): string => url.replace(/^([a-z]+:\/\/)[^@/]*@/i, '$1***@');

/**
 * Whether the NATS specs of this file run, checked once per spec file. Under CI=true a server
 * that does not answer (or runs without JetStream) fails the run; elsewhere they are skipped,
 * with a warning no one can miss.
 */
export function natsAvailable(): boolean {
  probed ??= probe();
  if (probed.up) return true;
  const problem = `NATS with JetStream does not answer at ${shown(NATS_TEST_URL)} (${probed.reason}).`;
  if (process.env.CI === 'true') {
    throw new Error(`${problem} CI=true: the NATS specs must run. Start nats-server -js or set OMNIQ_TEST_NATS_URL.`);
  }
  if (warned) return false;
  warned = true;
  console.warn(`\n${'!'.repeat(100)}\n${problem}\nThe NATS specs of this file are SKIPPED. Start nats-server -js or set OMNIQ_TEST_NATS_URL.\n${'!'.repeat(100)}\n`);
  return false;
}

/** `entries` where the NATS specs run (see natsAvailable), none elsewhere: for the backend lists of describe.each. */
export function onNats<T>(...entries: T[]): T[] {
  return natsAvailable() ? entries : [];
}

/** A describe block that needs the server: skipped (loudly) without it, or failing under CI. */
export function describeOnNats(title: string, specs: () => void): void {
  if (natsAvailable()) describe(title, specs);
  else describe.skip(title, specs);
}

/** The prefixes this spec file made; the streams and buckets of every one are deleted after the file, whatever its specs did. */
const prefixes = new Set<string>();

/** A new name prefix (`omniq-t-<random>`, for storageOptions.prefix), its streams and buckets deleted after the spec file. */
export function freshNatsPrefix(): string {
  const prefix = `omniq-t-${randomBytes(6).toString('hex')}`;
  prefixes.add(prefix);
  return prefix;
}

/** The test server's URL naming `prefix` (`?prefix=`), as an app would configure it: fresh storage for each fresh prefix. */
export function natsUrl(prefix: string, base = NATS_TEST_URL): string {
  return `${base.replace(/\?.*$/, '')}?prefix=${prefix}`;
}

/** Runs `work` on a connection of the test's own, past OmniQ: to look at or damage what the stores wrote. */
export async function withNats<T>(work: (nc: NatsConnection, jsm: JetStreamManager) => Promise<T>, url = NATS_TEST_URL): Promise<T> {
  const nc = await connect({ servers: url.replace(/^[a-z]+:\/\//, '').replace(/\?.*$/, ''), reconnect: false });
  try {
    return await work(nc, await jetstreamManager(nc));
  } finally {
    await nc.close();
  }
}

/** Deletes every stream and bucket of `names` (stream names `<prefix>_…` and `KV_<prefix>_…`): other prefixes' are never touched. */
export async function deleteNatsPrefixes(names: readonly string[], url = NATS_TEST_URL): Promise<void> {
  if (names.length === 0) return;
  await withNats(async (_nc, jsm) => {
    const owned = (stream: string): boolean => names.some((prefix) => stream.startsWith(`${prefix}_`) || stream.startsWith(`KV_${prefix}_`));
    for await (const stream of jsm.streams.names()) if (owned(stream)) await jsm.streams.delete(stream);
    for (const prefix of names) prefixes.delete(prefix);
  }, url);
}

afterAll(async () => {
  if (prefixes.size > 0) await deleteNatsPrefixes([...prefixes]);
});
