import { ParentEndedError } from '../../errors/store.errors.js';
import type { NewTask, TaskError, TaskRecord } from '../../models/task.model.js';
import type { ReserveRequest, SettleReport, TaskQueueStore, WriteScope } from '../../storage/task-queue.store.js';
import { WRITE_NOTHING } from '../../storage/task-queue.store.js';
import { reserveRequest, taskError } from '../fixtures.js';
import { expect } from '../test-globals.js';

/** The report of a held settlement that ended nothing else and enqueued nothing. */
export const HELD_PLAIN: SettleReport = { held: true, ended: [], enqueued: [] };
export const NOT_HELD: SettleReport = { held: false };

export const tokenOf = (record: TaskRecord): string => {
  if (record.leaseToken === undefined) throw new Error(`task ${record.id} has no lease token (status ${record.status})`);
  return record.leaseToken;
};

/** Enqueues `task` and reserves it alone, through its own queue and name. */
export async function running(store: TaskQueueStore, task: NewTask, request: Partial<ReserveRequest> = {}): Promise<TaskRecord> {
  await store.enqueue([task]);
  return reserveOnly(store, task, request);
}

/** Reserves the stored task `task` alone; fails the case when another (or none) comes back. */
export async function reserveOnly(store: TaskQueueStore, task: NewTask, request: Partial<ReserveRequest> = {}): Promise<TaskRecord> {
  const reserved = await store.reserve(reserveRequest({ queues: [task.queue], names: [task.name], limit: 1, ...request }));
  expect(reserved.map((record) => record.id)).toEqual([task.id]);
  return reserved[0]!;
}

/** Reserves the stored task and ends its attempt with `outcome`; returns the report. */
export async function endAs(
  store: TaskQueueStore,
  task: NewTask,
  outcome: 'success' | 'failed' | 'cancelled',
  options: { at?: Date; error?: TaskError; scope?: WriteScope; request?: Partial<ReserveRequest> } = {},
): Promise<SettleReport> {
  const reserved = await reserveOnly(store, task, options.request);
  const base = { id: task.id, token: tokenOf(reserved), at: options.at };
  const settlement =
    outcome === 'failed'
      ? { ...base, outcome, error: options.error ?? taskError() }
      : { ...base, outcome, ...(options.error ? { error: options.error } : {}) };
  const [report] = await store.settle([settlement], options.scope ?? WRITE_NOTHING);
  expect(report).toMatchObject({ held: true });
  return report!;
}

/** The ended records of a held report (fails the case when it was not held). */
export function endedBy(report: SettleReport | undefined): readonly TaskRecord[] {
  expect(report).toMatchObject({ held: true });
  return report && report.held ? report.ended : [];
}

/** The child of a race with its parent's failure: refused with ParentEndedError, or stored and cancelled by it. */
export async function expectRejectedOrCancelled(
  store: TaskQueueStore,
  enqueued: PromiseSettledResult<unknown> | undefined,
  childId: string,
  parentId: string,
): Promise<void> {
  const stored = await store.get(childId);
  if (enqueued?.status === 'rejected') {
    expect(enqueued.reason).toBeInstanceOf(ParentEndedError);
    expect(stored).toBeUndefined();
  } else {
    expect({ status: stored?.status, cancelledBy: stored?.cancelledBy }).toEqual({ status: 'cancelled', cancelledBy: parentId });
  }
}
