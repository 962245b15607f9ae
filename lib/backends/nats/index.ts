export { natsBackend, natsStores, type NatsStores, type NatsClientOptions } from './nats.backend.js';
export { NatsStorageError } from './nats-storage.error.js';
export { NatsSettingsError } from './nats-settings.js';
