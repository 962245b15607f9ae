import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import type { BenchStore } from './bench-omniq.js';

/** The server every NATS figure of the bench is measured on. */
export const NATS_URL = process.env.OMNIQ_BENCH_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Deletes the streams (KV buckets included) of `prefix`: other prefixes' are never touched. */
async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL.replace(/^[a-z]+:\/\//, '').replace(/\?.*$/, ''), reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const owned: string[] = [];
    for await (const stream of jsm.streams.names()) if (stream.startsWith(`${prefix}_`) || stream.startsWith(`KV_${prefix}_`)) owned.push(stream);
    for (const stream of owned) await jsm.streams.delete(stream);
  } finally {
    await nc.close();
  }
}

/** Runs `fn` on a fresh OmniQ store on the bench's NATS server (a name prefix of its own, its streams and buckets deleted after). */
export async function onFreshNats<T>(fn: (store: BenchStore) => Promise<T>): Promise<T> {
  const prefix = `omniq-bench-${randomBytes(4).toString('hex')}`;
  try {
    return await fn({ backend: NATS_URL, storageOptions: { prefix } });
  } finally {
    await deleteStreams(prefix);
  }
}
