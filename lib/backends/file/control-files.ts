import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { VersionedFiles } from './versioned-files.js';

/**
 * The small project-wide records (paused queues, leader leases) in `control/`, each written by
 * compare-and-swap with its claims in `control-claims/` (see VersionedFiles). Record keys never
 * collide across kinds: each kind prefixes its own.
 */
export class ControlFiles {
  private constructor(private readonly root: string) {}

  static async open(root: string): Promise<ControlFiles> {
    for (const dir of ['control', 'control-claims']) await mkdir(join(root, dir), { recursive: true });
    return new ControlFiles(root);
  }

  records<T>(format: string, revive: (body: Record<string, unknown>) => T): VersionedFiles<T> {
    return new VersionedFiles(join(this.root, 'control'), join(this.root, 'control-claims'), format, revive);
  }
}
