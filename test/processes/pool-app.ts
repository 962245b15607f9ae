/**
 * The main side of the executor tests, in OmniQ's compiled JavaScript like its pool members
 * (pool-tasks.module.ts): an app on the memory backend whose worker runs the pool module's
 * handlers where `worker` says.
 */
import 'reflect-metadata';
import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { fileURLToPath } from 'node:url';
import { OmniQModule, OmniQService, type OmniQModuleOptions } from '../../lib/index.js';
import { PoolTasksModule } from './pool-tasks.module.js';

export const POOL_MODULE_FILE = fileURLToPath(new URL('./pool-tasks.module.js', import.meta.url));

export interface PoolApp {
  app: INestApplicationContext;
  omniq: OmniQService;
}

export async function createPoolApp(options: OmniQModuleOptions): Promise<PoolApp> {
  @Module({ imports: [OmniQModule.forRoot({ backend: 'memory', ...options, worker: { poolModule: POOL_MODULE_FILE, ...options.worker } }), PoolTasksModule] })
  class PoolAppModule {}
  const app = await NestFactory.createApplicationContext(PoolAppModule, { logger: ['error', 'warn'] });
  return { app, omniq: app.get(OmniQService) };
}
