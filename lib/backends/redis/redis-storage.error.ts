import { OmniQError } from '../../errors/omniq.errors.js';

/**
 * Why a call was never sent: the connection was down (reconnecting) for longer than
 * storageOptions.connectTimeoutMs, or closed for good. Nothing was applied.
 */
export class RedisNotConnectedError extends Error {
  override name = 'RedisNotConnectedError';
}

/** Redis error reply prefixes (`OOM command not allowed …`) and what they mean for the user. */
const ADVICE: Readonly<Record<string, string>> = {
  OOM: 'the server reached its maxmemory (with maxmemory-policy noeviction); nothing was written: free memory or raise maxmemory, then retry',
  READONLY: 'the server is a read-only replica; point the URL at the primary',
  NOAUTH: 'the server needs a password; put it in the URL (redis://:password@host:6379)',
  WRONGPASS: 'the user name or password was refused',
  NOPERM: 'the ACL user lacks a permission OmniQ needs (scripts, pub/sub, and the keys of its prefix)',
  BUSY: 'a script ran longer than the server allows (busy-reply-threshold) and blocks the server',
  LOADING: 'the server is loading its dataset after a restart; retry in a moment',
  CLUSTERDOWN: 'the cluster is down (a slot has no reachable master); retry once it is healthy',
  TRYAGAIN: 'the cluster is moving the slot; retry',
  MASTERDOWN: 'the replica lost its master; retry',
};

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

/** ioredis's messages when a command in flight lost its connection or its reply. */
const IN_FLIGHT = /^(Command timed out|Connection is closed|the connection was lost)/;

/** The error reply code (`OOM`, `NOSCRIPT`) or Node socket code (`ECONNREFUSED`) of a driver error, read by shape. */
export function redisCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if ((error as { name?: unknown } | null)?.name !== 'ReplyError') return undefined;
  return /^([A-Z][A-Z_]+)\b/.exec(String((error as Error).message))?.[1];
}

/**
 * A driver or socket error as text, read by shape (errors of Node's sockets may come from
 * another realm, and a refused connection to a name with several addresses is an
 * AggregateError with an empty message): its message, else its code, else its inner errors.
 */
export function errorText(error: unknown): string {
  const { message, code, errors } = (error ?? {}) as { message?: unknown; code?: unknown; errors?: unknown };
  if (typeof message === 'string' && message !== '') return message;
  if (Array.isArray(errors) && errors.length > 0) return errors.map(errorText).join('; ');
  if (typeof code === 'string') return code;
  return String(error);
}

/** ioredis's refusal to send while disconnected (the connection dropped just before the send, unnoticed yet). */
const NOT_SENT = /^(Stream isn't writeable|Cluster isn't ready) and enableOfflineQueue options is false/;

/** Whether ioredis refused to send a call's command because the connection had just dropped (see NOT_SENT). */
export function refusedUnsent(error: RedisStorageError): boolean {
  return NOT_SENT.test(errorText(error.cause));
}

/**
 * What went wrong, in words. ioredis's own for a command dropped with its connection
 * (maxRetriesPerRequest 0) would send the reader to the wrong option.
 */
function reasonOf(cause: unknown): string {
  if ((cause as { name?: unknown } | null)?.name === 'MaxRetriesPerRequestError') return 'the connection was lost with the command in flight';
  return errorText(cause);
}

function advice(cause: unknown, reason: string, code: string | undefined): string | undefined {
  if (cause instanceof RedisNotConnectedError) return 'nothing was sent; retry once the server is reachable';
  if (NOT_SENT.test(reason)) return 'the connection had just dropped and the command was not sent; retry once the server is reachable';
  if (code !== undefined && ADVICE[code]) return ADVICE[code];
  if ((code !== undefined && CONNECTION_CODES.has(code)) || IN_FLIGHT.test(reason)) {
    return 'the connection was lost or the reply did not come in time with the command in flight: it may or may not have been applied';
  }
  return undefined;
}

/**
 * A Redis failure, told with the server (URL without password) and the store call, where the
 * driver's own error (`cause`) names neither.
 */
export class RedisStorageError extends OmniQError {
  override name = 'RedisStorageError';
  /** The error reply code (`OOM`) or socket code, when the driver gave one. */
  readonly code: string | undefined;

  constructor(
    readonly url: string,
    readonly operation: string,
    cause: unknown,
  ) {
    const reason = reasonOf(cause);
    const code = redisCode(cause);
    const told = advice(cause, reason, code);
    super(`Redis ${url}: ${operation} failed (${reason})${told ? `: ${told}` : ''}`, { cause });
    this.code = code;
  }
}
