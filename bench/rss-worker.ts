/**
 * The worker process of the RSS row: a worker app (concurrency 100) on the store given as its
 * argument (a `BenchStore` as JSON) that drains the `count` tasks queued there before it started,
 * sampling its resident set size meanwhile; prints the peak in MB and exits.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQWorker } from '../lib/index.js';
import { BenchTasks } from './bench.tasks.js';
import type { BenchStore } from './bench-omniq.js';

const [storeJson, countText] = process.argv.slice(2);
if (!storeJson || !countText) throw new Error('usage: rss-worker <store as JSON> <tasks queued>');
const store = JSON.parse(storeJson) as BenchStore;

@Module({
  imports: [OmniQModule.forRoot({ ...store, worker: { enabled: false, concurrency: 100 }, scheduler: { enabled: false } })],
  providers: [BenchTasks],
})
class RssWorkerModule {}

const app = await NestFactory.createApplicationContext(RssWorkerModule, { logger: ['error'] });
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const allRan = app.get(BenchTasks).expectRuns(Number(countText));
const worker = app.get(OmniQWorker);
worker.start();
await allRan;
await worker.close();
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
await app.close();
process.stdout.write(`${Math.round(peak / 2 ** 20)}\n`);
