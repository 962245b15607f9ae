import { missingPackage } from '../backends/backend.registry.js';
import { MetricsPackageMissingError } from './metrics.errors.js';

export type PromClient = typeof import('prom-client');

/** prom-client, an optional peer dependency, loaded only when the metrics module is used. */
export async function loadPromClient(): Promise<PromClient> {
  try {
    return await import('prom-client');
  } catch (error) {
    if (missingPackage(error) === 'prom-client') throw new MetricsPackageMissingError('prom-client');
    throw error;
  }
}
