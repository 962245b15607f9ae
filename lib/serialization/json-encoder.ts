import { type EncodingFault, PayloadEncodingError } from '../errors/codec.errors.js';
import { TAG, type TaggedNode } from './json-tags.js';
import { PARENT_RESULT } from './parent-result.js';
import { MAX_NESTING_DEPTH } from './nesting-limit.js';

// Shared and frozen: these tags carry no per-value data, so encoding them allocates nothing.
const UNDEFINED: TaggedNode = Object.freeze({ [TAG]: 'undefined' });
const PARENT_RESULT_NODE: TaggedNode = Object.freeze({ [TAG]: 'ParentResult' });
const NAN: TaggedNode = Object.freeze({ [TAG]: 'Number', v: 'NaN' });
const INFINITY: TaggedNode = Object.freeze({ [TAG]: 'Number', v: 'Infinity' });
const NEGATIVE_INFINITY: TaggedNode = Object.freeze({ [TAG]: 'Number', v: '-Infinity' });
const NEGATIVE_ZERO: TaggedNode = Object.freeze({ [TAG]: 'Number', v: '-0' });

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;
/** A deeper path shows its first and last segments around the count of those left out. */
const PATH_END_SEGMENTS = 8;
/** A longer key is cut in the path: the message must stay readable whatever the keys. */
const PATH_KEY_CHARS = 40;

/** One step of a path, kept raw while the walk unwinds and formatted at the root. */
type Segment =
  | { readonly in: 'object'; readonly key: string }
  | { readonly in: 'array'; readonly index: number }
  | { readonly in: 'map-key'; readonly index: number }
  | { readonly in: 'map-value'; readonly key: unknown; readonly index: number }
  | { readonly in: 'set'; readonly index: number };

/**
 * Thrown inside the walk and turned into a PayloadEncodingError at the root. Each container on the
 * way up adds its segment, so the path is only built when something is wrong: the success path
 * formats no strings. Segments are formatted at the root only: formatting runs a regular
 * expression, and V8 may need memory to compile one, which must never happen deep in the walk.
 */
class Fault {
  readonly segments: Segment[] = [];
  constructor(readonly fault: EncodingFault) {}
}

/**
 * Turns a value into a tree JSON.stringify reproduces exactly, tagging what JSON cannot hold.
 * Throws PayloadEncodingError, naming the path below `what`, for anything that is not data or that
 * nests deeper than MAX_NESTING_DEPTH.
 */
export function toJsonTree(value: unknown, what: string): unknown {
  try {
    return encodeNode(value, []);
  } catch (error) {
    if (error instanceof Fault) throw new PayloadEncodingError(what, formatPath(error.segments.reverse()), error.fault);
    throw error;
  }
}

function formatPath(segments: readonly Segment[]): string {
  if (segments.length <= 2 * PATH_END_SEGMENTS) return segments.map(formatSegment).join('');
  const head = segments.slice(0, PATH_END_SEGMENTS).map(formatSegment).join('');
  const tail = segments.slice(-PATH_END_SEGMENTS).map(formatSegment).join('');
  return `${head}…(${segments.length - 2 * PATH_END_SEGMENTS} levels)…${tail}`;
}

function formatSegment(segment: Segment): string {
  switch (segment.in) {
    case 'object': {
      const key = segment.key;
      if (key.length > PATH_KEY_CHARS) return `[${JSON.stringify(key.slice(0, PATH_KEY_CHARS))}…]`;
      return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    }
    case 'array':
      return `[${segment.index}]`;
    case 'map-key':
      return `.keys()[${segment.index}]`;
    case 'map-value':
      return mapValueSegment(segment.key, segment.index);
    case 'set':
      return `.values()[${segment.index}]`;
  }
}

/** `ancestors` holds the containers above the node: a small array beats a Set at usual depths. */
function encodeNode(value: unknown, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return encodeNumber(value);
    case 'undefined':
      return UNDEFINED;
    case 'bigint':
      return { [TAG]: 'BigInt', v: value.toString() };
    case 'function':
      throw new Fault({ kind: 'function' });
    case 'symbol':
      throw new Fault({ kind: 'symbol' });
    case 'object':
      return value === null ? null : encodeObject(value, ancestors);
  }
}

function encodeNumber(n: number): unknown {
  if (Number.isFinite(n)) return n === 0 && 1 / n < 0 ? NEGATIVE_ZERO : n;
  if (n !== n) return NAN;
  return n > 0 ? INFINITY : NEGATIVE_INFINITY;
}

// Exact prototype checks rather than instanceof: a subclass could carry state or behaviour the
// decoder would not restore, so it is rejected like any other class instance.
function encodeObject(value: object, ancestors: object[]): unknown {
  if (value === PARENT_RESULT) return PARENT_RESULT_NODE;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) return encodePlain(value as Record<string, unknown>, ancestors);
  if (proto === Array.prototype) return encodeArray(value as unknown[], ancestors);
  if (proto === Date.prototype) return encodeDate(value as Date);
  if (proto === Map.prototype) return encodeMap(value as Map<unknown, unknown>, ancestors);
  if (proto === Set.prototype) return encodeSet(value as Set<unknown>, ancestors);
  if (proto === Buffer.prototype) return { [TAG]: 'Buffer', v: (value as Buffer).toString('base64') };
  if (proto === Uint8Array.prototype) {
    const bytes = value as Uint8Array;
    return { [TAG]: 'Uint8Array', v: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
  }
  throw new Fault({ kind: 'instance', className: className(proto) });
}

/** Steps into a container: the depth check costs one comparison per container, not per value. */
function enter(container: object, ancestors: object[]): void {
  if (ancestors.includes(container)) throw new Fault({ kind: 'circular' });
  if (ancestors.length >= MAX_NESTING_DEPTH) throw new Fault({ kind: 'too-deep', limit: MAX_NESTING_DEPTH });
  ancestors.push(container);
}

function encodePlain(obj: Record<string, unknown>, ancestors: object[]): unknown {
  enter(obj, ancestors);
  const out: Record<string, unknown> = {};
  const keys = Object.keys(obj);
  let escaped = false;
  let i = 0;
  try {
    for (; i < keys.length; i++) {
      const key = keys[i];
      const encoded = encodeNode(obj[key], ancestors);
      if (key === '__proto__') {
        // Plain assignment would set the copy's prototype instead of creating the property.
        Object.defineProperty(out, key, { value: encoded, enumerable: true, writable: true, configurable: true });
      } else {
        out[key] = encoded;
        if (key === TAG) escaped = true;
      }
    }
  } catch (error) {
    throw withSegment(error, { in: 'object', key: keys[i] });
  }
  ancestors.pop();
  return escaped ? { [TAG]: 'Object', v: out } : out;
}

/** Holes become undefined; non-index properties are not data and are dropped, as JSON does. */
function encodeArray(arr: unknown[], ancestors: object[]): unknown[] {
  enter(arr, ancestors);
  const out: unknown[] = [];
  let i = 0;
  try {
    for (; i < arr.length; i++) out.push(encodeNode(arr[i], ancestors));
  } catch (error) {
    throw withSegment(error, { in: 'array', index: i });
  }
  ancestors.pop();
  return out;
}

function encodeDate(date: Date): TaggedNode {
  if (Number.isNaN(date.getTime())) throw new Fault({ kind: 'invalid-date' });
  return { [TAG]: 'Date', v: date.toISOString() };
}

/** Entries are flattened to [key0, value0, key1, value1, ...]: one array instead of one per entry. */
function encodeMap(map: Map<unknown, unknown>, ancestors: object[]): TaggedNode {
  enter(map, ancestors);
  const flat: unknown[] = [];
  let i = 0;
  let key: unknown;
  let inKey = true;
  try {
    for (const [k, v] of map) {
      key = k;
      inKey = true;
      flat.push(encodeNode(k, ancestors));
      inKey = false;
      flat.push(encodeNode(v, ancestors));
      i++;
    }
  } catch (error) {
    throw withSegment(error, inKey ? { in: 'map-key', index: i } : { in: 'map-value', key, index: i });
  }
  ancestors.pop();
  return { [TAG]: 'Map', v: flat };
}

function encodeSet(set: Set<unknown>, ancestors: object[]): TaggedNode {
  enter(set, ancestors);
  const items: unknown[] = [];
  try {
    for (const item of set) items.push(encodeNode(item, ancestors));
  } catch (error) {
    throw withSegment(error, { in: 'set', index: items.length });
  }
  ancestors.pop();
  return { [TAG]: 'Set', v: items };
}

function withSegment(error: unknown, segment: Segment): unknown {
  if (error instanceof Fault) error.segments.push(segment);
  return error;
}

/** `.get("id")` reads best for the usual primitive keys; object keys are located by position. */
function mapValueSegment(key: unknown, index: number): string {
  switch (typeof key) {
    case 'string':
      return key.length > PATH_KEY_CHARS ? `.get(${JSON.stringify(key.slice(0, PATH_KEY_CHARS))}…)` : `.get(${JSON.stringify(key)})`;
    case 'bigint':
      return `.get(${key}n)`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return `.get(${String(key)})`;
    default:
      return key === null ? '.get(null)' : `.values()[${index}]`;
  }
}

function className(proto: unknown): string {
  const ctor: unknown = (proto as { constructor?: unknown }).constructor;
  return typeof ctor === 'function' && ctor.name ? ctor.name : 'an anonymous class';
}
