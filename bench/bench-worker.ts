/**
 * The other process of the cross-process benchmark: a worker app on the store URL given as its
 * argument, with polling set so slow that only notifications can explain a quick reaction. Prints
 * `ready` once it serves; ends on SIGTERM.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';

const [backend] = process.argv.slice(2);
if (!backend) throw new Error('usage: bench-worker <backend-url>');

@Module({
  imports: [OmniQModule.forRoot({ backend, worker: { concurrency: 10, pollIntervalMs: 60_000 }, scheduler: { enabled: false } })],
  providers: [BenchTasks],
})
class BenchWorkerModule {}

const app = await NestFactory.createApplicationContext(BenchWorkerModule, { logger: ['error'] });
app.enableShutdownHooks();
process.stdout.write('ready\n');
