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
  private work: Promise<unknown> | undefined;
  private workSettled = false;
  private stopListeners: ((reason: unknown) => void)[] | undefined;

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
    if (this.stopListeners) for (const listener of this.stopListeners) listener(reason);
    this.stopRun?.(reason);
  }

  /** Runs `listener` with the reason once the attempt is stopped (at once if it is): a cheaper hook than the signal. */
  onStop(listener: (reason: unknown) => void): void {
    if (this.stopped) listener(this.reason);
    else (this.stopListeners ??= []).push(listener);
  }

  /**
   * True while the handler's promise is still pending after the attempt was stopped: a handler
   * that ignores its signal (timed out, cancelled, shut down) and runs on.
   */
  get overrunning(): boolean {
    return this.stopped && this.work !== undefined && !this.workSettled;
  }

  /** Resolves once the handler's promise settled (at once when there is none). */
  handlerSettled(): Promise<void> {
    return this.work === undefined || this.workSettled ? Promise.resolve() : this.work.then(noop, noop);
  }

  /** Settles with `work`, or rejects with the stop reason as soon as the attempt is stopped. */
  race<T>(work: Promise<T>): Promise<T> {
    this.work = work;
    if (this.stopped) {
      const settled = (): void => {
        this.workSettled = true;
      };
      work.then(settled, settled);
      return Promise.reject(this.reason);
    }
    return new Promise<T>((resolve, reject) => {
      this.stopRun = reject;
      work.then(
        (value) => {
          this.workSettled = true;
          resolve(value);
        },
        (error: unknown) => {
          this.workSettled = true;
          reject(error);
        },
      );
    });
  }
}

function noop(): void {}
