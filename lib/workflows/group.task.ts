import type { TaskContext, ParentOutcome } from '../interfaces/task-context.interface.js';
import type { RegisteredTask } from '../task.registry.js';

/** The name of the collector task `group()` enqueues after its members. */
export const GROUP_TASK = 'omniq.group';

/** The result of a group: every member's outcome, in the order the members were given. */
export interface GroupResult {
  members: ParentOutcome[];
}

/** OmniQ's own task that gathers a group's outcomes once every member ended. */
export const groupCollector: RegisteredTask = {
  name: GROUP_TASK,
  options: { maxRetries: 0 },
  source: 'OmniQ group()',
  internal: true,
  handler: async (_payload: unknown, ctx: TaskContext): Promise<GroupResult> => ({ members: await ctx.parents() }),
};
