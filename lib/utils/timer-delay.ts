/** The longest delay Node's timers honour: a longer one (or NaN) fires after 1 ms, with a warning. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A delay every timer can take: negative and NaN become 0, anything longer than MAX_TIMER_MS
 * becomes MAX_TIMER_MS. A caller that sleeps until a time far away wakes early and sleeps again.
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return ms > MAX_TIMER_MS ? MAX_TIMER_MS : ms;
}
