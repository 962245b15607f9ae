/**
 * One run of a task in this worker: how it can be stopped early. The AbortController behind
 * `ctx.signal` is only created when a handler reads the signal (most never do), but a stop always
 * ends the worker's wait for the handler, whether or not the handler listens.
 */
export class Attempt {
  private controller: AbortController | undefined;
  private stopRun: ((reason: unknown) => void) | undefined;
  private reason: unknown;
  private stopped = false;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stopped) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Why the attempt was stopped (undefined while it was not). */
  get stopReason(): unknown {
    return this.reason;
  }

  /** Aborts the signal and stops waiting for the handler; the first reason wins. */
  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.controller?.abort(reason);
    this.stopRun?.(reason);
  }

  /** Settles with `work`, or rejects with the stop reason as soon as the attempt is stopped. */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.stopped) {
      work.catch(() => undefined);
      return Promise.reject(this.reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.stopRun = reject;
      work.then(resolve, reject);
    });
  }
}
