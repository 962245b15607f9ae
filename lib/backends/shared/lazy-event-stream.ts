import { Observable, Subject } from 'rxjs';
import type { TaskEvent } from '../../models/event.model.js';

/**
 * A live event stream that runs only while someone subscribes: `start` at the first
 * subscription, `stop` when the last one leaves, and after `finish` never again (a later
 * subscriber completes at once). What it reads it hands to every subscriber with `emit`.
 */
export abstract class LazyEventStream {
  private readonly subject = new Subject<TaskEvent>();
  private completed = false;
  readonly observable: Observable<TaskEvent>;

  constructor() {
    this.observable = new Observable<TaskEvent>((subscriber) => {
      if (this.completed) {
        subscriber.complete();
        return;
      }
      if (!this.subject.observed) this.start();
      const subscription = this.subject.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (!this.subject.observed) this.stop();
      };
    });
  }

  /** Begins reading: the first subscriber came. */
  protected abstract start(): void;

  /** Ends reading: the last subscriber left, or the stream is finished. */
  protected abstract stop(): void;

  /** Whether someone subscribes. */
  protected get observed(): boolean {
    return this.subject.observed;
  }

  protected get isCompleted(): boolean {
    return this.completed;
  }

  protected emit(event: TaskEvent): void {
    this.subject.next(event);
  }

  /** Stops reading and completes every subscriber; false when it was finished already. */
  protected finish(): boolean {
    if (this.completed) return false;
    this.completed = true;
    this.stop();
    this.subject.complete();
    return true;
  }
}
