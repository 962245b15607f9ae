import { OmniQError } from '../../errors/omniq.errors.js';

/** What a store call was doing when PostgreSQL failed: the operation, and the tasks it was about (anything with an id). */
export interface PostgresCall {
  readonly operation: string;
  readonly tasks?: readonly { readonly id: string }[];
}

/** How many task ids an error message names before it says how many more there were. */
const NAMED_IDS = 3;

/** SQLSTATE classes and codes, and what they mean for the user. */
const ADVICE: Readonly<Record<string, string>> = {
  '08': 'the connection to the server failed or was cut; the call was not completed, retry it once the server is reachable',
  '53': 'the server is out of a resource (disk, memory or connections); free it, then retry',
  '57014': 'the statement ran longer than storageOptions.statementTimeoutMs and was cancelled',
  '57P01': 'the server ended the session (a restart, or pg_terminate_backend); retry',
  '3D000': 'the database does not exist',
  '28P01': 'the password was refused',
  '28000': 'the server refused the login',
  '42501': 'the user lacks a privilege OmniQ needs on its schema and tables',
};

/** pg-pool's error when no connection could be had in time: an unreachable server, or a pool whose every connection stayed busy. */
const POOL_WAIT = /timeout exceeded when trying to connect/i;

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE', 'EAI_AGAIN']);

function subject({ operation, tasks }: PostgresCall): string {
  if (tasks === undefined || tasks.length === 0) return operation;
  const named = tasks.slice(0, NAMED_IDS).map((task) => task.id);
  const more = tasks.length > NAMED_IDS ? ` and ${tasks.length - NAMED_IDS} more` : '';
  return `${operation} of task${tasks.length > 1 ? 's' : ''} ${named.join(', ')}${more}`;
}

/** The SQLSTATE (`40001`) or Node socket code (`ECONNREFUSED`) of a driver error, read by shape (instanceof fails across realms). */
export function postgresCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether a driver error means the connection failed or was lost (rather than the statement). */
export function isConnectionFailure(error: unknown): boolean {
  const code = postgresCode(error);
  if (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P03')) return true;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' && /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(message);
}

/**
 * A PostgreSQL failure, told with the server, the store call and its tasks, where the driver's
 * own error (`cause`) names none of them. A call that failed before COMMIT wrote nothing; a
 * connection lost during COMMIT may have committed (the message says so).
 */
export class PostgresStorageError extends OmniQError {
  override name = 'PostgresStorageError';
  readonly operation: string;
  readonly taskIds: readonly string[];

  constructor(
    readonly url: string,
    call: PostgresCall,
    /** The SQLSTATE or socket code, when the driver gave one. */
    readonly code: string | undefined,
    cause: unknown,
    inCommit = false,
  ) {
    const reason = (cause as { message?: unknown } | null)?.message ?? String(cause);
    const advice = code === undefined ? undefined : (ADVICE[code] ?? ADVICE[code.slice(0, 2)]);
    const connection = POOL_WAIT.test(String(reason))
      ? 'no connection became free within storageOptions.connectTimeoutMs: the server did not answer in time, or every connection of the pool (storageOptions.poolSize) stayed busy'
      : isConnectionFailure(cause) && advice === undefined
        ? ADVICE['08']
        : advice;
    const outcome = inCommit ? '; the connection was lost during COMMIT, so the change may or may not have been made' : '';
    super(`PostgreSQL ${url}: ${subject(call)} failed (${code ? `${code}: ` : ''}${String(reason)})${connection ? `: ${connection}` : ''}${outcome}`, {
      cause,
    });
    this.operation = call.operation;
    this.taskIds = (call.tasks ?? []).map((task) => task.id);
  }
}
