import { randomUUID } from 'node:crypto';
import { open, readdir, rename, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { IO_CONCURRENCY, mapLimit } from '../kv/kv-concurrency.js';
import {
  CLAIM_STALE_MS,
  DELETE,
  type Change,
  type CorruptRecordError,
  type KvRecords,
  type MutateOptions,
  type MutateOutcome,
  type RecordCodec,
  type Versioned,
} from '../kv/kv-records.js';
import { createFileAtomic, isErrno, removeAfterFailure, unlinkQuietly } from './atomic-write.js';
import { CorruptFileError } from './file-store.errors.js';

/**
 * A version as read from or written to its file. `fileId` is the inode: every version is a new
 * file, so a `stat` showing another inode proves a cached version stale without reading it (an
 * equal one proves nothing: inodes are reused, which is why a write still checks `rev`).
 */
export interface FileVersion<T> extends Versioned<T> {
  readonly fileId?: number;
}

/** Upkeep of files that follow a record's writes (the task store's live markers). */
export interface CommitHooks<T> {
  /** Before the new version is visible; `abandoned` undoes it when the write then does not land. */
  beforeCommit(key: string, before: Versioned<T>, after: Versioned<T>): Promise<void>;
  abandoned(key: string, before: Versioned<T>, after: Versioned<T>): Promise<void>;
  /** After the write landed; `after` is undefined for a delete. */
  afterCommit(key: string, before: Versioned<T>, after: Versioned<T> | undefined): Promise<void>;
}

interface Claim {
  gen: number;
  path: string;
  /** The claim file becomes the record's new version: its inode is the version's fileId. */
  fileId: number;
  at: number;
}

interface Envelope {
  format: string;
  gen: number;
  rev: string;
  body: unknown;
}

const isEnvelope = (value: unknown, format: string): value is Envelope =>
  typeof value === 'object' &&
  value !== null &&
  (value as Envelope).format === format &&
  Number.isInteger((value as Envelope).gen) &&
  typeof (value as Envelope).rev === 'string' &&
  typeof (value as Envelope).body === 'object' &&
  (value as Envelope).body !== null;

/**
 * Records kept one JSON file each (`<dataDir>/<key>.json`), changed by compare-and-swap so that
 * several processes can write them without locks that a crash could leave behind (KvRecords on a
 * folder).
 *
 * A write from version `gen` writes the new version into the claim file `<claimDir>/<key>~<gen+1>`,
 * created exclusively (`wx`): of all writers that read `gen`, exactly one creates it. The winner
 * re-reads the record to check it is still at the `rev` it read (a stale cached read, or a claim
 * name freed long ago, fails here) and renames its claim over the record: the claim is the new
 * version's temp file, so the write lands atomically and releases the claim in one step. A claim
 * older than CLAIM_STALE_MS belongs to a writer that died before renaming: the next writer skips
 * to the following generation.
 */
export class VersionedFiles<T> implements KvRecords<T> {
  /** The head `serialize` writes, up to the body: the version's `rev` is its first group. */
  private readonly stampPattern: RegExp;
  private readonly format: string;
  private readonly revive: (body: Record<string, unknown>) => T;

  constructor(
    private readonly dataDir: string,
    private readonly claimDir: string,
    codec: RecordCodec<T>,
    private readonly hooks?: CommitHooks<T>,
  ) {
    this.format = codec.format;
    this.revive = codec.revive;
    this.stampPattern = new RegExp(`^\\{"format":${escapeRegExp(JSON.stringify(codec.format))},"gen":\\d+,"rev":("[0-9a-f-]+"),"body":`);
  }

  pathOf(key: string): string {
    return join(this.dataDir, `${key}.json`);
  }

  /** The current version, or undefined when there is no such record; throws CorruptFileError. */
  async read(key: string): Promise<FileVersion<T> | undefined> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    try {
      const { ino } = await handle.stat();
      return { ...this.parse(path, await handle.readFile('utf8')), fileId: ino };
    } finally {
      await handle.close();
    }
  }

  private parse(path: string, text: string): Versioned<T> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new CorruptFileError(path, (error as Error).message);
    }
    if (!isEnvelope(parsed, this.format)) {
      const format = (parsed as Partial<Envelope> | null)?.format;
      const foreign = typeof format === 'string' && format !== this.format;
      throw new CorruptFileError(path, foreign ? `a "${format}" record, not "${this.format}"` : `not a "${this.format}" record`, foreign);
    }
    try {
      return { gen: parsed.gen, rev: parsed.rev, body: this.revive(parsed.body as Record<string, unknown>) };
    } catch (error) {
      throw new CorruptFileError(path, (error as Error).message);
    }
  }

  /**
   * Creates the record at generation 0; undefined when it already exists. `beforeVisible` runs
   * once the content is staged, before the record appears.
   */
  async create(key: string, body: T, beforeVisible?: () => Promise<void>): Promise<FileVersion<T> | undefined> {
    const created = { gen: 0, rev: randomUUID(), body };
    let fileId: number | undefined;
    const prepare = async (staged: string): Promise<void> => {
      fileId = (await stat(staged)).ino;
      await beforeVisible?.();
    };
    return (await createFileAtomic(this.pathOf(key), this.serialize(created), prepare)) ? { ...created, fileId } : undefined;
  }

  /**
   * Applies `change` to the current version and writes the result, re-reading and re-applying
   * whenever another writer got there first. `change` may run several times; only the result
   * that lands counts.
   */
  async mutate(key: string, change: Change<T>, options: MutateOptions<T>): Promise<MutateOutcome<T>> {
    let current: FileVersion<T> | undefined = options.known;
    if (current?.fileId !== undefined && current.fileId !== (await this.fileIdOf(key))) current = undefined;
    for (;;) {
      current ??= await this.read(key);
      if (current === undefined) return { kind: 'missing' };
      const next = change(current.body);
      if (next === undefined) return { kind: 'unchanged', current };
      const rev = randomUUID();
      const claim = await this.claim(key, current.gen, (gen) => (next === DELETE ? '' : this.serialize({ gen, rev, body: next })));
      if (claim === undefined) {
        if (options.onBusy === 'skip') return { kind: 'busy' };
        await sleep(1 + Math.random() * 4);
      } else {
        let outcome: MutateOutcome<T> | undefined;
        try {
          outcome = await this.commit(key, current, next === DELETE ? DELETE : { gen: claim.gen, rev, body: next, fileId: claim.fileId }, claim);
        } finally {
          // Stale claims we skipped are behind the record now; so is ours, unless it landed (a
          // landed claim was renamed into the record).
          const last = outcome?.kind === 'written' ? claim.gen - 1 : claim.gen;
          for (let gen = current.gen + 1; gen <= last; gen++) await unlinkQuietly(this.claimPath(key, gen));
        }
        if (outcome !== undefined) return outcome;
      }
      current = undefined;
    }
  }

  /** Every record in the folder (temp files of writes in flight end in `.tmp`, claims live in another folder). */
  async list(onCorrupt: (error: CorruptRecordError) => void): Promise<Versioned<T>[]> {
    const keys = (await readdir(this.dataDir)).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -'.json'.length));
    const versions = await mapLimit(keys, IO_CONCURRENCY, async (key) => {
      try {
        return await this.read(key);
      } catch (error) {
        if (!(error instanceof CorruptFileError)) throw error;
        onCorrupt(error);
        return undefined;
      }
    });
    return versions.filter((version): version is FileVersion<T> => version !== undefined);
  }

  private async fileIdOf(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(key))).ino;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
  }

  private claimPath(key: string, gen: number): string {
    return join(this.claimDir, `${key}~${gen}`);
  }

  private serialize(version: Versioned<T>): string {
    return JSON.stringify({ format: this.format, gen: version.gen, rev: version.rev, body: version.body });
  }

  /**
   * Creates the claim on the generation after `gen`, holding `contentAt(itsGen)`; undefined
   * while a live writer holds it.
   */
  private async claim(key: string, gen: number, contentAt: (gen: number) => string): Promise<Claim | undefined> {
    let next = gen + 1;
    for (let vanished = 0; vanished < 3; ) {
      const path = this.claimPath(key, next);
      const fileId = await createExclusive(path, contentAt(next));
      if (fileId !== undefined) return { gen: next, path, fileId, at: Date.now() };
      let heldSince: number;
      try {
        heldSince = (await stat(path)).mtimeMs;
      } catch (error) {
        if (!isErrno(error, 'ENOENT')) throw error;
        vanished += 1; // its writer just finished: try the same name again
        continue;
      }
      if (Date.now() - heldSince < CLAIM_STALE_MS) return undefined;
      next += 1;
    }
    return undefined;
  }

  private async commit(key: string, before: Versioned<T>, after: FileVersion<T> | typeof DELETE, claim: Claim): Promise<MutateOutcome<T> | undefined> {
    if (after === DELETE) {
      if (!(await this.stillCurrent(key, before, claim))) return undefined;
      await unlinkQuietly(this.pathOf(key));
      await this.hooks?.afterCommit(key, before, undefined);
      return { kind: 'deleted', before };
    }
    await this.hooks?.beforeCommit(key, before, after);
    if (!(await this.stillCurrent(key, before, claim))) {
      await this.hooks?.abandoned(key, before, after);
      return undefined;
    }
    await rename(claim.path, this.pathOf(key));
    await this.hooks?.afterCommit(key, before, after);
    return { kind: 'written', before, after };
  }

  /**
   * The fence right before a write lands: the record is still the version the change was
   * computed from, and our claim is too young for anyone to have skipped past it.
   */
  private async stillCurrent(key: string, before: Versioned<T>, claim: Claim): Promise<boolean> {
    if (Date.now() - claim.at >= CLAIM_STALE_MS / 2) return false;
    const rev = await this.currentRev(key);
    return rev === before.rev && Date.now() - claim.at < CLAIM_STALE_MS / 2;
  }

  /**
   * The `rev` of the record's current version, from the head of its file: the fence runs on the
   * clock of a claim, and reading a record of tens of megabytes in full takes longer than that,
   * so a write of one would never land. A file whose head is not as `serialize` writes it is read
   * in full.
   */
  private async currentRev(key: string): Promise<string | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(key), 'r');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    let head: string;
    try {
      const buffer = Buffer.alloc(STAMP_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, STAMP_BYTES, 0);
      head = buffer.toString('utf8', 0, bytesRead);
    } finally {
      await handle.close();
    }
    const stamp = this.stampPattern.exec(head);
    return stamp ? (JSON.parse(stamp[1]!) as string) : (await this.read(key))?.rev;
  }
}

/** Bytes of a record's head that hold its stamp (format, gen and rev; formats are short names). */
const STAMP_BYTES = 512;

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Creates `path` holding `data` and returns its inode, or undefined when it exists. */
async function createExclusive(path: string, data: string): Promise<number | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (error) {
    if (isErrno(error, 'EEXIST')) return undefined;
    throw error;
  }
  try {
    await handle.writeFile(data);
    return (await handle.stat()).ino;
  } catch (error) {
    // Created but not written (a full disk): ours, so ours to remove.
    await removeAfterFailure(path);
    throw error;
  } finally {
    await handle.close();
  }
}
