import { randomUUID } from 'node:crypto';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileStoreRoot } from '../../lib/backends/file/file.backend.js';
import { recordKey as fileKey } from '../../lib/backends/kv/kv-task-codec.js';
import { describeEngineConformance, type DamageField } from '../../lib/testing/index.js';
import { context, folderTarget, loadFile } from './targets.js';

/**
 * Damages a task's file as an old bug writing through the store's own protocol would: the record
 * changes under a new generation (its marker renamed to match), so every engine's cache sees it.
 */
async function damage(storage: { url: string; dir: string }, taskId: string, field: DamageField): Promise<void> {
  const root = fileStoreRoot(storage.url, context(storage.dir));
  const key = fileKey(taskId);
  const path = join(root, 'tasks', `${key}.json`);
  const envelope = JSON.parse(await readFile(path, 'utf8')) as { gen: number; rev: string; body: { task: Record<string, unknown> } };
  const task = envelope.body.task;
  switch (field) {
    case 'status':
      task.status = 'zzz';
      break;
    case 'runAt':
      delete task.runAt;
      break;
    case 'tags':
      task.tags = 'not, a, list';
      break;
    case 'dependsOn':
      delete task.dependsOn;
      break;
    case 'lastError':
      task.lastError = 42;
      break;
    case 'payload':
      task.payload = { format: 'bogus', data: '\u0001\u0002' };
      break;
  }
  const gen = envelope.gen;
  const staged = join(root, 'tasks', `.${key}.damage.tmp`);
  await writeFile(staged, JSON.stringify({ ...envelope, gen: gen + 1, rev: randomUUID() }));
  await rename(staged, path);
  for (const folder of ['live', 'done']) {
    if ((await readdir(join(root, folder))).includes(`${key}~${gen}`)) await rename(join(root, folder, `${key}~${gen}`), join(root, folder, `${key}~${gen + 1}`));
  }
}

describeEngineConformance(folderTarget('file', loadFile, (dir) => `file://${dir}`, damage));
