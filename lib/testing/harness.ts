import type { StorageEngine } from '../storage/engine.js';
import type { EventStore } from '../storage/event.store.js';
import type { Notifier, NotifyChannel } from '../storage/notifier.js';
import type { ResultStore } from '../storage/result.store.js';
import type { ScheduleStore } from '../storage/schedule.store.js';
import type { TaskQueueStore } from '../storage/task-queue.store.js';
import { afterEach, beforeEach } from './test-globals.js';

/** What the suite runs against: how to open an engine, and a second one on the same storage. */
export interface ConformanceTarget {
  name: string;
  /** A new engine on new, empty storage. */
  open(): Promise<StorageEngine>;
  /** A second engine on the same storage as `engine` (what another process would open). */
  openPeer(engine: StorageEngine): Promise<StorageEngine>;
  /** Optional cleanup after each test (temp folders), after the engines are closed. */
  cleanup?(): Promise<void>;
  /**
   * Damages one field of a stored task straight in the storage, as a bad disk, a bad manual edit
   * or an old bug would: `status` becomes a word that is no status, `payload` an encoding no codec
   * reads, the others unreadable (invalid JSON) or missing, whichever the storage can hold. The
   * damage cases run only for targets that have it.
   */
  damage?(engine: StorageEngine, taskId: string, field: DamageField): Promise<void>;
  /** The fields `damage` can break in this storage (default: all). */
  damageFields?: readonly DamageField[];
}

/** The fields the damage cases break. */
export type DamageField = 'status' | 'runAt' | 'tags' | 'dependsOn' | 'lastError' | 'payload';

/** How long a case waits for a notification before it fails naming the message. */
export const NOTIFY_TIMEOUT_MS = 5_000;

/** The engines of the running case, opened before it and closed after it. */
export interface EngineHarness {
  readonly target: ConformanceTarget;
  readonly engine: StorageEngine;
  readonly tasks: TaskQueueStore;
  readonly results: ResultStore;
  readonly events: EventStore;
  /** The engine's schedule store; fails the case, naming the target, when the backend keeps none. */
  readonly schedules: ScheduleStore;
  /** Opens another engine on the same storage as `engine` (each call a new one), closed after the case. */
  peer(): Promise<StorageEngine>;
  /**
   * Resolves with the first message on `channel` equal to (or accepted by) `expected`. Call it
   * before the action that should notify; it fails after `timeoutMs` with a message naming what
   * it waited for.
   */
  message(
    notifier: Notifier,
    channel: NotifyChannel,
    expected: string | ((message: string) => boolean),
    timeoutMs?: number,
  ): Promise<string>;
  /** Every message heard on `channel` from now until the case ends, in arrival order. */
  record(notifier: Notifier, channel: NotifyChannel): string[];
}

interface CaseState {
  engine: StorageEngine;
  peers: StorageEngine[];
  /** Stops pending waits and recorders (timers and listeners) when the case ends. */
  stops: Set<() => void>;
}

/** Registers the hooks that give each case a fresh engine and close everything it opened. */
export function useEngines(target: ConformanceTarget): EngineHarness {
  let state: CaseState | undefined;
  const current = (): CaseState => {
    if (!state) throw new Error(`the ${target.name} engine is only available inside a conformance case`);
    return state;
  };

  beforeEach(async () => {
    state = { engine: await target.open(), peers: [], stops: new Set() };
  });

  afterEach(async () => {
    const ending = state;
    state = undefined;
    const failures: unknown[] = [];
    if (ending) {
      for (const stop of [...ending.stops]) stop();
      for (const engine of [...ending.peers.reverse(), ending.engine]) {
        await engine.close().catch((error: unknown) => failures.push(error));
      }
    }
    // Also after a failed open(): the target may have made its folder before the backend failed.
    await target.cleanup?.();
    if (failures.length > 0) throw failures[0];
  });

  function listenUntilStopped(notifier: Notifier, channel: NotifyChannel, listener: (message: string) => void): () => void {
    const owner = current();
    const unsubscribe = notifier.listen(channel, listener);
    const stop = (): void => {
      owner.stops.delete(stop);
      unsubscribe();
    };
    owner.stops.add(stop);
    return stop;
  }

  return {
    target,
    get engine() {
      return current().engine;
    },
    get tasks() {
      return current().engine.tasks;
    },
    get results() {
      return current().engine.results;
    },
    get events() {
      return current().engine.events;
    },
    get schedules() {
      const schedules = current().engine.tasks.schedules;
      if (!schedules) throw new Error(`${target.name}: engine.tasks.schedules is undefined, so the schedule cases cannot run`);
      return schedules;
    },
    async peer() {
      const owner = current();
      const peer = await target.openPeer(owner.engine);
      owner.peers.push(peer);
      return peer;
    },
    message(notifier, channel, expected, timeoutMs = NOTIFY_TIMEOUT_MS) {
      const accepts = typeof expected === 'string' ? (message: string) => message === expected : expected;
      const wanted = typeof expected === 'string' ? `"${expected}"` : 'matching the case';
      const heard: string[] = [];
      const waiting = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          stop();
          const got = heard.length === 0 ? 'none' : heard.slice(0, 10).join(', ');
          reject(new Error(`${target.name}: no "${channel}" message ${wanted} within ${timeoutMs} ms (heard: ${got})`));
        }, timeoutMs);
        const stop = listenUntilStopped(notifier, channel, (message) => {
          heard.push(message);
          if (!accepts(message)) return;
          clearTimeout(timer);
          stop();
          resolve(message);
        });
        current().stops.add(() => clearTimeout(timer));
      });
      // The case awaits it; this keeps a wait the case never reached from being an unhandled rejection.
      waiting.catch(() => undefined);
      return waiting;
    },
    record(notifier, channel) {
      const heard: string[] = [];
      listenUntilStopped(notifier, channel, (message) => heard.push(message));
      return heard;
    },
  };
}

/** The error a call failed with; fails the case, naming `what`, when it resolved instead. */
export async function rejection(what: string, call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error(`${what} resolved, but it should have been rejected`);
}

/** How a promise settled, failing naming `what` when it has not within `timeoutMs` (a hang). */
export async function settlement<T>(what: string, promise: Promise<T>, timeoutMs: number): Promise<PromiseSettledResult<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} neither resolved nor rejected within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      promise.then(
        (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
        (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Real time passing, only where the contract has no `now` to pass (coordination TTLs). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
