import { Module, type INestApplicationContext, type Provider, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OmniQModule, OmniQService, OmniQWorker, type OmniQModuleOptions } from '../../lib/index.js';

export interface TestApp {
  app: INestApplicationContext;
  omniq: OmniQService;
  worker: OmniQWorker;
  get<T>(token: Type<T> | string): T;
  close(): Promise<void>;
}

/** Boots a Nest app with OmniQ on the given options and the given task providers. */
export async function createTestApp(options: OmniQModuleOptions, providers: Provider[] = []): Promise<TestApp> {
  @Module({ imports: [OmniQModule.forRoot({ ...options })], providers })
  class TestAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  moduleRef.useLogger(false);
  const app = await moduleRef.init();
  return {
    app,
    omniq: app.get(OmniQService),
    worker: app.get(OmniQWorker),
    get: <T>(token: Type<T> | string) => app.get<T>(token),
    close: () => app.close(),
  };
}

/** A promise with its resolve function outside, to hold a handler until the test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
