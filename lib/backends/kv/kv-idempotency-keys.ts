import { createHash } from 'node:crypto';
import { CLAIM_STALE_MS, DELETE, type KvRecords, type RecordCodec } from './kv-records.js';

export interface KeyBody {
  key: string;
  taskId: string;
  /** When the holder took the key (epoch ms): its task record may lag a moment behind. */
  at: number;
}

/**
 * Whether a key's holder still holds it, as the task store judges its task: 'holds' (live, or
 * ended less than its dedupe window ago), 'released', or 'missing' (no task record).
 */
export type HolderState = 'holds' | 'released' | 'missing';

export const KEY_CODEC: RecordCodec<KeyBody> = {
  format: 'omniq.key/1',
  revive(body) {
    if (typeof body.key !== 'string' || typeof body.taskId !== 'string' || typeof body.at !== 'number') {
      throw new Error('the key record lacks key, taskId or at');
    }
    return { key: body.key, taskId: body.taskId, at: body.at };
  },
};

/**
 * Idempotency keys shared by every process on the storage: the record `<sha256(key)>` names the
 * task that holds the key. Taking a free key is an exclusive create; taking over a key whose
 * holder ended is a compare-and-swap on that record, so of several processes enqueueing with one
 * key exactly one task becomes the holder.
 *
 * A key is not released when its holder ends: the record simply stops counting once the holder
 * is final and past its dedupe window (both read from the holder's task record, so every process
 * judges alike), and is replaced by the next task that asks for it (or deleted with the holder).
 */
export class IdempotencyKeys {
  constructor(private readonly records: KvRecords<KeyBody>) {}

  /**
   * Makes `taskId` the holder of `key` unless another task still holds it, and returns the
   * holder. A holder whose task record does not exist yet holds it for a while: it is being enqueued.
   */
  async claim(key: string, taskId: string, holderState: (taskId: string) => Promise<HolderState>): Promise<string> {
    const name = hashOf(key);
    for (;;) {
      const mine: KeyBody = { key, taskId, at: Date.now() };
      if (await this.records.create(name, mine)) return taskId;
      const current = await this.records.read(name);
      if (current === undefined) continue;
      const holder = current.body;
      if (holder.taskId === taskId) return taskId;
      const state = await holderState(holder.taskId);
      if (state === 'holds' || (state === 'missing' && Date.now() - holder.at < CLAIM_STALE_MS)) return holder.taskId;
      const outcome = await this.records.mutate(
        name,
        (body) => (body.taskId === holder.taskId && body.at === holder.at ? mine : undefined),
        { onBusy: 'wait', known: current },
      );
      if (outcome.kind === 'written') return taskId;
    }
  }

  /** Deletes the key's record if `taskId` still holds it (the holder itself is being deleted). */
  async release(key: string, taskId: string): Promise<void> {
    await this.records.mutate(hashOf(key), (body) => (body.taskId === taskId ? DELETE : undefined), { onBusy: 'wait' });
  }
}

const hashOf = (key: string): string => createHash('sha256').update(key).digest('hex');
