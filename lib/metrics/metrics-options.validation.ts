import type { OmniQMetricsOptions } from './metrics-options.interface.js';
import { MetricsOptionError } from './metrics.errors.js';

const OPTIONS: readonly string[] = ['registry', 'prefix', 'buckets'];
const BUCKETS: readonly string[] = ['processDuration', 'queueTime'];
/** What Prometheus allows at the start of a metric name, and after it. */
const PREFIX = /^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/** Throws a MetricsOptionError naming the first option `forRoot()` cannot use. */
export function validateMetricsOptions(options: OmniQMetricsOptions): void {
  for (const key of Object.keys(options)) {
    if (!OPTIONS.includes(key)) throw new MetricsOptionError(key, (options as Record<string, unknown>)[key], `one of the options ${OPTIONS.join(', ')}`);
  }
  const { registry, prefix, buckets } = options;
  if (registry !== undefined && typeof (registry as { registerMetric?: unknown }).registerMetric !== 'function') {
    throw new MetricsOptionError('registry', registry, "a prom-client Registry (new Registry() from 'prom-client')");
  }
  if (prefix !== undefined && (typeof prefix !== 'string' || !PREFIX.test(prefix))) {
    throw new MetricsOptionError('prefix', prefix, 'letters, digits, _ and :, not starting with a digit');
  }
  if (buckets === undefined) return;
  if (typeof buckets !== 'object' || buckets === null) throw new MetricsOptionError('buckets', buckets, `an object with ${BUCKETS.join(' and/or ')}`);
  for (const [key, bounds] of Object.entries(buckets)) {
    if (!BUCKETS.includes(key)) throw new MetricsOptionError(`buckets.${key}`, bounds, `one of buckets.${BUCKETS.join(', buckets.')}`);
    if (bounds !== undefined && !ascendingBounds(bounds)) {
      throw new MetricsOptionError(`buckets.${key}`, bounds, 'a non-empty array of finite numbers of seconds above 0, ascending');
    }
  }
}

function ascendingBounds(bounds: unknown): boolean {
  if (!Array.isArray(bounds) || bounds.length === 0) return false;
  return bounds.every((bound, i) => typeof bound === 'number' && Number.isFinite(bound) && bound > 0 && (i === 0 || bound > (bounds[i - 1] as number)));
}
