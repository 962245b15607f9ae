interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** How a call waiting at an OutageGate fails, in its backend's own errors. */
export interface GateFailure {
  /** The error the call rejects with for `cause` (the backend's storage error naming the call). */
  wrap(cause: Error): Error;
  /** The cause when the connection is not back in time (read then, so it can tell the last connection error). */
  timedOut(): Error;
}

/**
 * The calls made while a server connection is down, each waiting for it to be back: `open` (the
 * connection is up again) lets them all through, `fail` (it closed for good) rejects them all,
 * and a call still waiting after its time rejects by itself. Either way nothing was sent.
 */
export class OutageGate {
  private readonly waiters = new Set<Waiter>();

  /** Resolves at the next `open`; rejects with `failure.wrap(…)` at `fail`, or after `ms` without an `open`. */
  wait(ms: number, failure: GateFailure): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(failure.wrap(failure.timedOut()));
      }, ms);
      const waiter: Waiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(failure.wrap(error));
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Lets every waiting call through. */
  open(): void {
    for (const waiter of this.take()) waiter.resolve();
  }

  /** Rejects every waiting call, with `error` as the cause. */
  fail(error: Error): void {
    for (const waiter of this.take()) waiter.reject(error);
  }

  private take(): Waiter[] {
    const waiting = [...this.waiters];
    this.waiters.clear();
    return waiting;
  }
}
