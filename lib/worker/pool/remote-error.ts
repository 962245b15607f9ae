import { NonRetryableError } from '../../errors/task.errors.js';
import type { RemoteError } from './pool-protocol.js';

/** What crosses to the main process of an error a member's handler threw. */
export function toRemoteError(error: unknown): RemoteError {
  if (!(error instanceof Error)) return { name: 'Error', message: typeof error === 'string' ? error : `non-error thrown: ${String(error)}` };
  const remote: RemoteError = { name: error.name, message: error.message, stack: error.stack };
  if (error instanceof NonRetryableError) remote.nonRetryable = true;
  return remote;
}

/** The error as the main process records it: the member's name, message and stack, non-retryable if it was there. */
export function fromRemoteError(remote: RemoteError): Error {
  const error = remote.nonRetryable ? new NonRetryableError(remote.message) : new Error(remote.message);
  Object.defineProperty(error, 'name', { value: remote.name, configurable: true, writable: true });
  if (remote.stack !== undefined) error.stack = remote.stack;
  return error;
}
