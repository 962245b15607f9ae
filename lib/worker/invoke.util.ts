/** Calls a handler that may be sync or async, turning a synchronous throw into a rejection. */
export function invoke<T>(fn: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}
