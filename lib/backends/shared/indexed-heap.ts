/** Something an {@link IndexedHeap} can hold: it records its own position (-1 when in no heap). */
export interface HeapEntry {
  heapIndex: number;
}

/**
 * A binary heap whose entries know their position, so any entry can be removed in O(log n)
 * instead of being left behind as a stale entry (settled leases would otherwise pile up).
 * Entries carry the index themselves, so filing a task allocates nothing; an entry can therefore
 * sit in only one heap at a time.
 */
export class IndexedHeap<T extends HeapEntry> {
  private readonly entries: T[] = [];

  /** @param before true when `a` must leave the heap before `b`. */
  constructor(private readonly before: (a: T, b: T) => boolean) {}

  peek(): T | undefined {
    return this.entries[0];
  }

  push(entry: T): void {
    entry.heapIndex = this.entries.length;
    this.entries.push(entry);
    this.siftUp(entry.heapIndex);
  }

  /** Removes `entry` if it is in this heap; returns whether it was. */
  remove(entry: T): boolean {
    const index = entry.heapIndex;
    if (index < 0 || this.entries[index] !== entry) return false;
    const last = this.entries.pop() as T;
    entry.heapIndex = -1;
    if (last !== entry) {
      this.entries[index] = last;
      last.heapIndex = index;
      this.siftUp(index);
      this.siftDown(last.heapIndex);
    }
    return true;
  }

  private siftUp(start: number): void {
    const entry = this.entries[start];
    let index = start;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = this.entries[parentIndex];
      if (!this.before(entry, parent)) break;
      this.entries[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    this.entries[index] = entry;
    entry.heapIndex = index;
  }

  private siftDown(start: number): void {
    const entry = this.entries[start];
    const length = this.entries.length;
    let index = start;
    for (;;) {
      let childIndex = 2 * index + 1;
      if (childIndex >= length) break;
      const right = childIndex + 1;
      if (right < length && this.before(this.entries[right], this.entries[childIndex])) childIndex = right;
      const child = this.entries[childIndex];
      if (!this.before(child, entry)) break;
      this.entries[index] = child;
      child.heapIndex = index;
      index = childIndex;
    }
    this.entries[index] = entry;
    entry.heapIndex = index;
  }
}
