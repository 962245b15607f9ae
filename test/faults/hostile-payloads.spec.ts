import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Injectable } from '@nestjs/common';
import { MAX_NESTING_DEPTH, PayloadEncodingError, Task } from '../../lib/index.js';
import { newTask } from '../../lib/testing/index.js';
import { describeOnEveryBackend, type TestBackend } from '../support/backends.js';
import { createTestApp, type TestApp } from '../support/test-app.js';

const NESTING_SCRIPT = fileURLToPath(new URL('../../dist-test/test/processes/hostile-nesting.js', import.meta.url));

/** The reported issue: 2,500 levels, a 15 KB body, aborted Node inside enqueue. */
const REPORTED_LEVELS = 2_500;

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  steps: Record<string, Record<string, unknown>>;
  done: boolean;
}

/** Runs test/processes/hostile-nesting.ts on `url` and collects what it printed and how it exited. */
async function runNestingChild(url: string, levels: number): Promise<ChildRun> {
  const child = spawn(process.execPath, [NESTING_SCRIPT, url, String(levels)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  const lines = stdout.split('\n').filter(Boolean);
  const steps = Object.fromEntries(
    lines.filter((line) => line.startsWith('{')).map((line) => {
      const step = JSON.parse(line) as Record<string, unknown>;
      return [step.step as string, step];
    }),
  );
  return { code, signal, stderr, steps, done: lines.includes('done') };
}

/** `levels` objects, each the only property of the one around it. */
function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < levels; level++) value = { a: value };
  return value;
}

@Injectable()
class HostileTasks {
  @Task('hostile.echo')
  echo(payload: unknown): unknown {
    return payload;
  }

  @Task('hostile.cyclic-result', { maxRetries: 3, retryDelayMs: 1 })
  cyclicResult(): unknown {
    const node: Record<string, unknown> = { id: 1 };
    node.self = { back: node };
    return node;
  }
}

/** Strings JSON and the stores must keep exactly: NUL, lone surrogates of both halves, a pair split by another character. */
const AWKWARD_STRINGS = ['a\u0000b', '\u0000', '\ud800', 'x\udfffy', '\udc00\ud800', '\ud83d-\ude00', 'end\ud83d'];

function awkwardPayload(): Record<string, unknown> {
  return {
    ...Object.fromEntries(AWKWARD_STRINGS.map((s, i) => [`k${s}${i}`, s])),
    list: AWKWARD_STRINGS,
    nested: { [AWKWARD_STRINGS.join('')]: new Map([[AWKWARD_STRINGS[2], new Set(AWKWARD_STRINGS)]]) },
  };
}

describeOnEveryBackend('hostile payloads', (backend: TestBackend) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const start = async (url = backend.url()): Promise<TestApp> => {
    t = await createTestApp({ backend: url, worker: { pollIntervalMs: 20 }, scheduler: { enabled: false } }, [HostileTasks]);
    return t;
  };

  describe('deep nesting', () => {
    it(`rejects a ${REPORTED_LEVELS}-level payload at enqueue and fails a task returning one, and the worker process goes on serving`, async () => {
      // In a child process: before the depth limit V8 aborted the process (no catch could stop it).
      const run = await runNestingChild(backend.url(), REPORTED_LEVELS);
      expect(run.stderr).not.toContain('FATAL ERROR');
      expect({ code: run.code, signal: run.signal, done: run.done }).toEqual({ code: 0, signal: null, done: true });
      expect(run.steps.enqueue).toEqual({
        step: 'enqueue',
        error: 'PayloadEncodingError',
        message: expect.stringContaining(`is nested more than ${MAX_NESTING_DEPTH} levels deep`),
        total: 0,
      });
      expect((run.steps.enqueue!.message as string).length).toBeLessThan(300);
      // Final at once although the handler allows retries: the result, not the run, is at fault.
      expect(run.steps.result).toMatchObject({
        status: 'failed',
        attempts: 1,
        error: { name: 'PayloadEncodingError', message: expect.stringMatching(/^result\.a\.a.*…\(\d+ levels\)….* is nested more than 1000 levels deep/) },
      });
      expect(run.steps.serving).toEqual({ step: 'serving', status: 'success', value: { ok: true } });
    });

    it(`stores and runs a payload nested exactly ${MAX_NESTING_DEPTH} levels deep`, async () => {
      const app = await start();
      const payload = nested(MAX_NESTING_DEPTH - 1);
      const result = await app.omniq.waitForResult(await app.omniq.enqueue('hostile.echo', payload), { timeoutMs: 20_000 });
      expect(result.status).toBe('success');
      expect(result.value).toEqual(payload);
    });

    it('fails, without a retry, a stored task whose payload another writer nested too deep, and runs the next one', async () => {
      const shared = await backend.shared();
      t = await createTestApp({ ...shared.options, worker: { pollIntervalMs: 20 }, scheduler: { enabled: false } }, [HostileTasks]);
      const levels = 100_000;
      const [stored] = await shared.engine.tasks.enqueue([
        newTask({ name: 'hostile.echo', maxRetries: 3, retryDelayMs: 1, payload: { format: 'omniq-json/1', data: '['.repeat(levels) + ']'.repeat(levels) } }),
      ]);
      const failed = await t.omniq.waitForResult(stored!.id, { timeoutMs: 20_000 });
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'PayloadDecodingError' } });
      expect(failed.error!.message).toContain(`nested more than ${MAX_NESTING_DEPTH} levels deep`);
      const next = await t.omniq.waitForResult(await t.omniq.enqueue('hostile.echo', 'next'), { timeoutMs: 20_000 });
      expect(next).toMatchObject({ status: 'success', value: 'next' });
    });
  });

  it('stores a 20 MB string payload and result and gives both back exactly', async () => {
    const app = await start();
    // 20 million characters, 35 MB of UTF-8.
    const huge = 'x'.repeat(10_000_000) + '\u00e9\u4e2d'.repeat(5_000_000);
    const id = await app.omniq.enqueue('hostile.echo', { huge });
    const result = await app.omniq.waitForResult(id, { timeoutMs: 45_000 });
    expect(result.status).toBe('success');
    expect((result.value as { huge: string }).huge === huge).toBe(true);
    expect(((await app.omniq.getTask(id))!.payload as { huge: string }).huge === huge).toBe(true);
  }, 90_000);

  it('rejects a cyclic payload naming where the cycle closes, and fails a task whose result is cyclic', async () => {
    const app = await start();
    const payload: Record<string, unknown> = { order: { lines: [] as unknown[] } };
    (payload.order as { lines: unknown[] }).lines.push({ parent: payload.order });
    const rejected = await app.omniq.enqueue('hostile.echo', payload).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(rejected).toBeInstanceOf(PayloadEncodingError);
    expect((rejected as PayloadEncodingError).path).toBe('payload.order.lines[0].parent');
    expect((rejected as Error).message).toBe('Task "hostile.echo": circular reference at payload.order.lines[0].parent: the value contains itself, so it cannot be stored as a tree');
    expect((await app.omniq.listTasks({ limit: 0 })).total).toBe(0);

    const result = await app.omniq.waitForResult(await app.omniq.enqueue('hostile.cyclic-result', null), { timeoutMs: 20_000 });
    expect(result).toMatchObject({ status: 'failed', attempts: 1, error: { name: 'PayloadEncodingError', message: expect.stringMatching(/^circular reference at result\.self\.back:/) } });
  });

  it('keeps NUL characters and lone surrogates in strings and keys exactly, in payloads and results', async () => {
    const app = await start();
    const id = await app.omniq.enqueue('hostile.echo', awkwardPayload(), { tags: ['plain'] });
    const result = await app.omniq.waitForResult(id, { timeoutMs: 20_000 });
    expect(result.status).toBe('success');
    expect(result.value).toEqual(awkwardPayload());
    expect(Object.keys(result.value as object)).toEqual(Object.keys(awkwardPayload()));
    expect((await app.omniq.getTask(id))!.payload).toEqual(awkwardPayload());
  });

  it('keeps __proto__ and constructor keys as data, polluting no prototype', async () => {
    const app = await start();
    const payload = JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":{"__proto__":[1]}}') as Record<string, unknown>;
    const id = await app.omniq.enqueue('hostile.echo', payload);
    const result = await app.omniq.waitForResult(id, { timeoutMs: 20_000 });
    expect(result.status).toBe('success');
    for (const value of [result.value, (await app.omniq.getTask(id))!.payload] as Record<string, unknown>[]) {
      expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
      expect(Object.getOwnPropertyNames(value)).toEqual(['__proto__', 'constructor', 'a']);
      expect(Object.getOwnPropertyDescriptor(value, '__proto__')!.value).toEqual({ polluted: true });
      expect(value.constructor).toEqual({ prototype: { polluted: true } });
      expect(Object.getOwnPropertyDescriptor(value.a, '__proto__')!.value).toEqual([1]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });
});
