import { DuplicateTaskIdError, EnqueueIncompleteError, MAX_ATOMIC_ENQUEUE, ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import type { NewTask } from '../../models/task.model.js';
import type { EnqueueOutcome } from '../../storage/task-queue.store.js';
import { addIds } from '../shared/task-ids.js';
import type { RedisConnection } from './redis-connection.js';
import { MAX_SCRIPT_ARGS } from './redis-scripts.js';
import { ENQUEUE_SCRIPT } from './redis-task-enqueue.lua.js';
import { taskFields } from './redis-task-record.js';

/** A failed enqueue check as the scripts report it: {'duplicate', id}, {'unknown', id, parent…}, {'ended', id, parent, status}. */
export type CheckFailure = readonly string[];

/** The error a failed check stands for. */
export function checkError(failure: CheckFailure): Error {
  const [kind, taskId = '', ...rest] = failure;
  if (kind === 'duplicate') return new DuplicateTaskIdError(taskId);
  if (kind === 'unknown') return new UnknownParentError(taskId, rest);
  return new ParentEndedError(taskId, rest[0] ?? '', rest[1] ?? '');
}

/** How a task travels in a script's ARGV: one JSON array of its hash fields. */
export const encodedTask = (task: NewTask): string => JSON.stringify(taskFields(task));

/** A run of the call's tasks that one script stores atomically, with the ids of other runs it refers to. */
interface Chunk {
  tasks: string[];
  from: number;
  known: string[];
}

/**
 * Stores tasks with one script per chunk: the checks and the insert in the same atomic step.
 * A call of more than MAX_ATOMIC_ENQUEUE tasks (or whose ARGV would pass MAX_SCRIPT_ARGS) is
 * checked chunk by chunk first, every chunk knowing the ids of the whole call, then written chunk
 * after chunk.
 */
export class RedisTaskInserter {
  constructor(private readonly connection: RedisConnection) {}

  async enqueue(tasks: readonly NewTask[], assertOpen: () => void): Promise<EnqueueOutcome[]> {
    if (tasks.length === 0) return [];
    const chunks = this.chunked(tasks);
    if (chunks.length > 1) {
      for (const chunk of chunks) await this.run(chunk, 'check');
    }
    const mode = tasks.some((task) => task.dependsOn.length > 0) ? 'write+deps' : 'write';
    const outcomes: EnqueueOutcome[] = [];
    for (const chunk of chunks) {
      try {
        assertOpen();
        const ids = await this.run(chunk, mode);
        ids.forEach((id, index) => outcomes.push({ id, created: id === tasks[chunk.from + index]!.id }));
      } catch (error) {
        // Nothing stored yet: the call failed as a whole, as an atomic one would.
        if (outcomes.length === 0) throw error;
        throw new EnqueueIncompleteError(outcomes, tasks.length, error);
      }
    }
    return outcomes;
  }

  private async run(chunk: Chunk, mode: 'check' | 'write' | 'write+deps'): Promise<string[]> {
    const { P } = this.connection.keys;
    const reply = await this.connection.run<string[]>(
      ENQUEUE_SCRIPT,
      [`${P}seq`],
      [P, Date.now(), mode, chunk.known.length, ...chunk.known, ...chunk.tasks],
      'enqueue',
    );
    if (reply[0] !== 'ok') throw checkError(reply.slice(1));
    return reply.slice(1);
  }

  /** Splits the call into chunks (in-call duplicates throw here, before anything is sent). */
  private chunked(tasks: readonly NewTask[]): Chunk[] {
    const inCall = new Set<string>();
    addIds(tasks, 0, tasks.length, inCall);
    const chunks: Chunk[] = [];
    let from = 0;
    while (from < tasks.length) {
      let to = from;
      let args = 0;
      while (to < tasks.length && to - from < MAX_ATOMIC_ENQUEUE && args + 1 + tasks[to]!.dependsOn.length < MAX_SCRIPT_ARGS - 8) {
        args += 1 + tasks[to]!.dependsOn.length;
        to += 1;
      }
      if (to === from) to = from + 1;
      chunks.push(this.chunk(tasks, from, to, inCall));
      from = to;
    }
    return chunks;
  }

  private chunk(tasks: readonly NewTask[], from: number, to: number, inCall: ReadonlySet<string>): Chunk {
    const own = new Set<string>();
    for (let i = from; i < to; i++) own.add(tasks[i]!.id);
    const known = new Set<string>();
    const encoded: string[] = [];
    for (let i = from; i < to; i++) {
      const task = tasks[i]!;
      for (const parent of task.dependsOn) if (inCall.has(parent) && !own.has(parent)) known.add(parent);
      encoded.push(encodedTask(task));
    }
    return { tasks: encoded, from, known: [...known] };
  }
}
