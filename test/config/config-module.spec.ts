import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable, type DynamicModule, type INestApplicationContext, type LoggerService, type Provider } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import {
  OMNIQ_CONFIG,
  OMNIQ_TASK_QUEUE,
  OmniQModule,
  OmniQService,
  OmniQWorker,
  Task,
  type OmniQConfig,
  type TaskContext,
  type TaskQueueStore,
} from '../../lib/index.js';
import { OmniQConfigError } from '../../lib/config/config.validation.js';

@Injectable()
class ConfiguredTasks {
  @Task('report.build', { queue: 'urgent' })
  build(): string {
    return 'built';
  }

  @Task('chatty.task')
  chatty(_payload: unknown, ctx: TaskContext): void {
    ctx.logger.log('chatty says hi');
  }

  @Task('quiet.task')
  quiet(_payload: unknown, ctx: TaskContext): void {
    ctx.logger.log('quiet says hi');
  }
}

let dir: string;
let savedEnv: NodeJS.ProcessEnv;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omniq-module-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  savedEnv = { ...process.env };
});
afterEach(() => {
  for (const name of Object.keys(process.env)) if (!(name in savedEnv)) delete process.env[name];
  Object.assign(process.env, savedEnv);
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Captures what Nest's logger receives, as `level [context] message`. */
function captureLogs(): { logger: LoggerService; lines: string[] } {
  const lines: string[] = [];
  const capture = (level: string) => (message: unknown, ...rest: unknown[]) => void lines.push(`${level} [${String(rest.at(-1))}] ${String(message)}`);
  const logger: LoggerService = {
    verbose: capture('verbose'),
    debug: capture('debug'),
    log: capture('log'),
    warn: capture('warn'),
    error: capture('error'),
    fatal: capture('fatal'),
  };
  return { logger, lines };
}

async function boot(omniq: DynamicModule, providers: Provider[] = [ConfiguredTasks], logger: LoggerService | false = false): Promise<INestApplicationContext> {
  const builder = Test.createTestingModule({ imports: [omniq], providers });
  if (logger) builder.setLogger(logger);
  const moduleRef = await builder.compile();
  if (!logger) moduleRef.useLogger(false);
  return moduleRef.init();
}

describe('OmniQModule configuration sources', () => {
  it('boots from a YAML file and OMNIQ_* variables, which override the forRoot options', async () => {
    const yaml = file(
      'omniq.yaml',
      ['projectName: yaml-app', 'worker:', '  concurrency: 2', '  queues: [urgent, default]', 'taskDefaults:', '  retryDelayMs: 2s', '  timeoutMs: 1m', ''].join('\n'),
    );
    process.env.OMNIQ_CONFIG_FILE = yaml;
    process.env.OMNIQ_MAX_WORKERS = '7';
    process.env.OMNIQ_RETRY_ATTEMPTS = '1';
    const app = await boot(OmniQModule.forRoot({ backend: 'memory', worker: { id: 'cfg-worker', concurrency: 3 } }));
    try {
      const config = app.get<OmniQConfig>(OMNIQ_CONFIG);
      expect(config).toMatchObject({ projectName: 'yaml-app', taskQueue: 'memory://', worker: { id: 'cfg-worker', concurrency: 7 } });
      const worker = app.get(OmniQWorker);
      expect(worker.queues).toEqual(['urgent', 'default']);
      const omniq = app.get(OmniQService);
      const id = await omniq.enqueue('report.build', {});
      expect((await omniq.waitForResult(id)).value).toBe('built');
      expect(await app.get<TaskQueueStore>(OMNIQ_TASK_QUEUE).get(id)).toMatchObject({ maxRetries: 1, retryDelayMs: 2_000, timeoutMs: 60_000 });
    } finally {
      await app.close();
    }
  });

  it('fails to start on a bad environment variable, naming it, its value and the setting', async () => {
    process.env.OMNIQ_MAX_WORKERS = '-1';
    process.env.OMNIQ_TASK_TIMEOUT = '30 seconds';
    const booting = boot(OmniQModule.forRoot({ backend: 'memory://' }));
    await expect(booting).rejects.toThrow(OmniQConfigError);
    await expect(booting).rejects.toThrow(
      'Invalid OmniQ configuration:\n' +
        '  - environment variable OMNIQ_MAX_WORKERS (worker.concurrency) = "-1": expected an integer >= 1\n' +
        '  - environment variable OMNIQ_TASK_TIMEOUT (taskDefaults.timeoutMs) = "30 seconds": expected a duration: seconds, or a number with a unit (500ms, 30s, 5m, 1h)',
    );
  });

  it('fails to start on a bad value in the YAML file, naming the file and the key', async () => {
    const yaml = file('bad.yaml', 'worker:\n  leaseMs: -1s\n');
    await expect(boot(OmniQModule.forRoot({ configFile: yaml }))).rejects.toThrow(`worker.leaseMs in ${yaml} = "-1s": a duration cannot be negative`);
  });

  it('fails to start on an unknown forRoot option', async () => {
    const options = { backend: 'memory://', worker: { concurency: 4 } } as Parameters<typeof OmniQModule.forRoot>[0];
    await expect(boot(OmniQModule.forRoot(options))).rejects.toThrow('OmniQModule option worker.concurency = 4: unknown key');
  });
});

describe('OmniQModule.forRootAsync with @nestjs/config', () => {
  it('builds the options from ConfigService', async () => {
    const yaml = file('async.yaml', 'projectName: from-yaml\n');
    const settings = () => ({ queue: { file: yaml, concurrency: 5, backend: 'memory://' } });
    const app = await boot(
      OmniQModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [settings] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({
          configFile: config.get<string>('queue.file'),
          backend: config.getOrThrow<string>('queue.backend'),
          worker: { concurrency: config.getOrThrow<number>('queue.concurrency'), id: 'from-config-service' },
        }),
      }),
    );
    try {
      expect(app.get(OmniQWorker).id).toBe('from-config-service');
      expect(app.get<OmniQConfig>(OMNIQ_CONFIG)).toMatchObject({ projectName: 'from-yaml', worker: { concurrency: 5 } });
    } finally {
      await app.close();
    }
  });

  it('reads OMNIQ_* variables of a .env file that ConfigModule loaded, over the factory options', async () => {
    const envFile = file('.env', 'OMNIQ_MAX_WORKERS=6\nQUEUE_WORKER_ID=env-file-worker\n');
    const app = await boot(
      OmniQModule.forRootAsync({
        imports: [ConfigModule.forRoot({ envFilePath: envFile })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ backend: 'memory://', worker: { id: config.get<string>('QUEUE_WORKER_ID'), concurrency: 2 } }),
      }),
    );
    try {
      expect(app.get<OmniQConfig>(OMNIQ_CONFIG).worker).toMatchObject({ id: 'env-file-worker', concurrency: 6 });
    } finally {
      await app.close();
    }
  });

  it('rejects unconverted strings from ConfigService where numbers are expected', async () => {
    const booting = boot(
      OmniQModule.forRootAsync({
        imports: [ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ CONCURRENCY: '8' })] })],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ worker: { concurrency: config.get('CONCURRENCY') } }),
      }),
    );
    await expect(booting).rejects.toThrow('OmniQModule option worker.concurrency = "8": expected an integer >= 1');
  });
});

describe('OmniQModule logging configuration', () => {
  it('writes only the configured levels, per component', async () => {
    const { logger, lines } = captureLogs();
    const app = await boot(
      OmniQModule.forRoot({ backend: 'memory://', worker: { id: 'w-levels' }, logging: { level: 'warn', components: { OmniQWorker: 'debug', 'chatty.task': 'log', 'quiet.task': 'error' } } }),
      [ConfiguredTasks],
      logger,
    );
    const omniq = app.get(OmniQService);
    await omniq.waitForResult(await omniq.enqueue('chatty.task', {}));
    await omniq.waitForResult(await omniq.enqueue('quiet.task', {}));
    await app.close();
    const omniqLines = lines.filter((line) => /\[(OmniQ|OmniQWorker|OmniQEvents|\S+\.task [^\]]+)\]/.test(line));
    expect(omniqLines).toContain('log [OmniQWorker] Worker w-levels started: concurrency 10, queues default > urgent');
    expect(omniqLines.some((line) => /^debug \[OmniQWorker\] Task chatty\.task \S+ succeeded/.test(line))).toBe(true);
    expect(omniqLines.some((line) => /^log \[chatty\.task \S+ #1\] chatty says hi$/.test(line))).toBe(true);
    expect(omniqLines.some((line) => line.includes('quiet says hi'))).toBe(false);
    expect(omniqLines.some((line) => line.includes('[OmniQ] Registered'))).toBe(false);
  });

  it('writes no OmniQ line when OMNIQ_DISABLE_LOGGING is set, and warns once about settings without effect otherwise', async () => {
    process.env.OMNIQ_GEVENT_WORKERS = '16';
    const first = captureLogs();
    const app = await boot(OmniQModule.forRoot({ backend: 'memory://' }), [ConfiguredTasks], first.logger);
    await app.get(OmniQService).waitForResult(await app.get(OmniQService).enqueue('chatty.task', {}));
    await app.close();
    expect(first.lines.filter((line) => line.startsWith('warn [OmniQ]'))).toEqual([expect.stringMatching(/^warn \[OmniQ\] OMNIQ_GEVENT_WORKERS=16 has no effect/)]);
    expect(first.lines.some((line) => line.includes('chatty says hi'))).toBe(true);

    process.env.OMNIQ_DISABLE_LOGGING = 'true';
    const second = captureLogs();
    const silent = await boot(OmniQModule.forRoot({ backend: 'memory://' }), [ConfiguredTasks], second.logger);
    await silent.get(OmniQService).waitForResult(await silent.get(OmniQService).enqueue('chatty.task', {}));
    await silent.close();
    expect(second.lines.filter((line) => /\[(OmniQ|OmniQWorker|OmniQEvents|chatty\.task [^\]]+)\]/.test(line))).toEqual([]);
  });
});
