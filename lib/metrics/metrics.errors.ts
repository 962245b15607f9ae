import { OmniQError } from '../errors/omniq.errors.js';
import { formatValue } from '../utils/format-value.js';

/** prom-client, an optional peer dependency, is not installed: the message names it and the install command. */
export class MetricsPackageMissingError extends OmniQError {
  override name = 'MetricsPackageMissingError';
  constructor(readonly packageName: string) {
    super(`OmniQMetricsModule needs the package "${packageName}", which is not installed: run npm install ${packageName}`);
  }
}

/** An option of `OmniQMetricsModule.forRoot()` that it cannot use; nothing was registered. */
export class MetricsOptionError extends OmniQError {
  override name = 'MetricsOptionError';
  constructor(option: string, value: unknown, expected: string) {
    super(`OmniQMetricsModule.forRoot(): option ${option} = ${formatValue(value)} is invalid; expected ${expected}`);
  }
}

/** The registry already holds a metric of one of OmniQ's names (another app's, or the app's own); nothing was registered. */
export class MetricNameTakenError extends OmniQError {
  override name = 'MetricNameTakenError';
  constructor(readonly metricName: string) {
    super(
      `OmniQMetricsModule: the registry already holds a metric named "${metricName}"; ` +
        'give each app its own registry (option registry) or a prefix of its own (option prefix)',
    );
  }
}
