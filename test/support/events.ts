import { filter, firstValueFrom, take, toArray } from 'rxjs';
import type { OmniQService, TaskEvent } from '../../lib/index.js';

/** Resolves with the next `count` recorded events that match `accept` (subscribe before causing them). */
export function nextEvents(omniq: OmniQService, count: number, accept: (event: TaskEvent) => boolean): Promise<TaskEvent[]> {
  return firstValueFrom(omniq.events$.pipe(filter(accept), take(count), toArray()));
}
