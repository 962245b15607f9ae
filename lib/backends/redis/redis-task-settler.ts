import type { TaskEvent } from '../../models/event.model.js';
import type { SettleReport, Settlement, WriteScope } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import { addIds } from '../shared/task-ids.js';
import type { RedisConnection } from './redis-connection.js';
import { eventToJson, resultToJson } from '../shared/record-json.js';
import { MAX_SCRIPT_ARGS } from './redis-scripts.js';
import { checkError, encodedTask } from './redis-task-inserter.js';
import { errorJson, tasksFromHashes } from './redis-task-record.js';
import { SETTLE_SCRIPT } from './redis-task-settle.lua.js';

const NONE: readonly never[] = Object.freeze([]);
/* Shared, frozen reports: almost every settlement of a drain is held with nothing cascaded or enqueued. */
const NOT_HELD: SettleReport = Object.freeze({ held: false });
const HELD: SettleReport = Object.freeze({ held: true, ended: NONE, enqueued: NONE });

const isReleased = (event: TaskEvent): boolean => event.type === 'released';
const time = (date: Date | undefined): string => (date === undefined ? '' : String(date.getTime()));

type Report = 0 | 1 | [string[][], string[]];

/** Where the head of SETTLE_SCRIPT's ARGV says whether a settlement of the chunk has an outbox. */
const OUTBOXES_AT = 6;

/**
 * Ends attempts with one script per chunk of settlements (see SETTLE_SCRIPT): the lease checks,
 * the tasks' changes, their cascades, results, events, outboxes and wake-ups of the whole chunk
 * in one atomic step. A batch is chunked only when its ARGV would pass MAX_SCRIPT_ARGS; each
 * chunk checks its own outboxes before it changes anything (ids given twice across the whole call
 * are refused before the first chunk).
 */
export class RedisTaskSettler {
  constructor(private readonly connection: RedisConnection) {}

  async settle(settlements: readonly Settlement[], scope: WriteScope): Promise<SettleReport[]> {
    const outboxIds = new Set<string>();
    for (const { enqueue } of settlements) if (enqueue !== undefined && enqueue.length > 0) addIds(enqueue, 0, enqueue.length, outboxIds);
    const { P } = this.connection.keys;
    const head = (): (string | number)[] => [P, Date.now(), scope.results ? '1' : '0', scope.events ? '1' : '0', this.connection.settings.eventsMaxLen, newUuid(), ''];
    const reports: SettleReport[] = [];
    let args = head();
    let chunk: Settlement[] = [];
    for (const settlement of settlements) {
      const own = this.args(settlement, scope);
      if (chunk.length > 0 && args.length + own.length > MAX_SCRIPT_ARGS) {
        await this.run(chunk, args, reports);
        args = head();
        chunk = [];
      }
      for (const value of own) args.push(value);
      if (settlement.enqueue !== undefined && settlement.enqueue.length > 0) args[OUTBOXES_AT] = '1';
      chunk.push(settlement);
    }
    if (chunk.length > 0) await this.run(chunk, args, reports);
    return reports;
  }

  private async run(chunk: readonly Settlement[], args: (string | number)[], reports: SettleReport[]): Promise<void> {
    const reply = await this.connection.run<Array<string | Report>>(SETTLE_SCRIPT, [`${this.connection.keys.P}seq`], args, 'settle');
    if (reply[0] !== 'ok') throw checkError(reply.slice(1) as string[]);
    for (let i = 0; i < chunk.length; i++) {
      const report = reply[i + 1] as Report;
      if (report === 0) reports.push(NOT_HELD);
      else if (report === 1) reports.push(HELD);
      else {
        const outbox = chunk[i]!.enqueue ?? NONE;
        reports.push({
          held: true,
          ended: tasksFromHashes(report[0]),
          enqueued: report[1].map((id, k) => ({ id, created: id === outbox[k]!.id })),
        });
      }
    }
  }

  private args(settlement: Settlement, scope: WriteScope): (string | number)[] {
    const { outcome } = settlement;
    const error = outcome === 'success' || outcome === 'release' ? undefined : settlement.error;
    const at = outcome === 'release' || outcome === 'retry' ? undefined : settlement.at;
    const args: (string | number)[] = [
      settlement.id,
      settlement.token,
      outcome,
      time(at),
      error === undefined ? '' : errorJson(error),
      outcome === 'retry' ? String(settlement.retryAt.getTime()) : '',
    ];
    const result = scope.results ? settlement.result : undefined;
    if (result === undefined) args.push(0);
    else args.push(1, resultToJson(result), result.scheduleId ?? '', result.completedAt.getTime(), time(result.expiresAt));
    const events = scope.events ? (settlement.events ?? NONE) : NONE;
    args.push(events.length);
    for (const event of events) args.push(eventToJson(event), event.taskId ?? '', event.scheduleId ?? '', event.timestamp.getTime());
    args.push(settlement.events?.some(isReleased) ? '1' : '');
    const outbox = settlement.enqueue ?? NONE;
    args.push(outbox.length);
    for (const task of outbox) args.push(encodedTask(task));
    return args;
  }
}
