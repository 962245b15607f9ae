import { InvalidTaskOptionError } from '../../errors/omniq.errors.js';
import { ParentEndedError, UnknownParentError } from '../../errors/store.errors.js';
import { FINAL_TASK_STATUSES, type NewTask } from '../../models/task.model.js';

/** A dependency edge of a new task: its parent, and whether that parent already ended as the task needs. */
export interface Parent {
  readonly id: string;
  readonly met: boolean;
}

const FINAL = new Set<string>(FINAL_TASK_STATUSES);
const ENDED_BADLY = new Set<string>(['failed', 'cancelled', 'expired']);
const NO_PARENTS: readonly Parent[] = Object.freeze([]);

/** Whether a parent in `status` (undefined: not stored yet, it comes in the same call) no longer holds its dependent back. */
const parentMet = (status: string | undefined, runOnFailure: boolean): boolean =>
  status === 'success' || (runOnFailure && status !== undefined && FINAL.has(status));

/** String.prototype.isWellFormed (Node 20), which the ES2023 lib the project compiles against does not declare yet. */
const isWellFormed = (text: string): boolean => (text as string & { isWellFormed(): boolean }).isWellFormed();

const UNSTORABLE = 'text without NUL and lone surrogates: PostgreSQL text cannot hold \\u0000, and UTF-8 cannot hold a lone surrogate';

/**
 * Throws for a task whose identifying text PostgreSQL cannot keep as given: it refuses `\u0000`,
 * and the driver would send a lone surrogate as U+FFFD, so the task would come back under another
 * id, name, queue or key. (Payloads and other free text keep theirs, see pgText; lists are JSON,
 * which escapes them.)
 */
export function assertStorableText(task: NewTask): void {
  const fields: Array<[option: string, value: string | undefined]> = [
    ['id', task.id],
    ['name', task.name],
    ['queue', task.queue],
    ['key', task.key],
    ['scheduleId', task.scheduleId],
    ...task.dependsOn.map((id): [string, string] => ['dependsOn', id]),
  ];
  for (const [option, value] of fields) {
    if (value !== undefined && (value.includes('\u0000') || !isWellFormed(value))) {
      throw new InvalidTaskOptionError(task.name, option, value, UNSTORABLE);
    }
  }
}

/**
 * The task's distinct parents and whether each is met, by the stored parents' `statuses`; throws
 * UnknownParentError for parents neither stored nor in the call (`inCall`), and, for
 * onParentFailure `cancel`, ParentEndedError for the first that ended badly.
 */
export function parentsOf(task: NewTask, inCall: ReadonlySet<string>, statuses: ReadonlyMap<string, string>): readonly Parent[] {
  if (task.dependsOn.length === 0) return NO_PARENTS;
  const runOnFailure = task.onParentFailure === 'run';
  const unknown: string[] = [];
  const parents = [...new Set(task.dependsOn)].map((id): Parent => {
    const status = statuses.get(id);
    if (status === undefined && !inCall.has(id)) unknown.push(id);
    if (!runOnFailure && status !== undefined && ENDED_BADLY.has(status)) throw new ParentEndedError(task.id, id, status);
    return { id, met: parentMet(status, runOnFailure) };
  });
  if (unknown.length > 0) throw new UnknownParentError(task.id, unknown);
  return parents;
}
