import type { TaskContext } from '../../interfaces/task-context.interface.js';
import type { TaskRecord } from '../../models/task.model.js';
import type { Codec } from '../../serialization/codec.js';
import type { RegisteredTask } from '../../task.registry.js';
import type { AttemptControl, TaskExecutor } from '../task-executor.js';
import type { ContextCall } from './pool-protocol.js';
import type { TaskPool } from './task-pool.js';

/**
 * Runs handlers on a {@link TaskPool}. The payload and the result cross through the codec; a
 * timeout, cancel, lost lease or shutdown abort of the attempt terminates the member that runs it. The handler's `ctx` calls are answered here, by the attempt's own ctx.
 */
export class PoolExecutor implements TaskExecutor {
  readonly startsLater = true;

  constructor(
    private readonly pool: TaskPool,
    private readonly codec: Codec,
  ) {}

  async execute(task: RegisteredTask, payload: unknown, ctx: TaskContext, record: TaskRecord, control: AttemptControl): Promise<unknown> {
    const encoded = await this.pool.run({
      task: task.name,
      payload: this.codec.encode(payload, `payload of task ${task.name} ${record.id}`),
      ctx: { taskId: ctx.taskId, name: ctx.name, queue: ctx.queue, attempt: ctx.attempt, maxRetries: ctx.maxRetries, scheduleId: ctx.scheduleId },
      onStop: (listener) => control.onStop(listener),
      started: () => control.started(),
      call: (request) => this.answer(ctx, request),
      log: (level, message) => ctx.logger[level]?.(message),
    });
    return this.codec.decode(encoded, `result of task ${task.name} ${record.id}`);
  }

  private async answer(ctx: TaskContext, request: ContextCall): Promise<ReturnType<Codec['encode']> | undefined> {
    if (request.kind === 'progress') return void (await ctx.progress(request.value));
    return this.codec.encode(await ctx.parents(), 'parents');
  }
}
