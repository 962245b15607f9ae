import type { ScheduleRecord } from '../../models/schedule.model.js';
import { MemoryEvents } from './memory-events.js';
import { MemoryNotifier, NotifyHub } from './memory-notifier.js';
import { MemoryResults } from './memory-results.js';
import { MemoryTasks } from './memory-tasks.js';

/** A leadership lease of `Coordination`, by name. */
export interface LeaderLease {
  holder: string | undefined;
  untilMs: number;
  fence: number;
}

/**
 * Everything one memory storage holds: what every engine on it (a MemoryEngine and its peers)
 * reads and changes. JavaScript runs one store call's synchronous body at a time, so each
 * transition over this state is atomic with respect to every other, from any engine.
 */
export class MemoryStorage {
  readonly hub = new NotifyHub();
  readonly results = new MemoryResults(this.hub);
  readonly events = new MemoryEvents();
  readonly tasks = new MemoryTasks(this.hub);
  readonly schedules = new Map<string, ScheduleRecord>();
  readonly leaders = new Map<string, LeaderLease>();

  /** A fresh storage and a notifier on it, for a store constructed on its own. */
  static standalone(): MemoryDomain {
    const storage = new MemoryStorage();
    return { storage, notifier: new MemoryNotifier(storage.hub) };
  }
}

/** What the stores of one engine share: the storage and the engine's notifier on it. */
export interface MemoryDomain {
  readonly storage: MemoryStorage;
  readonly notifier: MemoryNotifier;
}
