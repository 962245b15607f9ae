/** A one-line description of anything thrown, for logs; never throws itself (unlike `String()` on a null-prototype object). */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : Object.prototype.toString.call(error);
}
