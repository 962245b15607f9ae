/**
 * Deeply nested payloads and results against a worker app in its own process: before the codec
 * had a depth limit, V8 aborted the whole process (`FATAL ERROR: RegExpCompiler Allocation
 * failed`), which no catch stops and which a test can only observe from outside. Compiled to
 * dist-test/ before jest runs and started as `node hostile-nesting.js <backend-url> <levels>`.
 * Prints one JSON line per step (`enqueue`, `result`, `serving`), then `done`, and exits 0.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { OmniQModule, OmniQService, Task } from '../../lib/index.js';

const [backend, levelsArg] = process.argv.slice(2);
if (!backend || !levelsArg) throw new Error('usage: hostile-nesting <backend-url> <levels>');
const levels = Number(levelsArg);

/** `levels` objects, each the only property of the one around it. */
function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level++) value = { a: value };
  return value;
}

@Injectable()
class HostileTasks {
  // Retries allowed: the failure must be final anyway, a bad result being no transient fault.
  @Task('hostile.deep-result', { maxRetries: 3, retryDelayMs: 1 })
  deepResult(): unknown {
    return nested(levels);
  }

  @Task('hostile.echo')
  echo(payload: unknown): unknown {
    return payload;
  }
}

@Module({
  imports: [OmniQModule.forRoot({ backend, worker: { pollIntervalMs: 50 }, maintenance: { intervalMs: 50, leaderTtlMs: 1_000 } })],
  providers: [HostileTasks],
})
class HostileModule {}

const report = (line: object): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

const app = await NestFactory.createApplicationContext(HostileModule, { logger: false });
const omniq = app.get(OmniQService);
try {
  const id = await omniq.enqueue('hostile.echo', nested(levels));
  report({ step: 'enqueue', stored: id, total: (await omniq.listTasks({ limit: 0 })).total });
} catch (error) {
  report({ step: 'enqueue', error: (error as Error).name, message: (error as Error).message, total: (await omniq.listTasks({ limit: 0 })).total });
}
const bad = await omniq.enqueue('hostile.deep-result', null);
const outcome = await omniq.waitForResult(bad, { timeoutMs: 30_000 });
report({ step: 'result', status: outcome.status, attempts: outcome.attempts, error: outcome.error });
const good = await omniq.enqueue('hostile.echo', { ok: true });
const served = await omniq.waitForResult(good, { timeoutMs: 30_000 });
report({ step: 'serving', status: served.status, value: served.value });
await app.close();
process.stdout.write('done\n');
