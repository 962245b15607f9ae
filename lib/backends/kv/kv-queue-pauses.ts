import type { KvRecords, RecordCodec } from './kv-records.js';

export interface PausedBody {
  queues: string[];
}

export const PAUSES_CODEC: RecordCodec<PausedBody> = {
  format: 'omniq.paused-queues/1',
  revive(body) {
    if (!Array.isArray(body.queues) || !body.queues.every((queue) => typeof queue === 'string')) throw new Error('no list of queues');
    return { queues: body.queues as string[] };
  },
};

const KEY = 'paused-queues';

/**
 * The paused queues of the project, one control record (`paused-queues`) that every instance
 * reads on each reserve, so a pause holds across processes and restarts.
 */
export class QueuePauses {
  constructor(private readonly records: KvRecords<PausedBody>) {}

  /** True when this call paused it. */
  async pause(queue: string): Promise<boolean> {
    for (;;) {
      if (await this.records.create(KEY, { queues: [queue] })) return true;
      const outcome = await this.records.mutate(KEY, (body) => (body.queues.includes(queue) ? undefined : { queues: [...body.queues, queue] }), {
        onBusy: 'wait',
      });
      if (outcome.kind !== 'missing') return outcome.kind === 'written';
    }
  }

  /** True when this call resumed it. */
  async resume(queue: string): Promise<boolean> {
    const outcome = await this.records.mutate(
      KEY,
      (body) => (body.queues.includes(queue) ? { queues: body.queues.filter((other) => other !== queue) } : undefined),
      { onBusy: 'wait' },
    );
    return outcome.kind === 'written';
  }

  async paused(): Promise<Set<string>> {
    return new Set((await this.records.read(KEY))?.body.queues);
  }
}
