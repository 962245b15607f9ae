import type { OmniQLogger } from '../config/omniq-logger.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import type { TaskRegistry } from '../task.registry.js';

const OLDEST = 200;

/**
 * Speaks up about tasks nothing runs. A worker reserves only the names it has handlers for, so a
 * task whose name no worker registers (a renamed handler, a typo in a producer that allows
 * unregistered names, a worker fleet not deployed yet) would wait forever without a word. The
 * maintenance leader looks at the oldest pending tasks while there are any, and warns, once per name,
 * about due ones that waited long in an unpaused queue under a name this instance does
 * not handle either. (Both spans are in maintenance intervals: every 10, after 60 — ten seconds and
 * a minute by default.)
 */
export class UnhandledTaskWatch {
  private readonly warned = new Set<string>();
  private lastCheck = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly queue: TaskQueueStore,
    private readonly registry: TaskRegistry,
    private readonly logger: OmniQLogger,
    /** How often the leader looks while tasks are waiting (one short list of the oldest pending tasks). */
    private readonly everyMs: number,
    /** How long a due task waits before the watch asks whether anything handles its name. */
    private readonly afterMs: number,
  ) {}

  async check(now: Date): Promise<void> {
    if (now.getTime() - this.lastCheck < this.everyMs) return;
    const oldest = await this.queue.list({ status: 'pending', limit: OLDEST });
    if (oldest.items.length === 0) return;
    this.lastCheck = now.getTime();
    const paused = new Set(await this.queue.pausedQueues());
    const cutoff = now.getTime() - this.afterMs;
    for (const task of oldest.items) {
      if (task.runAt.getTime() > cutoff || paused.has(task.queue) || this.registry.has(task.name) || this.warned.has(task.name)) continue;
      this.warned.add(task.name);
      const handled = this.registry.names();
      this.logger.warn(
        `Tasks named "${task.name}" are waiting (task ${task.id} in queue ${task.queue}, due since ${task.runAt.toISOString()}), ` +
          `and this instance has no handler for that name (it handles ${handled.length ? handled.join(', ') : 'no task'}). ` +
          `Workers run only the names they register with @Task(): deploy one that handles "${task.name}", or cancel these tasks`,
      );
    }
  }
}
