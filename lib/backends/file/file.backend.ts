import { resolve } from 'node:path';
import type { Backend, BackendContext } from '../backend.registry.js';
import { FileEventStore } from './file-event.store.js';
import { FileResultStore } from './file-result.store.js';
import { FileBackendConfigError } from './file-store.errors.js';
import { FileTaskQueueStore } from './file-task-queue.store.js';

const FILE_URL = /^file:\/\/(.*)$/is;
/** A project name becomes a folder name: one plain path segment. */
const PROJECT_NAME = /^(?!\.{1,2}$)[A-Za-z0-9._-]+$/;

/**
 * The folder a `file://` URL names for the context's project: `<dir>/<projectName>`, so projects
 * sharing a folder never see each other's data. `file:///abs/dir` is absolute, `file://./dir`
 * and `file://dir` are relative to the working directory, and a bare `file://` means the
 * context's baseDir. The path is taken as written (no percent-decoding).
 */
export function fileStoreRoot(url: string, context: BackendContext): string {
  const path = FILE_URL.exec(url)?.[1];
  if (path === undefined) {
    throw new FileBackendConfigError(`"${url}" is not a file:// URL (expected file:///absolute/dir or file://./relative/dir)`);
  }
  if (!PROJECT_NAME.test(context.projectName)) {
    throw new FileBackendConfigError(
      `projectName "${context.projectName}" cannot name a folder for ${url}; use letters, digits, ".", "_" and "-"`,
    );
  }
  return resolve(path === '' ? context.baseDir : path, context.projectName);
}

/** Tasks, schedules, results and events as files in a folder that several processes may share. */
export const fileBackend: Backend = {
  storageOptions: [],
  createTaskQueue: (url, context) => FileTaskQueueStore.open(fileStoreRoot(url, context)),
  createResultStore: (url, context) => FileResultStore.open(fileStoreRoot(url, context)),
  createEventStore: (url, context) => FileEventStore.open(fileStoreRoot(url, context)),
};
