import { jest } from '@jest/globals';
import { Inject, Injectable, Logger, Module, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  MemoryEventStore,
  MemoryResultStore,
  MemoryTaskQueueStore,
  OMNIQ_CODEC,
  OMNIQ_MODULE_OPTIONS,
  OMNIQ_TASK_QUEUE,
  OmniQMaintenance,
  type Codec,
  type OmniQModuleOptions,
  OmniQModule,
  OmniQService,
  Task,
  TaskRegistry,
  type TaskContext,
  type TaskHandlerOptions,
} from '../../lib/index.js';
import { createTestApp } from '../support/test-app.js';

@Injectable()
class MailTasks {
  readonly greeting = 'hello';

  @Task('mail.send', { queue: 'mail', maxRetries: 1 })
  send(payload: { to: string }): string {
    return `${this.greeting} ${payload.to}`;
  }

  @Task()
  unnamed(): string {
    return 'default name';
  }

  notATask(): void {}
}

describe('OmniQModule', () => {
  it('discovers @Task methods, binds them to their provider instance and names unnamed ones Class.method', async () => {
    const t = await createTestApp({ backend: 'memory://' }, [MailTasks]);
    try {
      const registry = t.get(TaskRegistry);
      expect(registry.declaredNames().sort()).toEqual(['MailTasks.unnamed', 'mail.send']);
      expect(registry.get('mail.send')?.options).toEqual({ queue: 'mail', maxRetries: 1 });
      const id = await t.omniq.enqueue('mail.send', { to: 'ada' });
      expect((await t.omniq.waitForResult(id)).value).toBe('hello ada');
      expect(t.worker.queues).toEqual(['default', 'mail']);
    } finally {
      await t.close();
    }
  });

  it('forRootAsync builds options from injected providers', async () => {
    @Injectable()
    class Settings {
      readonly concurrency = 3;
    }
    @Module({ providers: [Settings], exports: [Settings] })
    class SettingsModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [
        OmniQModule.forRootAsync({
          imports: [SettingsModule],
          inject: [Settings],
          useFactory: (settings: Settings) => ({ backend: 'memory://', worker: { concurrency: settings.concurrency, id: 'async-worker' } }),
        }),
      ],
    }).compile();
    moduleRef.useLogger(false);
    const app = await moduleRef.init();
    try {
      const { OmniQWorker } = await import('../../lib/index.js');
      expect(app.get(OmniQWorker).id).toBe('async-worker');
      expect(app.get(OmniQService)).toBeInstanceOf(OmniQService);
    } finally {
      await app.close();
    }
  });

  it('isGlobal makes OmniQService injectable in modules that do not import OmniQModule', async () => {
    @Injectable()
    class Producer {
      constructor(readonly omniq: OmniQService) {}
    }
    @Module({ providers: [Producer], exports: [Producer] })
    class FeatureModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [OmniQModule.forRoot({ backend: 'memory://', isGlobal: true, worker: { enabled: false } }), FeatureModule],
    }).compile();
    moduleRef.useLogger(false);
    const app = await moduleRef.init();
    try {
      expect(app.get(Producer).omniq).toBe(app.get(OmniQService));
    } finally {
      await app.close();
    }
  });

  it('exports what the README documents as injectable to the modules that use it', async () => {
    @Injectable()
    class Tooling {
      constructor(
        readonly registry: TaskRegistry,
        @Inject(OMNIQ_CODEC) readonly codec: Codec,
        @Inject(OMNIQ_MODULE_OPTIONS) readonly options: OmniQModuleOptions,
        readonly maintenance: OmniQMaintenance,
      ) {}
    }
    @Module({ providers: [Tooling, MailTasks], exports: [Tooling] })
    class ToolingModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [OmniQModule.forRoot({ backend: 'memory://', isGlobal: true, worker: { enabled: false }, projectName: 'tools' }), ToolingModule],
    }).compile();
    moduleRef.useLogger(false);
    const app = await moduleRef.init();
    try {
      const tooling = app.get(Tooling);
      expect(tooling.registry.has('mail.send')).toBe(true);
      expect(tooling.codec.decode(tooling.codec.encode({ at: new Date(0) }))).toEqual({ at: new Date(0) });
      expect(tooling.options.projectName).toBe('tools');
      expect(typeof tooling.maintenance.isLeader).toBe('boolean');
    } finally {
      await app.close();
    }
  });

  it('without isGlobal, a module that does not import OmniQModule cannot inject OmniQService', async () => {
    @Injectable()
    class Producer {
      constructor(readonly omniq: OmniQService) {}
    }
    @Module({ providers: [Producer] })
    class FeatureModule {}
    const compiling = Test.createTestingModule({
      imports: [OmniQModule.forRoot({ backend: 'memory://', worker: { enabled: false } }), FeatureModule],
    }).compile();
    await expect(compiling).rejects.toThrow(/OmniQService/);
  });

  it('fails the bootstrap on duplicate task names, naming both class.method sources', async () => {
    @Injectable()
    class A {
      @Task('report.build')
      build(): void {}
    }
    @Injectable()
    class B {
      @Task('report.build')
      make(): void {}
    }
    await expect(createTestApp({ backend: 'memory://' }, [A, B])).rejects.toThrow(
      'Duplicate task name "report.build": declared by A.build and by B.make',
    );
  });

  it.each([
    [{ timeoutMs: 0 }, 'Mailer.send: @Task() Task "mail.send": option timeoutMs = 0 is invalid; expected an integer > 0 (ms)'],
    [{ retryBackoff: 'linear' }, 'Mailer.send: @Task() Task "mail.send": option retryBackoff = "linear" is invalid; expected "exponential" or "fixed"'],
    [{ maxRetries: -1 }, 'Mailer.send: @Task() Task "mail.send": option maxRetries = -1 is invalid; expected an integer >= 0'],
    [{ delayMs: 100 }, 'Mailer.send: @Task() Task "mail.send": option delayMs = 100 is invalid; expected one of the @Task() options'],
  ])('fails the bootstrap on a bad @Task() option %j, naming the method, option and value', async (options, message) => {
    @Injectable()
    class Mailer {
      @Task('mail.send', options as TaskHandlerOptions)
      send(): void {}
    }
    await expect(createTestApp({ backend: 'memory://' }, [Mailer])).rejects.toThrow(message);
  });

  it('fails the bootstrap on an empty @Task() name, naming the method', async () => {
    @Injectable()
    class Mailer {
      @Task('  ')
      send(): void {}
    }
    await expect(createTestApp({ backend: 'memory://' }, [Mailer])).rejects.toThrow('Mailer.send: @Task() name "  " is invalid; expected a non-empty string');
  });

  it('fails the bootstrap when a @Task handler lives on a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class Scoped {
      @Task('scoped.task')
      run(): void {}
    }
    await expect(createTestApp({ backend: 'memory://' }, [Scoped])).rejects.toThrow(/Scoped\.run is a @Task\(\) or @Scheduled\(\) handler on a request-scoped/);
  });

  it('warns at startup about storage options no backend in use reads, rather than ignoring them silently', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const t = await createTestApp({ backend: 'memory://', storageOptions: { poolSize: 4, ssl: true } });
      await t.close();
      expect(warn).toHaveBeenCalledWith('storageOptions poolSize, ssl have no effect: no backend in use reads them (the backends in use read no storage options)');
    } finally {
      warn.mockRestore();
    }
  });

  it('fails the bootstrap with a clear message for an unknown backend URL', async () => {
    await expect(createTestApp({ backend: 'mongo://localhost' })).rejects.toThrow(
      'taskQueue: unknown backend "mongo" in "mongo://localhost"; known backends: memory',
    );
  });

  it('uses store instances passed in the options and leaves closing them to their owner', async () => {
    const taskQueue = new MemoryTaskQueueStore();
    const resultStore = new MemoryResultStore();
    const eventStore = new MemoryEventStore();
    const t = await createTestApp({ taskQueue, resultStore, eventStore }, [MailTasks]);
    expect(t.get<MemoryTaskQueueStore>(OMNIQ_TASK_QUEUE)).toBe(taskQueue);
    const id = await t.omniq.enqueue('mail.send', { to: 'bob' });
    await t.omniq.waitForResult(id);
    await t.close();
    expect((await taskQueue.get(id))?.status).toBe('success');
    expect((await resultStore.get(id))?.status).toBe('success');
    await Promise.all([taskQueue.close(), resultStore.close(), eventStore.close()]);
  });

  it('passes (payload, ctx) to handlers with the task id, attempt and an AbortSignal', async () => {
    const seen: TaskContext[] = [];
    @Injectable()
    class CtxTasks {
      @Task('ctx.capture')
      capture(_payload: unknown, ctx: TaskContext): void {
        seen.push(ctx);
      }
    }
    const t = await createTestApp({ backend: 'memory://' }, [CtxTasks]);
    try {
      const id = await t.omniq.enqueue('ctx.capture', {});
      await t.omniq.waitForResult(id);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ taskId: id, name: 'ctx.capture', queue: 'default', attempt: 1, maxRetries: 3 });
      expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
      expect(typeof seen[0]!.logger.log).toBe('function');
    } finally {
      await t.close();
    }
  });
});
