/**
 * The names of one project's keys. Every key starts with P = `{<prefix>:<projectName>}:`, so all
 * share one hash tag and live in one slot of a Redis Cluster: a Lua script may touch any of them.
 * Scripts get P as ARGV[1] and build the same names with the same suffixes; the suffixes below
 * are the contract between the TypeScript and the Lua side (see each owner's file for the keys
 * it adds under P).
 */
export class RedisKeys {
  /** The prefix of every key of the project, hash tag included. */
  readonly P: string;

  constructor(
    readonly prefix: string,
    readonly projectName: string,
  ) {
    this.P = `{${prefix}:${projectName}}:`;
  }

  // Task queue.
  task(id: string): string {
    return `${this.P}task:${id}`;
  }
  get seq(): string {
    return `${this.P}seq`;
  }
  ready(queue: string): string {
    return `${this.P}ready:${queue}`;
  }
  get delayed(): string {
    return `${this.P}delayed`;
  }
  get running(): string {
    return `${this.P}running`;
  }
  get expiry(): string {
    return `${this.P}expiry`;
  }
  get finished(): string {
    return `${this.P}finished`;
  }
  get all(): string {
    return `${this.P}all`;
  }
  status(status: string): string {
    return `${this.P}status:${status}`;
  }
  idempotencyKey(key: string): string {
    return `${this.P}key:${key}`;
  }
  deps(parentId: string): string {
    return `${this.P}deps:${parentId}`;
  }
  get counts(): string {
    return `${this.P}counts`;
  }
  get paused(): string {
    return `${this.P}paused`;
  }

  // Results.
  result(taskId: string): string {
    return `${this.P}result:${taskId}`;
  }
  get resultsDone(): string {
    return `${this.P}results:done`;
  }
  resultsOfSchedule(scheduleId: string): string {
    return `${this.P}results:sched:${scheduleId}`;
  }

  // Events.
  get events(): string {
    return `${this.P}events`;
  }
  eventsOfTask(taskId: string): string {
    return `${this.P}events:task:${taskId}`;
  }
  eventsOfSchedule(scheduleId: string): string {
    return `${this.P}events:sched:${scheduleId}`;
  }

  // Schedules.
  schedule(id: string): string {
    return `${this.P}schedule:${id}`;
  }
  get schedules(): string {
    return `${this.P}schedules`;
  }
  get schedulesDue(): string {
    return `${this.P}schedules:due`;
  }

  // Coordination.
  lead(name: string): string {
    return `${this.P}lead:${name}`;
  }

  /** The pub/sub channel of the project's notifications (`<channel>\n<message>`). */
  get notify(): string {
    return `${this.P}notify`;
  }
}
