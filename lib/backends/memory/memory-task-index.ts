import type { TaskRecord } from '../../models/task.model.js';
import { IndexedHeap, type HeapEntry } from '../shared/indexed-heap.js';

/**
 * A stored task plus where it currently sits in the index. The slot itself is the entry of the
 * one heap the task waits in (a ready heap, the delayed heap or the lease heap), if any.
 */
export interface TaskSlot extends HeapEntry {
  readonly rec: TaskRecord;
  /** Enqueue order: the FIFO tie-break. */
  readonly seq: number;
  /**
   * Sort keys held on the slot itself because heap comparisons are the hot path. `runAtMs` is
   * refreshed from `rec.runAt` whenever the task is filed; priority never changes.
   */
  readonly priority: number;
  runAtMs: number;
  homeHeap: IndexedHeap<TaskSlot> | undefined;
  /** The task's entry in the expiry heap (created on first need, then reused). */
  expiry: ExpiryEntry | undefined;
  /** Parents whose end the task still waits for; it sits in no ready or delayed heap until this is empty. */
  blockedBy: Set<string> | undefined;
}

const dueBefore = (a: TaskSlot, b: TaskSlot): boolean =>
  a.runAtMs !== b.runAtMs ? a.runAtMs < b.runAtMs : a.seq < b.seq;
const readyBefore = (a: TaskSlot, b: TaskSlot): boolean =>
  a.priority !== b.priority ? a.priority > b.priority : dueBefore(a, b);
const leaseExpiry = (slot: TaskSlot): number => (slot.rec.leaseExpiresAt as Date).getTime();

/** In the expiry heap while the task can expire: while it waits (blocked or not). */
interface ExpiryEntry extends HeapEntry {
  readonly slot: TaskSlot;
}
const expiry = (entry: ExpiryEntry): number => (entry.slot.rec.expiresAt as Date).getTime();

/**
 * Where waiting and running tasks are filed so that nothing is found by scanning. Pending tasks
 * that are due wait in one heap per (queue, task name), so a reserve takes the best head among
 * the names it may run in O(names + log n) per task, and a name filter never scans or starves
 * other names. Scheduled and retrying tasks wait in the delayed heap until they are promoted to
 * pending (so promotion finds them without a scan); leases and expiry deadlines each have one
 * heap. A record's sort keys (runAt, priority, leaseExpiresAt, expiresAt) must only change while
 * it is out of the heaps (after `leave`).
 */
export class MemoryTaskIndex {
  private readonly ready = new Map<string, Map<string, IndexedHeap<TaskSlot>>>();
  private readonly delayed = new IndexedHeap<TaskSlot>(dueBefore);
  private readonly leases = new IndexedHeap<TaskSlot>((a, b) => leaseExpiry(a) < leaseExpiry(b));
  private readonly expiries = new IndexedHeap<ExpiryEntry>((a, b) => expiry(a) < expiry(b));

  /**
   * Files a waiting task: in the expiry heap if it has a deadline and, unless blocked, in its
   * ready heap when pending and due at `nowMs`, else in the delayed heap. Returns whether it is
   * due now (and not blocked): a reserve, which promotes due tasks first, would take it.
   */
  enterWaiting(slot: TaskSlot, nowMs: number): boolean {
    this.makeExpirable(slot);
    if (slot.blockedBy !== undefined && slot.blockedBy.size > 0) return false;
    const due = slot.rec.runAt.getTime() <= nowMs;
    this.setHome(slot, due && slot.rec.status === 'pending' ? this.readyHeap(slot) : this.delayed);
    return due;
  }

  /** Files a task just promoted to pending in its ready heap. */
  enterReady(slot: TaskSlot): void {
    this.setHome(slot, this.readyHeap(slot));
  }

  /** Files a running task under its lease, for reclaimLapsed to find once `leaseExpiresAt` passes. */
  enterLeased(slot: TaskSlot): void {
    this.leave(slot);
    this.setHome(slot, this.leases);
  }

  /** Takes a ready task off its heap for a moment, leaving its expiry filed; `enterReady` files it back. */
  setAside(slot: TaskSlot): void {
    this.removeHome(slot);
  }

  /** Takes the task out of every heap. */
  leave(slot: TaskSlot): void {
    this.removeHome(slot);
    if (slot.expiry !== undefined) this.expiries.remove(slot.expiry);
  }

  /** Takes the delayed task due soonest out of the delayed heap, if its runAt is not after `nowMs`. */
  takeDue(nowMs: number): TaskSlot | undefined {
    const slot = this.delayed.peek();
    if (slot === undefined || slot.runAtMs > nowMs) return undefined;
    this.removeHome(slot);
    return slot;
  }

  /** Takes the running task whose lease lapsed first out of the lease heap, if it lapsed by `nowMs`. */
  takeLapsed(nowMs: number): TaskSlot | undefined {
    const slot = this.leases.peek();
    if (slot === undefined || leaseExpiry(slot) > nowMs) return undefined;
    this.removeHome(slot);
    return slot;
  }

  /** The soonest runAt among delayed tasks. */
  nextDelayedMs(): number | undefined {
    return this.delayed.peek()?.runAtMs;
  }

  /** The task whose deadline passed first, if any passed by `nowMs`. */
  firstOverdue(nowMs: number): TaskSlot | undefined {
    const entry = this.expiries.peek();
    return entry !== undefined && expiry(entry) <= nowMs ? entry.slot : undefined;
  }

  /** The ready heaps a reserve for `queue` may take from: those of `names`, or all. */
  readyHeaps(queue: string, names: readonly string[] | undefined): IndexedHeap<TaskSlot>[] {
    const byName = this.ready.get(queue);
    if (byName === undefined) return [];
    if (names === undefined) return [...byName.values()];
    return names.flatMap((name) => byName.get(name) ?? []);
  }

  /** The best reservable task among the heads of `heaps`, left in place (enterLeased takes it out). */
  best(heaps: readonly IndexedHeap<TaskSlot>[], nowMs: number): TaskSlot | undefined {
    let best: TaskSlot | undefined;
    for (const heap of heaps) {
      const head = this.reservableHead(heap, nowMs);
      if (head !== undefined && (best === undefined || readyBefore(head, best))) best = head;
    }
    return best;
  }

  /**
   * The head of a ready heap once it is really reservable at `nowMs`. Heads filed under a later
   * `now` than this call's go back to the delayed heap; expired heads leave the heap and wait in
   * the expiry heap for expireOverdue.
   */
  private reservableHead(heap: IndexedHeap<TaskSlot>, nowMs: number): TaskSlot | undefined {
    for (let head = heap.peek(); head !== undefined; head = heap.peek()) {
      const rec = head.rec;
      if (head.runAtMs > nowMs) {
        this.setHome(head, this.delayed);
      } else if (rec.expiresAt !== undefined && rec.expiresAt.getTime() <= nowMs) {
        this.removeHome(head);
      } else {
        return head;
      }
    }
    return undefined;
  }

  private readyHeap(slot: TaskSlot): IndexedHeap<TaskSlot> {
    const { queue, name } = slot.rec;
    let byName = this.ready.get(queue);
    if (byName === undefined) this.ready.set(queue, (byName = new Map()));
    let heap = byName.get(name);
    if (heap === undefined) byName.set(name, (heap = new IndexedHeap<TaskSlot>(readyBefore)));
    return heap;
  }

  private makeExpirable(slot: TaskSlot): void {
    if (slot.rec.expiresAt === undefined) return;
    slot.expiry ??= { heapIndex: -1, slot };
    if (slot.expiry.heapIndex < 0) this.expiries.push(slot.expiry);
  }

  private setHome(slot: TaskSlot, heap: IndexedHeap<TaskSlot>): void {
    this.removeHome(slot);
    slot.runAtMs = slot.rec.runAt.getTime();
    slot.homeHeap = heap;
    heap.push(slot);
  }

  private removeHome(slot: TaskSlot): void {
    if (slot.homeHeap === undefined) return;
    slot.homeHeap.remove(slot);
    slot.homeHeap = undefined;
  }
}
