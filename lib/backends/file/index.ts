export { FileEngine, fileBackend, fileStoreRoot } from './file.backend.js';
export { FileResultStore } from './file-result.store.js';
export { FileEventStore } from './file-event.store.js';
export { FileNotifier } from './file-notifier.js';
export { RECOVER_AFTER_MS } from '../kv/kv-outbox.js';
export { CorruptFileError, FileBackendConfigError, FileWriteError } from './file-store.errors.js';
