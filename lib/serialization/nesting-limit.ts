/**
 * How deep a payload or result may nest: objects, arrays, Maps and Sets inside one another, the
 * outermost counting as level 1. Deeper values are rejected by the codec both ways, so that walking
 * them can never exhaust the stack: a stack overflow inside the walk is not a clean error in V8
 * (work done while it unwinds, such as running a regular expression, can abort the process).
 */
export const MAX_NESTING_DEPTH = 1_000;
