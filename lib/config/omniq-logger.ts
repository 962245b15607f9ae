import { LOG_LEVELS, Logger, type LogLevel, type LoggerService } from '@nestjs/common';
import type { LoggingConfig } from './omniq-config.js';

/**
 * A Nest Logger that writes only the levels OmniQ's logging configuration enables for its
 * component. What it writes still goes through Nest's logger, whose own levels apply after.
 */
export class OmniQLogger implements LoggerService {
  /** `threshold`: the least severe level written; undefined writes nothing. */
  constructor(
    private readonly target: Logger,
    private readonly threshold: LogLevel | undefined,
  ) {}

  isEnabled(level: LogLevel): boolean {
    return this.threshold !== undefined && LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.threshold);
  }

  verbose(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('verbose')) this.target.verbose(message, ...optionalParams);
  }

  debug(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('debug')) this.target.debug(message, ...optionalParams);
  }

  log(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('log')) this.target.log(message, ...optionalParams);
  }

  warn(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('warn')) this.target.warn(message, ...optionalParams);
  }

  error(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('error')) this.target.error(message, ...optionalParams);
  }

  fatal(message: unknown, ...optionalParams: unknown[]): void {
    if (this.isEnabled('fatal')) this.target.fatal(message, ...optionalParams);
  }
}

/**
 * The logger of an OmniQ component: `new Logger(context)` filtered by `logging`. The level is
 * `logging.components[component]`, else `logging.level`; `component` defaults to the context
 * (`'OmniQWorker'`), per-task loggers pass the task name.
 */
export function createLogger(context: string, logging: LoggingConfig, component: string = context): OmniQLogger {
  if (logging.disabled) return new OmniQLogger(new Logger(context), undefined);
  const threshold = Object.hasOwn(logging.components, component) ? logging.components[component] : logging.level;
  return new OmniQLogger(new Logger(context), threshold);
}
