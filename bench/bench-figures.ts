/** How a measured run is turned into the figures the bench prints. */

export function perSecond(count: number, startNs: bigint): number {
  return Math.round(count / (Number(process.hrtime.bigint() - startNs) / 1e9));
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** One run of a queue on the reference workload: enqueue in batches, then drain with a worker. */
export interface QueueRun {
  enqueuePerSecond: number;
  /** From the worker's start until every job has run and the worker has stopped (so every completion is written). */
  drainPerSecond: number;
}

/** Enqueue batches of this size, for OmniQ and its peers alike. */
export const ENQUEUE_BATCH = 1_000;

/** The sizes of consecutive batches that enqueue `count` jobs. */
export function batchSizes(count: number): number[] {
  return Array.from({ length: Math.ceil(count / ENQUEUE_BATCH) }, (_, i) => Math.min(ENQUEUE_BATCH, count - i * ENQUEUE_BATCH));
}

/** A counter that resolves `done` once it has been hit `target` times: the drain's finish line. */
export function finishLine(target: number): { hit: () => void; done: Promise<void> } {
  let hits = 0;
  let reached!: () => void;
  const done = new Promise<void>((resolve) => (reached = resolve));
  return { hit: () => void (++hits === target && reached()), done };
}
