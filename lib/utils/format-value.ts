import { inspect } from 'node:util';

/** Messages quote at most this much of a value: a hostile one must not make them unreadable. */
const MAX_CHARS = 200;

/**
 * A value as error messages quote it: strings in quotes, Dates as ISO text, numbers, undefined,
 * functions and symbols as JavaScript writes them (NaN, -Infinity, -0, undefined,
 * `function send`, `Symbol(id)`), objects and arrays as JSON when JSON shows them as they are,
 * else as Node's inspect writes them (`{ priority: NaN }` rather than `{"priority":null}`).
 * Cut after MAX_CHARS characters.
 */
export function formatValue(value: unknown): string {
  const text = describe(value);
  return text.length > MAX_CHARS ? `${text.slice(0, MAX_CHARS)}…` : text;
}

function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > MAX_CHARS ? value.slice(0, MAX_CHARS) : value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
    case 'boolean':
      return String(value);
    case 'symbol':
      return value.toString();
    case 'function':
      return value.name ? `function ${value.name}` : 'an anonymous function';
    case 'object':
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
      return faithfulJson(value) ?? inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 20, maxStringLength: MAX_CHARS });
  }
}

/**
 * JSON text of a value, unless JSON would drop or change part of it: NaN as null, a function left
 * out, a Map as `{}`. Dates reach the replacer as their ISO text already.
 */
function faithfulJson(value: object | null): string | undefined {
  let faithful = true;
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      if (!isJson(v)) faithful = false;
      return typeof v === 'bigint' ? null : v;
    });
    return faithful ? text : undefined;
  } catch {
    // Circular, too deep, or a throwing toJSON: inspect shows what it can.
    return undefined;
  }
}

function isJson(v: unknown): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v) && !Object.is(v, -0);
    case 'object': {
      if (v === null || Array.isArray(v)) return true;
      const proto: unknown = Object.getPrototypeOf(v);
      return proto === Object.prototype || proto === null;
    }
    default:
      return false;
  }
}
