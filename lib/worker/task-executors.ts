import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LOG_LEVELS, type LogLevel } from '@nestjs/common';
import type { OmniQConfig } from '../config/omniq-config.js';
import { createLogger } from '../config/omniq-logger.js';
import type { WorkerType } from '../interfaces/task-options.interface.js';
import type { Codec } from '../serialization/codec.js';
import type { RegisteredTask } from '../task.registry.js';
import { PoolMemberError } from '../errors/task.errors.js';
import type { PoolKind } from './pool/member-link.js';
import { PoolExecutor } from './pool/pool-executor.js';
import { TaskPool } from './pool/task-pool.js';
import { InProcessExecutor, type TaskExecutor } from './task-executor.js';

/** The member entry script, beside this module in OmniQ's compiled package. */
const MEMBER_SCRIPT = fileURLToPath(new URL('./pool/pool-member.js', import.meta.url));

/** Where a registered handler runs: OmniQ's own tasks always on the event loop, the app's where `runIn` or `worker.type` says. */
export function workerTypeOf(task: RegisteredTask, defaultType: WorkerType): WorkerType {
  return task.internal ? 'async' : (task.options.runIn ?? defaultType);
}

/**
 * The worker's executors: the event loop, and the thread and process pools, each created on the
 * first task that needs it. Closing stops the pools' members.
 */
export class TaskExecutors {
  private readonly inProcess = new InProcessExecutor();
  private readonly pools = new Map<PoolKind, { pool: TaskPool; executor: PoolExecutor }>();
  private closed = false;

  constructor(
    private readonly config: OmniQConfig,
    private readonly codec: Codec,
  ) {}

  for(task: RegisteredTask): TaskExecutor {
    const type = workerTypeOf(task, this.config.worker.type);
    return type === 'async' ? this.inProcess : this.pool(type).executor;
  }

  /** How many tasks of a type run at once. */
  capacity(type: WorkerType): number {
    const { concurrency, threads, processes } = this.config.worker;
    return type === 'async' ? concurrency : type === 'thread' ? threads : processes;
  }

  /** Terminates the pools' members (tasks still on them fail); resolves once they are gone. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.pools.values()].map(({ pool }) => pool.close()));
  }

  private pool(kind: PoolKind): { pool: TaskPool; executor: PoolExecutor } {
    const existing = this.pools.get(kind);
    if (existing) return existing;
    if (this.closed) throw new PoolMemberError(`The worker is closed: its ${kind} pool is not started again`);
    const { worker, logging } = this.config;
    if (!worker.poolModule) throw new PoolMemberError(`Tasks that run in a ${kind} need worker.poolModule: the Nest module its members bootstrap`);
    if (!existsSync(MEMBER_SCRIPT)) {
      throw new PoolMemberError(`OmniQ's pool member script ${MEMBER_SCRIPT} is missing: thread and process workers run OmniQ's compiled JavaScript`);
    }
    const pool = new TaskPool({
      kind,
      size: kind === 'thread' ? worker.threads : worker.processes,
      script: MEMBER_SCRIPT,
      settings: {
        moduleFile: worker.poolModule.file,
        exportName: worker.poolModule.exportName,
        logLevels: logging.disabled ? false : levelsFrom(logging.level),
        reportHeap: worker.poolRecycleHeapMb !== undefined,
      },
      recycleHeapMb: worker.poolRecycleHeapMb,
      maxHeapMb: worker.poolMaxHeapMb,
      logger: createLogger('OmniQPool', logging),
    });
    const created = { pool, executor: new PoolExecutor(pool, this.codec) };
    this.pools.set(kind, created);
    return created;
  }
}

/** Nest's levels from `level` up. */
function levelsFrom(level: LogLevel): LogLevel[] {
  return LOG_LEVELS.slice(LOG_LEVELS.indexOf(level));
}
