import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoggerService } from '@nestjs/common';
import { NOTIFY_CHANNELS, type Notifier, type NotifyChannel } from '../../storage/notifier.js';
import type { Unsubscribe } from '../../storage/task-queue.store.js';
import { newUuid } from '../../utils/uuid.js';
import { listNames, readFileIfExists, unlinkQuietly, writeFileAtomic } from './atomic-write.js';

const NOTIFY_FORMAT = 'omniq.notify/1';
/** How long a message file stays for other instances (they read it within milliseconds of its creation). */
const RETENTION_MS = 10_000;
/** How often an instance deletes expired message files, anyone's, as it sends or hears messages. */
const SWEEP_EVERY_MS = 5_000;
/** `<epoch ms>-<instance>-<n>.json`: the time says when it expires, the instance who sent it. */
const MESSAGE_FILE = /^(\d+)-([0-9a-f-]+)-\d+\.json$/;
const CHANNELS = new Set<string>(NOTIFY_CHANNELS);

type Listener = (message: string) => void;

/**
 * Notifications through a watched folder, `notify/`, shared by every instance on the project
 * folder. A notify writes one small file (atomically: temp file, then rename) holding the
 * channel and its messages; every other instance watches the folder (inotify, FSEvents, ...),
 * reads each new file once, and calls its listeners. The sender's own listeners are called
 * directly. Files are deleted RETENTION_MS after they were written, by whichever instance sweeps
 * first.
 *
 * A folder that cannot be watched (some network file systems) makes the notifier local:
 * `crossProcess` is false, and the core polls for other processes' changes.
 *
 * Shared by the three stores of one engine: each acquires it and releases it on close, and the
 * last release stops the watcher.
 */
export class FileNotifier implements Notifier {
  readonly crossProcess: boolean;
  private readonly listeners = new Map<NotifyChannel, Set<Listener>>();
  /** Names this instance's message files, so its watcher passes over them. */
  private readonly instance = newUuid();
  private sent = 0;
  /** Message files already read, with their time, forgotten once the files are swept. */
  private readonly heard = new Map<string, number>();
  private lastSweep = 0;
  private users = 0;
  private closed = false;

  private constructor(
    private readonly dir: string,
    private readonly watcher: FSWatcher | undefined,
    private readonly logger: LoggerService,
  ) {
    this.crossProcess = watcher !== undefined;
  }

  /** Opens the notifier of the project folder `root`; it stays open until every user released it. */
  static async open(root: string, logger: LoggerService): Promise<FileNotifier> {
    const dir = join(root, 'notify');
    await mkdir(dir, { recursive: true });
    let notifier: FileNotifier | undefined;
    let watcher: FSWatcher | undefined;
    try {
      // Events are delivered from the event loop, after the assignment below.
      watcher = watch(dir, (_event, name) => notifier?.heardFile(name));
    } catch (error) {
      logger.warn(`Cannot watch ${dir} (${(error as Error).message}): other processes' changes are found by polling`);
    }
    notifier = new FileNotifier(dir, watcher, logger);
    // A notifier alone must not keep a process alive: the stores' users hold their own timers.
    watcher?.unref();
    watcher?.on('error', (error) => notifier.watchFailed(error));
    await notifier.sweep(Date.now());
    return notifier;
  }

  acquire(): this {
    this.users += 1;
    return this;
  }

  release(): void {
    this.users -= 1;
    if (this.users > 0 || this.closed) return;
    this.closed = true;
    this.watcher?.close();
    this.listeners.clear();
  }

  listen(channel: NotifyChannel, listener: Listener): Unsubscribe {
    let set = this.listeners.get(channel);
    if (set === undefined) this.listeners.set(channel, (set = new Set()));
    // A wrapper per registration: the same function registered twice is called twice.
    const registered: Listener = (message) => listener(message);
    set.add(registered);
    return () => {
      set.delete(registered);
    };
  }

  async notify(channel: NotifyChannel, messages: readonly string[]): Promise<void> {
    if (messages.length === 0) return;
    this.deliver(channel, messages);
    if (!this.crossProcess || this.closed) return;
    const now = Date.now();
    const path = join(this.dir, `${now}-${this.instance}-${this.sent++}.json`);
    try {
      await writeFileAtomic(path, JSON.stringify({ format: NOTIFY_FORMAT, channel, messages }));
    } catch (error) {
      // The change it announces is stored: others still find it when they poll.
      this.logger.warn(`Could not notify other processes through ${this.dir}: ${(error as Error).message}`);
    }
    await this.sweepIfDue(now);
  }

  /** Calls this instance's listeners of `channel`, each in its own microtask, a throwing one logged. */
  private deliver(channel: NotifyChannel, messages: readonly string[]): void {
    const set = this.listeners.get(channel);
    if (set === undefined || set.size === 0) return;
    for (const message of messages) {
      for (const listener of set) {
        queueMicrotask(() => {
          if (!set.has(listener)) return;
          try {
            listener(message);
          } catch (error) {
            this.logger.error(`A "${channel}" listener threw on "${message}": ${(error as Error).message}`);
          }
        });
      }
    }
  }

  private heardFile(name: string | null): void {
    if (this.closed) return;
    if (name === null) {
      // The platform did not say which file: look at all of them.
      void this.readFolder();
      return;
    }
    const match = MESSAGE_FILE.exec(name);
    if (match === null || match[2] === this.instance || this.heard.has(name)) return;
    this.heard.set(name, Number(match[1]));
    void this.read(name);
  }

  private async readFolder(): Promise<void> {
    try {
      for (const name of await listNames(this.dir)) this.heardFile(name);
    } catch (error) {
      this.logger.warn(`Could not read ${this.dir}: ${(error as Error).message}`);
    }
  }

  private async read(name: string): Promise<void> {
    try {
      // Gone already: it was swept, or this is the event of its deletion.
      const text = await readFileIfExists(join(this.dir, name));
      if (text !== undefined && !this.closed) {
        const message = JSON.parse(text) as { format?: unknown; channel?: unknown; messages?: unknown };
        const valid =
          message.format === NOTIFY_FORMAT &&
          CHANNELS.has(message.channel as string) &&
          Array.isArray(message.messages) &&
          message.messages.every((item) => typeof item === 'string');
        if (valid) this.deliver(message.channel as NotifyChannel, message.messages as string[]);
        else this.logger.warn(`Ignoring ${join(this.dir, name)}: not an OmniQ notification`);
      }
      await this.sweepIfDue(Date.now());
    } catch (error) {
      this.logger.warn(`Could not read the notification ${join(this.dir, name)}: ${(error as Error).message}`);
    }
  }

  private async sweepIfDue(now: number): Promise<void> {
    if (now - this.lastSweep >= SWEEP_EVERY_MS) await this.sweep(now);
  }

  private async sweep(now: number): Promise<void> {
    this.lastSweep = now;
    for (const [name, at] of this.heard) if (at + 2 * RETENTION_MS < now) this.heard.delete(name);
    for (const name of await listNames(this.dir)) {
      const at = Number(MESSAGE_FILE.exec(name)?.[1]);
      if (at + RETENTION_MS < now) await unlinkQuietly(join(this.dir, name));
    }
  }

  private watchFailed(error: Error): void {
    this.logger.warn(`Stopped watching ${this.dir} (${error.message}): other processes' notifications no longer arrive`);
    this.watcher?.close();
  }
}
