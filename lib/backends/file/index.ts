export { FileEngine, fileBackend, fileStoreRoot } from './file.backend.js';
export { FileTaskQueueStore } from './file-task-queue.store.js';
export { FileScheduleStore } from './file-schedule.store.js';
export { FileResultStore } from './file-result.store.js';
export { FileEventStore } from './file-event.store.js';
export { FileNotifier } from './file-notifier.js';
export { RECOVER_AFTER_MS } from './outbox.js';
export { CorruptFileError, FileBackendConfigError, FileWriteError } from './file-store.errors.js';
