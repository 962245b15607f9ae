import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { OMNIQ_CONFIG, OMNIQ_RESULT_STORE, OMNIQ_TASK_QUEUE } from './omniq.constants.js';
import type { OmniQConfig } from './config/omniq-config.js';
import type { ResultRecord } from './models/result.model.js';
import { FINAL_TASK_STATUSES } from './models/task.model.js';
import type { ResultStore } from './storage/result.store.js';
import type { TaskQueueStore } from './storage/task-queue.store.js';
import { OmniQWorker } from './worker/omniq.worker.js';
import { OmniQStores } from './omniq-stores.js';
import { NoResultError, OmniQShutdownError, WaitForResultTimeoutError } from './errors/omniq.errors.js';
import { StoreClosedError } from './errors/store.errors.js';
import { timerDelay } from './utils/timer-delay.js';

/** How long after a task ended its result may still be on its way (written after the settlement when the stores differ). */
const RESULT_GRACE_MS = 10_000;
/** Where stores notify across processes, waiters still re-read this many poll intervals apart (5 s by default). */
const NOTIFIED_POLL_FACTOR = 10;
/** A read that failed (the stores unreachable) is tried again after this (doubling) … */
const FIRST_RETRY_MS = 100;
/** … up to this. */
const MAX_RETRY_MS = 2_000;

export interface WaitForResultOptions {
  /** Reject with WaitForResultTimeoutError after this many ms (default: wait as long as it takes). */
  timeoutMs?: number;
  /** Stop waiting when this signal fires (rejects with its reason). */
  signal?: AbortSignal;
}

/**
 * Waits for results by listening to the result store's notifications. Where those do not reach
 * across processes, a slow re-read (`resultPollIntervalMs`) backs them up. A read that fails (the
 * database or server unreachable for a while) does not end the wait: it is tried again, backing
 * off, until the result is there, the wait times out or is aborted. Pending waits are rejected at
 * shutdown so no timer outlives the app.
 */
@Injectable()
export class ResultWaiter implements OnApplicationShutdown {
  private readonly pending = new Set<(error: Error) => void>();

  constructor(
    @Inject(OMNIQ_TASK_QUEUE) private readonly queue: TaskQueueStore,
    @Inject(OMNIQ_RESULT_STORE) private readonly results: ResultStore,
    @Inject(OMNIQ_CONFIG) private readonly config: OmniQConfig,
    private readonly worker: OmniQWorker,
    private readonly stores: OmniQStores,
  ) {}

  wait(id: string, { timeoutMs, signal }: WaitForResultOptions): Promise<ResultRecord> {
    return new Promise<ResultRecord>((resolve, reject) => {
      let done = false;
      let retry: NodeJS.Timeout | undefined;
      let retryMs = FIRST_RETRY_MS;
      const finish = (settle: () => void): void => {
        if (done) return;
        done = true;
        unsubscribe();
        clearInterval(poll);
        clearTimeout(retry);
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(abort);
        settle();
      };
      const abort = (error: Error): void => finish(() => reject(error));
      const onAbort = (): void => abort(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)));
      const check = async (withTask: boolean): Promise<void> => {
        try {
          const result = await this.results.get(id);
          if (result) {
            // A worker stores the result just before it settles the task: when it is ours, let it
            // finish so the task reads final too. (Across processes the status follows within one batch.)
            await this.worker.settled(id);
            return finish(() => resolve(result));
          }
          if (withTask) await this.checkTaskCanStillProduce(id);
          retryMs = FIRST_RETRY_MS;
        } catch (error) {
          if (error instanceof NoResultError || error instanceof StoreClosedError) return abort(error);
          // The stores could not be read (an outage): the wait goes on, and reads again soon.
          if (done || retry !== undefined) return;
          retry = setTimeout(() => {
            retry = undefined;
            void check(withTask);
          }, retryMs);
          retryMs = Math.min(MAX_RETRY_MS, retryMs * 2);
        }
      };
      const unsubscribe = this.results.notifier.listen('result', (taskId) => {
        if (taskId === id) void check(false);
      });
      // Where results stored by other processes are not notified here, the poll is how they are
      // found. Where they are, a slow one still runs: a process killed between committing a result
      // and notifying it (notifications are sent after the commit) must not leave a waiter waiting.
      const crossProcess = this.results.notifier.crossProcess;
      const pollMs = crossProcess ? this.config.resultPollIntervalMs * NOTIFIED_POLL_FACTOR : this.config.resultPollIntervalMs;
      const poll = setInterval(() => void check(true), timerDelay(pollMs));
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => abort(new WaitForResultTimeoutError(id, timeoutMs)), timerDelay(timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(abort);
      if (signal?.aborted) onAbort();
      else void check(true);
    });
  }

  onApplicationShutdown(): void {
    for (const abort of [...this.pending]) abort(new OmniQShutdownError('waitForResult'));
  }

  private async checkTaskCanStillProduce(id: string): Promise<void> {
    const task = await this.queue.get(id);
    if (!task) throw new NoResultError(`Unknown task ${id}: nothing to wait for`);
    if (!task.storeResult) throw new NoResultError(`Task ${id} (${task.name}) does not store results (storeResult: false)`);
    if (FINAL_TASK_STATUSES.includes(task.status)) {
      // A result store apart from the queue gets the result just after the task ended: a task
      // that ended a moment ago may still get it.
      if (!this.stores.scope.results && Date.now() - (task.completedAt?.getTime() ?? 0) < RESULT_GRACE_MS) return;
      if (await this.results.get(id)) return;
      throw new NoResultError(`Task ${id} (${task.name}) ended ${task.status} and its result is gone (expired or deleted)`);
    }
  }
}
