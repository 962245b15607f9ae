/**
 * A payload or result as the stores keep it: text produced by the codec plus the tag of the
 * format that produced it, so the encoding can change without breaking stored data.
 */
export interface EncodedValue {
  readonly format: string;
  readonly data: string;
}
