/**
 * The worker process of BullMQ's cross-process latency row: a BullMQ Worker on the queue and key
 * prefix given as arguments, whose job returns the hrtime at which it started (one monotonic clock
 * for every process of the machine). Prints `ready` once it serves; ends on SIGTERM.
 */
import { Worker } from 'bullmq';
import { REDIS_URL } from '../redis-prefixes.js';

const [prefix] = process.argv.slice(2);
if (!prefix) throw new Error('usage: bullmq-redis-worker <key prefix>');
const worker = new Worker('probe', async () => String(process.hrtime.bigint()), { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix, concurrency: 10 });
await worker.waitUntilReady();
process.stdout.write('ready\n');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
