import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { fileBackend, fileStoreRoot } from '../../lib/backends/file/index.js';
import { DuplicateTaskIdError } from '../../lib/errors/store.errors.js';
import type { BackendContext, StorageEngine } from '../../lib/storage/engine.js';
import { ids, newEvent, WRITE_ALL } from '../../lib/testing/fixtures.js';
import { batchTasks } from '../processes/file-batch.js';
import { eventually } from '../support/eventually.js';

/*
 * File backend crash consistency (issue 11, item 7), with real processes SIGKILLed at chosen
 * points: an enqueueMany killed part-way, an event log torn mid-append, an append lock whose
 * holder was killed.
 */

const PROJECT = 'faults';
const scriptPath = (name: string): string => fileURLToPath(new URL(`../../dist-test/test/processes/${name}.js`, import.meta.url));

/** A batch big enough that its task files take a while to write; the kill lands a third of the way in. */
const BATCH = 1_500;
const KILL_AT = 500;

let dir: string;
const engines: StorageEngine[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'omniq-file-crash-'));
});

afterEach(async () => {
  jest.restoreAllMocks();
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  }
  await Promise.all(engines.splice(0).map((engine) => engine.close()));
  await rm(dir, { recursive: true, force: true });
});

const context = (): BackendContext => ({ projectName: PROJECT, baseDir: dir, storageOptions: {} });
const root = (): string => fileStoreRoot(`file://${dir}`, context());

async function openEngine(): Promise<StorageEngine> {
  const engine = await fileBackend.open(`file://${dir}`, context());
  engines.push(engine);
  return engine;
}

/** Starts a child script; resolves once it printed `line`. */
async function start(script: string, args: string[], line: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [scriptPath(script), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines = createInterface({ input: child.stdout! });
  const printed = new Promise<void>((resolve) => lines.on('line', (text) => text === line && resolve()));
  const exited = once(child, 'exit').then(() => {
    throw new Error(`${script} exited before printing "${line}": ${stderr}`);
  });
  await Promise.race([printed, exited]);
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

const taskFiles = async (): Promise<string[]> => (await readdir(join(root(), 'tasks'))).filter((name) => name.endsWith('.json'));

/** Every temp file under the project folder, as paths relative to it. */
async function tempFiles(folder = root(), prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (entry.isDirectory()) found.push(...(await tempFiles(join(folder, entry.name), `${prefix}${entry.name}/`)));
    else if (entry.name.endsWith('.tmp')) found.push(`${prefix}${entry.name}`);
  }
  return found;
}

/** Makes every temp file look as old as one a long-dead writer left. */
async function ageTempFiles(): Promise<void> {
  const longAgo = new Date(Date.now() - 3_600_000);
  for (const path of await tempFiles()) await utimes(join(root(), path), longAgo, longAgo);
}

describe('file backend: an enqueueMany killed part-way', () => {
  it('is stored whole with its enqueued events once another process opens the folder, with no temp file left', async () => {
    const child = await start('file-enqueue-process', [dir, PROJECT, String(BATCH)], 'enqueuing');
    // Killed from outside once a third of the batch's task files exist.
    await eventually(async () => (await taskFiles()).length >= KILL_AT, 20_000, `${KILL_AT} task files`);
    await kill(child);
    const leftByTheKill = (await taskFiles()).length;
    expect(leftByTheKill).toBeLessThan(BATCH); // killed mid-batch, not after it

    const survivor = await openEngine();
    const batch = batchTasks(BATCH);
    const stored = await survivor.tasks.getMany(ids(batch));
    expect(stored.filter((task) => task === undefined)).toHaveLength(0);
    expect((await survivor.tasks.list({ limit: BATCH + 1 })).total).toBe(BATCH);
    // The killed process never recorded them: recovery did, one event per task.
    const enqueued = await survivor.events.query({ types: ['enqueued'], limit: BATCH + 1 });
    expect(new Set(enqueued.map((event) => event.taskId))).toEqual(new Set(ids(batch)));
    expect(enqueued).toHaveLength(BATCH);

    // A retry of the batch finds it whole: nothing is stored twice.
    await expect(survivor.tasks.enqueue(batch)).rejects.toThrow(DuplicateTaskIdError);
    expect((await survivor.tasks.list({ limit: BATCH + 1 })).total).toBe(BATCH);

    // Temp files the kill left are swept once they are older than any live writer's.
    await ageTempFiles();
    await survivor.tasks.recoverPending!(new Date(), WRITE_ALL);
    expect(await tempFiles()).toEqual([]);
    expect(await readdir(join(root(), 'batches'))).toEqual([]);
  });
});

describe('file backend: the event log', () => {
  it('keeps the event appended after a line torn by a crash mid-append, and every event before it', async () => {
    const writer = await openEngine();
    const before = [newEvent(), newEvent()];
    await writer.events.append(before);
    // What a process killed in the middle of an append leaves: a line without its newline.
    await writeFile(join(root(), 'events.jsonl'), '{"id":"torn-event","type":"enq', { flag: 'a' });
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);

    const after = newEvent();
    await (await openEngine()).events.append([after]);
    const reader = await openEngine();
    expect(ids(await reader.events.query())).toEqual(ids([...before, after]));
    expect(logged).toHaveBeenCalledWith(expect.stringContaining('damaged line'));
    // The torn line now ends where it was cut: the log's lines are whole again.
    expect((await readFile(join(root(), 'events.jsonl'), 'utf8')).endsWith('\n')).toBe(true);
  });

  it('does not stall appends on a lock its killed holder left: the next append takes it over at once', async () => {
    await openEngine(); // creates the folder
    const holder = await start('file-lock-holder', [root()], 'locked');
    await kill(holder);
    expect(await readdir(join(root(), 'events.lock'))).toHaveLength(1);

    const engine = await openEngine();
    const event = newEvent();
    const startedAt = Date.now();
    await engine.events.append([event]);
    // The lock counts as stale after 5 s; its holder's death is known at once.
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(ids(await engine.events.query())).toEqual([event.id]);
    expect(await readdir(join(root(), 'events.lock'))).toEqual([]);
  });
});
