import type { EncodedValue } from '../models/encoded-value.model.js';
import { PayloadDecodingError } from '../errors/codec.errors.js';
import { fromJsonTree } from './json-decoder.js';
import { toJsonTree } from './json-encoder.js';

/**
 * Turns task payloads and results into stored text and back. `format` is stored with the text so
 * a later codec can recognise, and refuse or migrate, data it did not write.
 */
export interface Codec {
  readonly format: string;
  /**
   * @param what names the value in error messages and roots their paths ('payload' by default).
   * @throws PayloadEncodingError when the value holds something that is not data or nests too deep.
   */
  encode(value: unknown, what?: string): EncodedValue;
  /** @throws PayloadDecodingError for another format, corrupt text, an unknown type tag or too deep a nesting. */
  decode(encoded: EncodedValue, what?: string): unknown;
}

/**
 * JSON text with tagged objects (`{"$omniq":"Date","v":"2024-01-01T00:00:00.000Z"}`) for what JSON
 * cannot hold, so these round-trip exactly: primitives, plain objects, arrays, undefined, NaN,
 * ±Infinity, -0, BigInt, Date, Map (any keys), Set, Buffer and Uint8Array.
 *
 * - `undefined` is kept everywhere: a property set to undefined comes back as an own property set
 *   to undefined, and array holes come back as undefined elements.
 * - Values are trees: a shared reference is stored once per place it appears and decodes to
 *   separate copies; a circular reference is rejected.
 * - Only own enumerable string keys are stored (symbol keys and non-index array properties are not
 *   data); null-prototype objects come back with Object.prototype.
 * - Functions, symbols, class instances (Promise, WeakMap, subclasses of the supported types...)
 *   and invalid Dates are rejected with a PayloadEncodingError naming their path.
 * - Values nesting containers more than MAX_NESTING_DEPTH (1,000) levels deep are rejected: by
 *   encode with a PayloadEncodingError, by decode (stored by another writer) with a PayloadDecodingError.
 */
export class JsonCodec implements Codec {
  static readonly FORMAT = 'omniq-json/1';
  readonly format = JsonCodec.FORMAT;

  encode(value: unknown, what = 'payload'): EncodedValue {
    // The tree is never undefined (undefined is tagged), so stringify always yields text.
    return { format: this.format, data: JSON.stringify(toJsonTree(value, what)) };
  }

  decode(encoded: EncodedValue, what = 'payload'): unknown {
    if (encoded.format !== this.format) {
      throw new PayloadDecodingError(what, `unknown format '${encoded.format}'; this codec reads '${this.format}'`);
    }
    let tree: unknown;
    try {
      tree = JSON.parse(encoded.data) as unknown;
    } catch (error) {
      throw new PayloadDecodingError(what, `malformed JSON (${(error as Error).message})`);
    }
    return fromJsonTree(tree, what);
  }
}
