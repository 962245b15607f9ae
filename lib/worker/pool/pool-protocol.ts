import type { LogLevel } from '@nestjs/common';
import type { EncodedValue } from '../../models/encoded-value.model.js';

/** What a pool member needs to start: the module to bootstrap and how much of Nest's own logging to keep. */
export interface MemberSettings {
  moduleFile: string;
  exportName?: string;
  /** Nest's logger levels in the member (its bootstrap lines and the providers' own logs). */
  logLevels: LogLevel[] | false;
  /** Report the heap after each task (the pool recycles members past a limit). */
  reportHeap: boolean;
}

/** The context fields a handler reads in a member; the rest of `ctx` is served by messages. */
export interface RemoteContext {
  taskId: string;
  name: string;
  queue: string;
  attempt: number;
  maxRetries: number;
  scheduleId?: string;
}

/** An error as it crosses to the main process: enough to rebuild it and decide on a retry. */
export interface RemoteError {
  name: string;
  message: string;
  stack?: string;
  /** Thrown as a NonRetryableError (or a subclass) in the member. */
  nonRetryable?: boolean;
}

export type ToMember =
  | { t: 'init'; settings: MemberSettings }
  | { t: 'run'; run: number; task: string; payload: EncodedValue; ctx: RemoteContext }
  | { t: 'reply'; run: number; call: number; ok: true; value?: EncodedValue }
  | { t: 'reply'; run: number; call: number; ok: false; error: RemoteError };

/** Calls a handler makes on `ctx` that the main process answers. */
export type ContextCall = { kind: 'progress'; value: unknown } | { kind: 'parents' };

export type FromMember =
  | { t: 'ready' }
  | { t: 'failed-to-start'; error: RemoteError }
  /** An uncaught error is about to end the member. */
  | { t: 'crash'; error: RemoteError }
  | { t: 'call'; run: number; call: number; request: ContextCall }
  | { t: 'log'; run: number; level: LogLevel; message: string }
  | { t: 'done'; run: number; ok: true; value: EncodedValue; heapUsed?: number }
  | { t: 'done'; run: number; ok: false; error: RemoteError; heapUsed?: number };
