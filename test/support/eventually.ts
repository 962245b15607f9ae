import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Re-checks a condition that another process makes true (no in-process event can announce it)
 * until it holds or `timeoutMs` passes.
 */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}
