/**
 * How many storage operations one store call keeps in flight, unless the storage says otherwise
 * (KvStorage.ioConcurrency). On a folder they run on libuv's
 * thread pool (4 threads by default), so more only queue there; fewer leave the disk idle
 * between calls.
 */
export const IO_CONCURRENCY = 16;

/**
 * Maps `items` through `fn` with at most `limit` calls in flight (file I/O goes through libuv's
 * small thread pool, a server takes requests a connection at a time: unbounded fan-out only
 * queues there). Results are in input order.
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * Like mapLimit, but entries that share a key run one after another in input order (a batch
 * that settles the same task twice must see the first settlement before the second).
 */
export async function mapLimitByKey<T, R>(
  items: readonly T[],
  keyOf: (item: T) => string,
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const rounds: number[][] = [];
  const seen = new Map<string, number>();
  items.forEach((item, index) => {
    const round = seen.get(keyOf(item)) ?? 0;
    seen.set(keyOf(item), round + 1);
    (rounds[round] ??= []).push(index);
  });
  const results = new Array<R>(items.length);
  for (const round of rounds) {
    await mapLimit(round, limit, async (index) => {
      results[index] = await fn(items[index]);
    });
  }
  return results;
}
