import { Logger, type LoggerService } from '@nestjs/common';
import type { BackendContext } from '../../storage/engine.js';

/** Makes the logger of one backend component (`'OmniQFileTaskQueue'`). */
export type BackendLogger = (component: string) => LoggerService;

/**
 * The loggers a backend's components write to: the module's, which follow OmniQ's `logging`
 * settings, or — for an engine opened outside a module — Nest's own.
 */
export function backendLogger(context?: Pick<BackendContext, 'logger'>): BackendLogger {
  return (component) => context?.logger?.(component) ?? new Logger(component);
}
