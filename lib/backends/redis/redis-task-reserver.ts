import type { LoggerService } from '@nestjs/common';
import type { TaskRecord } from '../../models/task.model.js';
import { damagedError } from '../../storage/outcomes.js';
import type { ReserveRequest } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import { describeError } from '../../utils/describe-error.js';
import type { RedisConnection } from './redis-connection.js';
import { MAX_SCRIPT_ARGS } from './redis-scripts.js';
import { READ_SCRIPT } from './redis-task-queries.lua.js';
import { errorJson, taskFromPackedHash, tasksFromHashes } from './redis-task-record.js';
import { RESERVE_SCRIPT, SET_ASIDE_SCRIPT } from './redis-task-reserve.lua.js';

/**
 * Reserves with one script per call (see RESERVE_SCRIPT): promotion, the walk over the queues
 * and the leases in one atomic step, whatever the limit. A leased record that cannot be read is
 * set aside by a second script: ended failed with a DamagedTaskError, its dependents left waiting,
 * logged once. Should that write fail, the damaged tasks stay leased under a lease nobody renews,
 * so they come back after a reclaim and are set aside then. A record whose status is no status
 * leaves the ready index (so it never blocks the queue) and is logged; it is never leased.
 */
export class RedisTaskReserver {
  constructor(
    private readonly connection: RedisConnection,
    private readonly logger: LoggerService,
  ) {}

  async reserve(request: ReserveRequest): Promise<TaskRecord[]> {
    const queues = [...new Set(request.queues)];
    const names = request.names === undefined ? undefined : [...new Set(request.names)];
    if (queues.length === 0 || request.limit <= 0 || names?.length === 0) return [];
    if (request.workerId.includes('\u0000')) throw new RangeError(`reserve got a workerId with a NUL character (${JSON.stringify(request.workerId)}); a lease stores it as it is`);
    if (queues.length + (names?.length ?? 0) > MAX_SCRIPT_ARGS) {
      throw new RangeError(`reserve got ${queues.length} queues and ${names?.length ?? 0} names; at most ${MAX_SCRIPT_ARGS} in all`);
    }
    const now = request.now?.getTime() ?? Date.now();
    const maxLapsed = request.maxLapsed === undefined || !Number.isFinite(request.maxLapsed) ? -1 : Math.max(0, request.maxLapsed);
    const limit = Number.isFinite(request.limit) ? Math.floor(request.limit) : Number.MAX_SAFE_INTEGER;
    const { P } = this.connection.keys;
    const args: (string | number)[] = [P, now, limit, now + request.leaseMs, request.workerId, maxLapsed, request.lapsedFrom ?? 1, newUuid(), queues.length, ...queues];
    if (names === undefined) args.push(-1);
    else args.push(names.length, ...names);
    const [packed, damagedStatus, leasedIds, parts] = await this.connection.run<[string[], string[], string[], number[]]>(RESERVE_SCRIPT, [`${P}seq`], args, 'reserve');
    for (const id of damagedStatus) {
      this.logger.error(`Task ${id} is damaged: its status field holds no task status; it was set aside and never runs`);
    }
    const reserved: TaskRecord[] = [];
    let damaged: TaskRecord[] | undefined;
    for (const record of await this.records(packed, leasedIds, parts)) {
      if (record.damaged === undefined) reserved.push(record);
      else (damaged ??= []).push(record);
    }
    if (damaged !== undefined) await this.setAside(damaged, now);
    return reserved;
  }

  /** The records of the leased tasks' packed hashes, in order; one that does not split into its `parts` is read again as a list. */
  private async records(packed: readonly string[], ids: readonly string[], parts: readonly number[]): Promise<TaskRecord[]> {
    const records = packed.map((hash, i) => taskFromPackedHash(hash, parts[i]!));
    const unclear = ids.filter((_, i) => records[i] === undefined);
    if (unclear.length === 0) return records as TaskRecord[];
    const { P } = this.connection.keys;
    const hashes = await this.connection.run<string[][]>(READ_SCRIPT, [`${P}seq`], [P, ...unclear], 'reserve (reading tasks again)');
    const again = new Map(tasksFromHashes(hashes).map((record) => [record.id, record]));
    // (One gone meanwhile was deleted behind OmniQ's back.)
    return records.flatMap((record, i) => record ?? again.get(ids[i]!) ?? []);
  }

  private async setAside(damaged: readonly TaskRecord[], now: number): Promise<void> {
    const { P } = this.connection.keys;
    const args: (string | number)[] = [P, now];
    for (const record of damaged) args.push(record.id, record.leaseToken ?? '', errorJson(damagedError(record.damaged!)));
    try {
      await this.connection.run(SET_ASIDE_SCRIPT, [`${P}seq`], args, 'reserve (setting damaged tasks aside)');
      for (const { id, name, queue, damaged: damage } of damaged) {
        this.logger.error(`Task ${id} (${name}, queue ${queue}) is damaged: ${damage}; it was set aside and never runs`);
      }
    } catch (error) {
      this.logger.error(
        `Tasks ${damaged.map((record) => record.id).join(', ')} are damaged (${damaged[0]!.damaged}) and could not be set aside yet: ` +
          `${describeError(error)}; they are retried after their lease lapses`,
      );
    }
  }
}
