import { setTimeout as sleep } from 'node:timers/promises';
import { LOCK_RETRY_MAX_MS } from './sqlite-locks.js';

/**
 * Rows a long write (a purge, a bulk call) changes in one transaction at most: a few tens of
 * milliseconds of holding the write lock, far below any lease.
 */
export const CHUNK_ROWS = 2_000;

/**
 * How long a long write leaves the lock free between two chunks: longer than the pause between a
 * waiter's tries (LOCK_RETRY_MAX_MS, jittered up to 1.5 times), so every connection waiting for
 * the lock gets a try at it, and this process's own timers (heartbeats) run.
 */
export const CHUNK_GAP_MS = 2 * LOCK_RETRY_MAX_MS;

/** The pause between two chunks of a long write. */
export const betweenChunks = (): Promise<void> => sleep(CHUNK_GAP_MS);

/** The pause between two chunks of long work that holds no lock (reads, checks): this process's timers and I/O run. */
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
