import { OmniQError } from '../../errors/omniq.errors.js';

/** A `file://` URL or project name the file backend cannot turn into a data folder. */
export class FileBackendConfigError extends OmniQError {
  override name = 'FileBackendConfigError';
}

/**
 * A data file that is not what the file backend writes (edited by hand, truncated by a disk
 * failure). Writes are atomic, so a crash never produces one.
 */
export class CorruptFileError extends OmniQError {
  override name = 'CorruptFileError';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`${path} is not a valid OmniQ data file (${reason}); move it aside or delete it`);
  }
}
