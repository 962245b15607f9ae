import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { OmniQService, type TaskEvent } from '../lib/index.js';
import { AppModule } from './app.module.js';

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['log', 'warn', 'error'] });
  app.enableShutdownHooks();
  const omniq = app.get(OmniQService);
  const before = await countTasks(omniq);
  console.log(`The store holds ${before} task(s) from earlier runs.`);

  const ids = await omniq.enqueueMany([
    { name: 'report.build', payload: { month: '2026-10' } },
    { name: 'math.sum', payload: [1, 2, 3, 4] },
    { name: 'mail.flaky', payload: { to: 'ops@example.com' } },
    { name: 'api.slow', payload: {} },
  ]);

  for (const id of ids) {
    const result = await omniq.waitForResult(id, { timeoutMs: 10_000 });
    const outcome = result.status === 'success' ? JSON.stringify(result.value) : `${result.error?.name}: ${result.error?.message}`;
    console.log(`\n${result.taskName} → ${result.status} after ${result.attempts} attempt(s): ${outcome}`);
    for (const event of await omniq.getEvents({ taskId: id })) console.log(`  ${timeline(event)}`);
  }

  console.log('\nQueue stats:', JSON.stringify(await omniq.stats()));
  console.log(`The store now holds ${await countTasks(omniq)} task(s); run the sample again to see them counted.`);
  await app.close();
}

async function countTasks(omniq: OmniQService): Promise<number> {
  const stats = await omniq.stats();
  return Object.values(stats).reduce((sum, byStatus) => sum + Object.values(byStatus).reduce((a, b) => a + (b ?? 0), 0), 0);
}

function timeline(event: TaskEvent): string {
  const detail = event.error ? ` (${event.error.message})` : event.durationMs !== undefined ? ` (${event.durationMs} ms)` : '';
  return `${event.timestamp.toISOString()}  ${event.type}${event.attempt ? ` #${event.attempt}` : ''}${detail}`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
