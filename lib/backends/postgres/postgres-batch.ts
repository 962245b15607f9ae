/**
 * Rows per statement for the result and event stores' batch inserts and purges: few statements for
 * large batches, while one statement's arrays and locks stay small.
 */
export const BATCH_ROWS = 5_000;

/** `items` in slices of at most BATCH_ROWS, in order. */
export function batches<T>(items: readonly T[]): T[][] {
  const slices: T[][] = [];
  for (let start = 0; start < items.length; start += BATCH_ROWS) slices.push(items.slice(start, start + BATCH_ROWS));
  return slices;
}

/**
 * A multi-row source of `rows` (each a list of values in `types` order) as one array parameter
 * per column: `unnest($1::text[], $2::bigint[], …)` and its parameters, so a batch of any size is
 * one statement with as many parameters as columns.
 */
export function unnestRows(rows: readonly (readonly unknown[])[], types: readonly string[], firstParam = 1): { source: string; params: unknown[][] } {
  const params = types.map((_, column) => rows.map((row) => row[column] ?? null));
  const source = `unnest(${types.map((type, column) => `$${firstParam + column}::${type}[]`).join(', ')})`;
  return { source, params };
}

/** The last of the items with the same key, in the order of their last occurrence (a later write replaces an earlier one). */
export function lastByKey<T>(items: readonly T[], key: (item: T) => string): readonly T[] {
  const byKey = new Map<string, T>();
  for (const item of items) {
    const id = key(item);
    byKey.delete(id);
    byKey.set(id, item);
  }
  return byKey.size === items.length ? items : [...byKey.values()];
}
