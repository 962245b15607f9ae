import { Controller, Inject, Injectable, Module, Scope, type INestApplicationContext, type ModuleMetadata } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OmniQModule, OmniQService, Scheduled, Task, TaskDefinitionError, TaskRegistry, type OmniQModuleOptions } from '../../lib/index.js';
import { ScheduleRegistry } from '../../lib/scheduler/schedule.registry.js';

/** Hosts no class provider declares: each is made by a factory, given as a value, or named by useClass. */
class Mailer {
  constructor(private readonly from: string) {}

  @Task('factory.send')
  send(payload: { to: string }): string {
    return `${this.from} -> ${payload.to}`;
  }

  @Scheduled({ name: 'mail.digest', cron: '0 6 * * *' })
  digest(): string {
    return `digest from ${this.from}`;
  }
}

class Pricing {
  private readonly rate = 1.2;

  @Task('value.price')
  price(payload: { net: number }): number {
    return payload.net * this.rate;
  }
}

@Injectable()
class Archiver {
  readonly bucket = 'archive';

  @Task('class.archive')
  archive(payload: { key: string }): string {
    return `${this.bucket}/${payload.key}`;
  }
}

@Controller('reports')
class ReportsController {
  @Task('controller.report')
  report(payload: { day: string }): string {
    return `report for ${payload.day}`;
  }
}

/** Binds its handler in the constructor: the own property runs, the prototype's carries the name. */
@Injectable()
class BoundTasks {
  private readonly label = 'bound';

  constructor() {
    this.run = this.run.bind(this);
  }

  @Task('bound.run')
  run(): string {
    return this.label;
  }
}

const hosts: ModuleMetadata = {
  controllers: [ReportsController],
  providers: [
    { provide: 'MAILER', useFactory: () => new Mailer('noreply@example.com') },
    // The same instance behind two more tokens: its handlers must register once, not clash with themselves.
    { provide: 'MAILER_ALIAS', useExisting: 'MAILER' },
    { provide: 'MAILER_AGAIN', useFactory: (mailer: Mailer) => mailer, inject: ['MAILER'] },
    { provide: 'PRICING', useValue: new Pricing() },
    { provide: 'ARCHIVER', useClass: Archiver },
    BoundTasks,
    // Values that are no handler host: a plain object and a primitive.
    { provide: 'SETTINGS', useValue: { retries: 3 } },
    { provide: 'REGION', useValue: 'eu-west-1' },
  ],
};

async function boot(options: OmniQModuleOptions, metadata: ModuleMetadata): Promise<INestApplicationContext> {
  @Module({ imports: [OmniQModule.forRoot(options)], ...metadata })
  class HostsModule {}
  const moduleRef = await Test.createTestingModule({ imports: [HostsModule] }).compile();
  moduleRef.useLogger(false);
  return moduleRef.init();
}

describe('OmniQExplorer', () => {
  it('finds handlers on controllers and on useFactory, useValue and useClass providers, each once', async () => {
    const app = await boot({ backend: 'memory://', worker: { enabled: false } }, hosts);
    try {
      const registry = app.get(TaskRegistry);
      expect(registry.declaredNames().sort()).toEqual(['bound.run', 'class.archive', 'controller.report', 'factory.send', 'mail.digest', 'value.price']);
      expect(['factory.send', 'value.price', 'class.archive', 'controller.report'].map((name) => registry.get(name)?.source)).toEqual([
        'Mailer.send',
        'Pricing.price',
        'Archiver.archive',
        'ReportsController.report',
      ]);
      expect(app.get(ScheduleRegistry).all().map((s) => [s.id, s.source])).toEqual([['mail.digest', 'Mailer.digest']]);
    } finally {
      await app.close();
    }
  });

  it('runs each handler on its own instance and returns its result', async () => {
    const app = await boot({ backend: 'memory://' }, hosts);
    try {
      const omniq = app.get(OmniQService);
      const run = async (name: string, payload: unknown) => (await omniq.waitForResult(await omniq.enqueue(name, payload), { timeoutMs: 5000 })).value;
      expect(await run('factory.send', { to: 'ada@example.com' })).toBe('noreply@example.com -> ada@example.com');
      expect(await run('value.price', { net: 10 })).toBe(12);
      expect(await run('class.archive', { key: 'q3.pdf' })).toBe('archive/q3.pdf');
      expect(await run('controller.report', { day: 'monday' })).toBe('report for monday');
      expect(await run('bound.run', null)).toBe('bound');
      expect(await run('mail.digest', null)).toBe('digest from noreply@example.com');
    } finally {
      await app.close();
    }
  });

  it('fails the bootstrap for a request-scoped controller, naming class and method', async () => {
    @Controller({ path: 'scoped', scope: Scope.REQUEST })
    class ScopedController {
      @Task('scoped.report')
      report(): void {}
    }
    const booting = boot({ backend: 'memory://', worker: { enabled: false } }, { controllers: [ScopedController] });
    await expect(booting).rejects.toThrow(TaskDefinitionError);
    await expect(boot({ backend: 'memory://', worker: { enabled: false } }, { controllers: [ScopedController] })).rejects.toThrow(
      /^ScopedController\.report is a @Task\(\) or @Scheduled\(\) handler on a request-scoped or transient provider/,
    );
  });

  it('fails the bootstrap for a useClass provider made request-scoped by its provider entry', async () => {
    const booting = boot({ backend: 'memory://', worker: { enabled: false } }, { providers: [{ provide: 'ARCHIVER', useClass: Archiver, scope: Scope.REQUEST }] });
    await expect(booting).rejects.toThrow(/^Archiver\.archive is a @Task\(\) or @Scheduled\(\) handler on a request-scoped or transient provider/);
  });

  it('fails the bootstrap for a transient useFactory provider, naming the class of what it made', async () => {
    @Injectable()
    class Consumer {
      constructor(@Inject('MAILER') readonly mailer: Mailer) {}
    }
    const booting = boot(
      { backend: 'memory://', worker: { enabled: false } },
      { providers: [{ provide: 'MAILER', useFactory: () => new Mailer('transient'), scope: Scope.TRANSIENT }, Consumer] },
    );
    await expect(booting).rejects.toThrow(/^Mailer\.send is a @Task\(\) or @Scheduled\(\) handler on a request-scoped or transient provider/);
  });

  it('fails the bootstrap when two factory-made instances of one class declare the same task', async () => {
    const booting = boot(
      { backend: 'memory://', worker: { enabled: false } },
      {
        providers: [
          { provide: 'MAILER_EU', useFactory: () => new Mailer('eu') },
          { provide: 'MAILER_US', useFactory: () => new Mailer('us') },
        ],
      },
    );
    await expect(booting).rejects.toThrow('Duplicate task name "factory.send": declared by Mailer.send on two instances (two providers make or hold that class)');
  });

  it('fails the bootstrap when a handler runs on a pool but no worker.poolModule is set, naming it and where it runs', async () => {
    @Injectable()
    class RenderTasks {
      @Task('render.pdf', { runIn: 'thread' })
      pdf(): void {}

      @Task('render.loop')
      loop(): void {}
    }
    await expect(boot({ backend: 'memory://' }, { providers: [RenderTasks] })).rejects.toThrow(
      'RenderTasks.pdf (thread) runs on a pool (@Task({ runIn }) or worker.type), which needs worker.poolModule: ' +
        'the Nest module whose providers the pool members bootstrap to run these handlers',
    );
    await expect(boot({ backend: 'memory://', worker: { type: 'process' } }, { providers: [RenderTasks] })).rejects.toThrow(
      /^RenderTasks\.pdf \(thread\), RenderTasks\.loop \(process\) run on a pool/,
    );
    const producer = await boot({ backend: 'memory://', worker: { enabled: false } }, { providers: [RenderTasks] });
    await producer.close();
  });

  it('fails the bootstrap for a runIn that is no worker type', async () => {
    @Injectable()
    class OddTasks {
      @Task('odd.task', { runIn: 'gpu' as 'thread' })
      run(): void {}
    }
    await expect(boot({ backend: 'memory://', worker: { enabled: false } }, { providers: [OddTasks] })).rejects.toThrow(
      'OddTasks.run: @Task() Task "odd.task": option runIn = "gpu" is invalid; expected "async", "thread" or "process"',
    );
  });
});
