import type { TaskEvent } from '../../models/event.model.js';
import type { EventQuery } from '../../storage/event.store.js';

/** Whether an event matches a query's filters and bounds. */
export function eventMatcher(query: EventQuery): (event: TaskEvent) => boolean {
  const since = query.since?.getTime() ?? Number.NEGATIVE_INFINITY;
  const until = query.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const types = query.types && new Set<string>(query.types);
  return (event) =>
    event.timestamp.getTime() >= since &&
    event.timestamp.getTime() < until &&
    (query.taskId === undefined || event.taskId === query.taskId) &&
    (query.scheduleId === undefined || event.scheduleId === query.scheduleId) &&
    (query.queue === undefined || event.queue === query.queue) &&
    (types === undefined || types.has(event.type));
}
