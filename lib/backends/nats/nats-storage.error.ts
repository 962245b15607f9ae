import { OmniQError } from '../../errors/omniq.errors.js';

/**
 * Why a call was never sent: the connection was down (reconnecting) for longer than
 * storageOptions.connectTimeoutMs, or closed for good. Nothing was applied.
 */
export class NatsNotConnectedError extends Error {
  override name = 'NatsNotConnectedError';
}

/** A request in flight when the connection dropped: it may or may not have been applied. */
export class ConnectionLostError extends Error {
  override name = 'ConnectionError';
}

/** JetStream API error codes OmniQ reacts to (see the server's errors.json). */
export const JS_WRONG_LAST_SEQUENCE = 10071;
export const JS_STREAM_NOT_FOUND = 10059;
export const JS_NO_MESSAGE_FOUND = 10037;
export const JS_STREAM_NAME_IN_USE = 10058;
export const JS_NOT_ENABLED = 10039;
export const JS_INSUFFICIENT_RESOURCES = 10023;
export const JS_MAX_BYTES = 10077;
export const JS_MESSAGE_SIZE = 10054;

/** The JetStream API error code of a driver error (`10071` for a failed compare-and-swap), read by shape. */
export function jetStreamCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown; name?: unknown } | null)?.code;
  const name = (error as { name?: unknown } | null)?.name;
  if (typeof code === 'number' && (name === 'JetStreamApiError' || name === 'StreamNotFoundError' || name === 'ConsumerNotFoundError')) return code;
  return undefined;
}

/** Whether an error is a compare-and-swap that lost: the key's last revision was not the one expected. */
export function isWrongRevision(error: unknown): boolean {
  const code = jetStreamCode(error);
  return code === JS_WRONG_LAST_SEQUENCE || code === 10164;
}

/** A driver error as text: its message, else its name. */
export function errorText(error: unknown): string {
  const { message, name } = (error ?? {}) as { message?: unknown; name?: unknown };
  if (typeof message === 'string' && message !== '') return message;
  if (typeof name === 'string') return name;
  return String(error);
}

const ADVICE_BY_CODE: Readonly<Record<number, string>> = {
  [JS_NOT_ENABLED]: 'JetStream is not enabled for this account: start nats-server with -js (or jetstream {} in its config)',
  [JS_INSUFFICIENT_RESOURCES]: "the server has no JetStream storage left (max_file_store / max_memory_store): free some or raise the limit; nothing was written",
  [JS_MAX_BYTES]: 'the stream reached its byte limit; nothing was written',
  [JS_MESSAGE_SIZE]: "the record is larger than the server's max_payload; nothing was written",
  [JS_STREAM_NOT_FOUND]: "one of the project's streams or buckets is gone (deleted by hand?): restart the app to create it again",
};

/** The name of the innermost of a RequestError's causes (a TimeoutError, NoResponders). */
function innermostName(error: unknown): unknown {
  let current = error as { name?: unknown; cause?: unknown } | null;
  while (current?.name === 'RequestError' && current.cause) current = current.cause as typeof current;
  return current?.name;
}

function advice(cause: unknown): string | undefined {
  if (cause instanceof NatsNotConnectedError) return 'nothing was sent; retry once the server is reachable';
  const code = jetStreamCode(cause);
  if (code !== undefined && ADVICE_BY_CODE[code]) return ADVICE_BY_CODE[code];
  const name = innermostName(cause);
  if (name === 'TimeoutError') return 'no reply came within storageOptions.requestTimeoutMs: it may or may not have been applied';
  if (name === 'NoResponders') return 'no JetStream answered (the server runs without -js, or is restarting): nothing was applied';
  if (name === 'PermissionViolationError' || name === 'AuthorizationError') return "the NATS user lacks a permission OmniQ needs (publish and subscribe on the project's subjects, $JS.API.>, $KV.>)";
  if (name === 'ClosedConnectionError' || name === 'ConnectionError' || name === 'DrainingConnectionError') {
    return 'the connection was lost with the request in flight: it may or may not have been applied';
  }
  return undefined;
}

/**
 * A NATS failure, told with the server (URL without secrets) and the store call, where the
 * driver's own error (`cause`) names neither.
 */
export class NatsStorageError extends OmniQError {
  override name = 'NatsStorageError';
  /** The JetStream API error code, when the server answered with one. */
  readonly code: number | undefined;

  constructor(
    readonly url: string,
    readonly operation: string,
    cause: unknown,
  ) {
    const told = advice(cause);
    super(`NATS ${url}: ${operation} failed (${errorText(cause)})${told ? `: ${told}` : ''}`, { cause });
    this.code = jetStreamCode(cause);
  }
}
