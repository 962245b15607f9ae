import { createHash } from 'node:crypto';

/**
 * The most ARGV values a caller passes one script: batches are chunked below this, well under
 * Lua's `unpack` limit (~8,000) and Redis's argument buffers.
 */
export const MAX_SCRIPT_ARGS = 7_000;

/** A Lua script, run with EVALSHA (its SHA1 computed once) and loaded again when the server forgot it. */
export class RedisScript {
  readonly sha: string;

  constructor(
    /** Names the script in errors (`enqueue`, `settle`). */
    readonly name: string,
    readonly lua: string,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }
}

/** Splits `values` into runs of at most `size` (for scripts whose ARGV grows with the batch). */
export function chunks<T>(values: readonly T[], size: number): T[][] {
  const runs: T[][] = [];
  for (let start = 0; start < values.length; start += size) runs.push(values.slice(start, start + size));
  return runs;
}
