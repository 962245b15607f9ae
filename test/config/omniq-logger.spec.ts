import { LOG_LEVELS, Logger, type LoggerService } from '@nestjs/common';
import { createLogger } from '../../lib/config/omniq-logger.js';
import type { LoggingConfig } from '../../lib/config/omniq-config.js';

describe('createLogger', () => {
  let lines: string[];
  let params: unknown[][];

  beforeEach(() => {
    lines = [];
    params = [];
    // Nest's Logger passes its context last.
    const capture = (level: string) => (message: unknown, ...rest: unknown[]) => {
      lines.push(`${level} [${String(rest.at(-1))}] ${String(message)}`);
      params.push(rest);
    };
    const target: LoggerService = {
      verbose: capture('verbose'),
      debug: capture('debug'),
      log: capture('log'),
      warn: capture('warn'),
      error: capture('error'),
      fatal: capture('fatal'),
    };
    Logger.overrideLogger(target);
  });

  afterEach(() => {
    Logger.overrideLogger(false);
  });

  const logging = (config: Partial<LoggingConfig>): LoggingConfig => ({ level: 'verbose', components: {}, disabled: false, ...config });
  const writeAll = (logger: ReturnType<typeof createLogger>) => {
    for (const level of LOG_LEVELS) logger[level](`a ${level} line`);
  };

  it('forwards every level to new Logger(context) by default', () => {
    writeAll(createLogger('OmniQWorker', logging({})));
    expect(lines).toEqual(LOG_LEVELS.map((level) => `${level} [OmniQWorker] a ${level} line`));
  });

  it('writes the configured level and more severe ones only', () => {
    writeAll(createLogger('OmniQ', logging({ level: 'warn' })));
    expect(lines).toEqual(['warn [OmniQ] a warn line', 'error [OmniQ] a error line', 'fatal [OmniQ] a fatal line']);
  });

  it('takes the level of the component over the global one', () => {
    const config = logging({ level: 'error', components: { OmniQWorker: 'debug', 'report.build': 'fatal' } });
    createLogger('OmniQWorker', config).debug('worker detail');
    createLogger('OmniQEvents', config).warn('events warning');
    createLogger('OmniQEvents', config).error('events error');
    const task = createLogger('report.build 42 #1', config, 'report.build');
    task.error('task error');
    task.fatal('task fatal');
    expect(lines).toEqual(['debug [OmniQWorker] worker detail', 'error [OmniQEvents] events error', 'fatal [report.build 42 #1] task fatal']);
  });

  it('ignores inherited object properties as component names', () => {
    createLogger('constructor', logging({ level: 'log' })).log('kept');
    expect(lines).toEqual(['log [constructor] kept']);
  });

  it('writes nothing when logging is disabled, whatever the levels', () => {
    writeAll(createLogger('OmniQWorker', logging({ disabled: true, components: { OmniQWorker: 'verbose' } })));
    expect(lines).toEqual([]);
  });

  it('passes extra parameters such as a stack through', () => {
    createLogger('OmniQ', logging({})).error('failed', 'Error: boom\n    at x');
    expect(params).toEqual([['Error: boom\n    at x', 'OmniQ']]);
  });

  it('tells which levels it writes', () => {
    const logger = createLogger('OmniQ', logging({ level: 'log' }));
    expect(LOG_LEVELS.filter((level) => logger.isEnabled(level))).toEqual(['log', 'warn', 'error', 'fatal']);
  });
});
