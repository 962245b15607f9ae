import { resolve } from 'node:path';
import { backendLogger, type BackendLogger } from '../shared/backend-logger.js';
import type { Backend, BackendContext, EngineCapabilities, StorageEngine } from '../../storage/engine.js';
import { OutboxView } from '../kv/kv-outbox-view.js';
import { KvTaskQueueStore } from '../kv/kv-task-queue.store.js';
import { FileEventStore } from './file-event.store.js';
import { FileKvStorage } from './file-kv-storage.js';
import { FileNotifier } from './file-notifier.js';
import { FileResultStore } from './file-result.store.js';
import { FileBackendConfigError } from './file-store.errors.js';
import { TaskFiles } from './task-files.js';

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

/**
 * The stores of one project folder. Opening the same folder again gives another engine that
 * shares nothing with this one but the files, as another process would.
 */
export class FileEngine implements StorageEngine {
  readonly capabilities: EngineCapabilities;

  private constructor(
    readonly tasks: KvTaskQueueStore,
    readonly results: FileResultStore,
    readonly events: FileEventStore,
  ) {
    this.capabilities = Object.freeze({
      crossProcessNotify: tasks.notifier.crossProcess,
      // A task's end writes its result and events into its outbox in the task's own write, and
      // the result and event stores read through the outboxes: durable and visible together.
      atomicCompletion: true,
    });
  }

  /** Opens (creating if needed) the engine on `root`, the project's folder. */
  static async open(root: string, log: BackendLogger = backendLogger()): Promise<FileEngine> {
    const notifier = await FileNotifier.open(root, log('OmniQFileNotifier'));
    const files = await TaskFiles.open(root, log('OmniQFileTaskQueue'));
    const outbox = new OutboxView(files);
    const [results, events] = await Promise.all([FileResultStore.open(root, notifier, outbox, log('OmniQFileResultStore')), FileEventStore.open(root, outbox, log('OmniQFileEventStore'))]);
    const storage = await FileKvStorage.open(root, files, log);
    const tasks = await KvTaskQueueStore.open({
      storeName: 'FileTaskQueueStore',
      storage,
      notifier,
      results,
      events,
      logger: log('OmniQFileTaskQueue'),
      scheduleLogger: log('OmniQFileSchedules'),
    });
    return new FileEngine(tasks, results, events);
  }

  async close(): Promise<void> {
    await this.tasks.close();
    await this.results.close();
    await this.events.close();
  }
}

/** Tasks, schedules, results and events as files in a folder that several processes may share. */
export const fileBackend: Backend = {
  storageOptions: [],
  open: (url, context) => FileEngine.open(fileStoreRoot(url, context), backendLogger(context)),
};
