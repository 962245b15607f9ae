/**
 * What made a value unstorable. Kept on the error as data so callers can react to the kind
 * without parsing the message.
 */
export type EncodingFault =
  | { readonly kind: 'function' }
  | { readonly kind: 'symbol' }
  | { readonly kind: 'circular' }
  | { readonly kind: 'invalid-date' }
  | { readonly kind: 'instance'; readonly className: string }
  /** Nested deeper than `limit` levels (MAX_NESTING_DEPTH). */
  | { readonly kind: 'too-deep'; readonly limit: number };

const STORABLE = 'only plain objects, arrays, primitives, Date, Map, Set, Buffer and Uint8Array can be stored';

/** A payload or result holds something that is not data; nothing was stored. */
export class PayloadEncodingError extends Error {
  override readonly name = 'PayloadEncodingError';
  /**
   * Where the offending value sits, rooted at `what`, e.g. `payload.user.callback`. A path deeper
   * than 16 levels shows its first and last 8 around the count left out (`payload.a.a…(980 levels)….a`).
   */
  readonly path: string;

  /**
   * @param what root label of the path: 'payload', 'result' or any name of the value encoded.
   * @param relativePath path below the root, e.g. `.user.callback` or `[2]` (empty for the root itself).
   */
  constructor(
    readonly what: string,
    relativePath: string,
    readonly fault: EncodingFault,
  ) {
    const path = what + relativePath;
    super(describeFault(path, fault));
    this.path = path;
  }
}

function describeFault(path: string, fault: EncodingFault): string {
  switch (fault.kind) {
    case 'function':
      return `${path} is a function; only data can be stored`;
    case 'symbol':
      return `${path} is a symbol; only data can be stored`;
    case 'circular':
      return `circular reference at ${path}: the value contains itself, so it cannot be stored as a tree`;
    case 'invalid-date':
      return `${path} is an invalid Date; it has no time to store`;
    case 'too-deep':
      return `${path} is nested more than ${fault.limit} levels deep (objects, arrays, Maps and Sets inside one another); at most ${fault.limit} levels can be stored`;
    case 'instance':
      return fault.className === 'Promise'
        ? `${path} is a Promise; await it before storing the value it resolves to`
        : `${path} is an instance of ${fault.className}; ${STORABLE}`;
  }
}

/** Stored text could not be turned back into a value: another format, corruption or a newer writer. */
export class PayloadDecodingError extends Error {
  override readonly name = 'PayloadDecodingError';

  /**
   * @param what label of the value decoded: 'payload', 'result' or any name.
   * @param reason why it failed, e.g. `unknown format 'x'`.
   */
  constructor(
    readonly what: string,
    readonly reason: string,
  ) {
    super(`cannot decode stored ${what}: ${reason}`);
  }
}
