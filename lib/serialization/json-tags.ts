/**
 * The JSON tree written by JsonCodec. Values JSON cannot represent become tagged objects
 * `{ "$omniq": <type>, "v": <data> }`; a user object that itself owns a `$omniq` key is wrapped
 * in an `Object` tag so the decoder never mistakes it for one of ours.
 */
export const TAG = '$omniq';

/**
 * - `Number`: NaN, Infinity, -Infinity and -0, which JSON turns into null or 0.
 * - `Object`: an escaped user object owning a `$omniq` key; `v` holds its properties as they are.
 * - `undefined` and `ParentResult` (the PARENT_RESULT placeholder) have no `v`.
 */
export type TagType =
  | 'undefined'
  | 'Number'
  | 'BigInt'
  | 'Date'
  | 'Map'
  | 'Set'
  | 'Buffer'
  | 'Uint8Array'
  | 'Object'
  | 'ParentResult';

export interface TaggedNode {
  readonly [TAG]: TagType;
  readonly v?: unknown;
}
