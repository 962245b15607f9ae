import { inspect } from 'node:util';
import { getHeapStatistics } from 'node:v8';
import { parentPort } from 'node:worker_threads';
import type { LogLevel, LoggerService } from '@nestjs/common';
import { JsonCodec } from '../../serialization/codec.js';
import { NonRetryableError } from '../../errors/task.errors.js';
import type { ParentOutcome } from '../../interfaces/task-context.interface.js';
import { HandlerContext } from '../handler-context.js';
import type { EncodedValue } from '../../models/encoded-value.model.js';
import { bootstrapMember, type BootstrappedMember } from './member-bootstrap.js';
import type { ContextCall, FromMember, RemoteContext, ToMember } from './pool-protocol.js';
import { fromRemoteError, toRemoteError } from './remote-error.js';

/*
 * The entry script of a thread or process pool member. It waits for its settings, bootstraps the
 * pool module, then runs one handler at a time as the main process asks. Leases, heartbeats,
 * events and settlement stay in the main process; `ctx.progress()` and `ctx.parents()` are asked
 * of it, and `ctx.logger` writes through its logger.
 */

const codec = new JsonCodec();
const send: (message: FromMember) => void = parentPort
  ? (message) => parentPort!.postMessage(message)
  : (message) => process.send!(message);
const onMessage = (listener: (message: ToMember) => void): void => {
  if (parentPort) parentPort.on('message', listener);
  else process.on('message', listener);
};

let member: BootstrappedMember | undefined;
let reportHeap = false;
const calls = new Map<number, { resolve(value: EncodedValue | undefined): void; reject(error: Error): void }>();
let nextCall = 0;

process.on('uncaughtException', (error) => {
  send({ t: 'crash', error: toRemoteError(error) });
  process.exitCode = 1;
  setImmediate(() => process.exit(1));
});

onMessage((message) => {
  switch (message.t) {
    case 'init':
      reportHeap = message.settings.reportHeap;
      bootstrapMember(message.settings).then(
        (bootstrapped) => {
          member = bootstrapped;
          send({ t: 'ready' });
        },
        (error: unknown) => send({ t: 'failed-to-start', error: toRemoteError(error) }),
      );
      return;
    case 'run':
      void run(message.run, message.task, message.payload, message.ctx);
      return;
    case 'reply': {
      const waiting = calls.get(message.call);
      calls.delete(message.call);
      if (message.ok) waiting?.resolve(message.value);
      else waiting?.reject(fromRemoteError(message.error));
    }
  }
});

async function run(runId: number, task: string, payload: EncodedValue, remote: RemoteContext): Promise<void> {
  try {
    const found = member!.handlers.get(task);
    if (!found) throw new NonRetryableError(`Task ${task} has no @Task() handler in the pool module: add the provider that declares it to that module`);
    const value: unknown = await found.handler(codec.decode(payload), new MemberContext(runId, remote));
    send({ t: 'done', run: runId, ok: true, value: codec.encode(value, 'result'), heapUsed: heapUsed() });
  } catch (error) {
    send({ t: 'done', run: runId, ok: false, error: toRemoteError(error), heapUsed: heapUsed() });
  }
}

function ask(runId: number, request: ContextCall): Promise<EncodedValue | undefined> {
  return new Promise((resolve, reject) => {
    const call = ++nextCall;
    calls.set(call, { resolve, reject });
    send({ t: 'call', run: runId, call, request });
  });
}

/**
 * The handler's `ctx`: its fields, and what the main process answers. Its signal never fires
 * here: a timeout, cancel or shutdown terminates the member instead, so a handler cannot run on
 * past them. `signal` and `logger` are made on first read, as in the main process.
 */
class MemberContext extends HandlerContext {
  #signal: AbortSignal | undefined;
  #logger: LoggerService | undefined;

  constructor(
    private readonly runId: number,
    { taskId, name, queue, attempt, maxRetries, scheduleId }: RemoteContext,
  ) {
    super(
      taskId,
      name,
      queue,
      attempt,
      maxRetries,
      scheduleId,
      async () => codec.decode((await ask(runId, { kind: 'parents' }))!, 'parents') as ParentOutcome[],
      async (value) => void (await ask(runId, { kind: 'progress', value })),
    );
  }

  get signal(): AbortSignal {
    return (this.#signal ??= new AbortController().signal);
  }

  get logger(): LoggerService {
    return (this.#logger ??= remoteLogger(this.runId));
  }
}

/** The V8 heap in use, when the pool asked for it (process.memoryUsage() reads /proc: ten times slower). */
function heapUsed(): number | undefined {
  return reportHeap ? getHeapStatistics().used_heap_size : undefined;
}

function remoteLogger(runId: number): LoggerService {
  const write =
    (level: LogLevel) =>
    (message: unknown, ...params: unknown[]): void => {
      const text = [message, ...params].map((part) => (typeof part === 'string' ? part : inspect(part))).join(' ');
      send({ t: 'log', run: runId, level, message: text });
    };
  return { log: write('log'), error: write('error'), warn: write('warn'), debug: write('debug'), verbose: write('verbose'), fatal: write('fatal') };
}
