import { timerDelay } from '../utils/timer-delay.js';

/**
 * Lets the worker loop sleep until something happens (a wake-up from the store, a freed slot,
 * shutdown) or a fallback delay passes. A notification that arrives while the loop is busy is
 * remembered, so none is lost between "nothing to do" and "go to sleep".
 */
export class WakeSignal {
  private notified = false;
  private wakeUp: (() => void) | undefined;

  notify(): void {
    this.notified = true;
    this.wakeUp?.();
  }

  wait(ms: number): Promise<void> {
    if (this.notified) {
      this.notified = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, timerDelay(ms));
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeUp = undefined;
        self.notified = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }
}
