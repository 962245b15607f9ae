/**
 * The other process of the cross-process benchmark: a worker app on the store given as its
 * argument (a `BenchStore` as JSON: backend URL and storageOptions), with polling set so slow that
 * only notifications can explain a quick reaction. Prints `ready` once it serves; ends on SIGTERM.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';
import type { BenchStore } from './bench-omniq.js';

const [storeJson] = process.argv.slice(2);
if (!storeJson) throw new Error('usage: bench-worker <store as JSON: {"backend": url, "storageOptions": {...}}>');
const store = JSON.parse(storeJson) as BenchStore;

@Module({
  imports: [OmniQModule.forRoot({ ...store, worker: { concurrency: 10, pollIntervalMs: 60_000 }, scheduler: { enabled: false } })],
  providers: [BenchTasks],
})
class BenchWorkerModule {}

const app = await NestFactory.createApplicationContext(BenchWorkerModule, { logger: ['error'] });
app.enableShutdownHooks();
process.stdout.write('ready\n');
