import { type EncodingFault, PayloadEncodingError } from '../errors/codec.errors.js';
import { TAG, type TaggedNode } from './json-tags.js';
import { PARENT_RESULT } from './parent-result.js';

// Shared and frozen: these tags carry no per-value data, so encoding them allocates nothing.
const UNDEFINED: TaggedNode = Object.freeze({ [TAG]: 'undefined' });
const PARENT_RESULT_NODE: TaggedNode = Object.freeze({ [TAG]: 'ParentResult' });
const NAN: TaggedNode = Object.freeze({ [TAG]: 'Number', v: 'NaN' });
const INFINITY: TaggedNode = Object.freeze({ [TAG]: 'Number', v: 'Infinity' });
const NEGATIVE_INFINITY: TaggedNode = Object.freeze({ [TAG]: 'Number', v: '-Infinity' });
const NEGATIVE_ZERO: TaggedNode = Object.freeze({ [TAG]: 'Number', v: '-0' });

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Thrown inside the walk and turned into a PayloadEncodingError at the root. Each container on the
 * way up adds its segment, so the path is only built when something is wrong: the success path
 * formats no strings.
 */
class Fault {
  readonly segments: string[] = [];
  constructor(readonly fault: EncodingFault) {}
}

/**
 * Turns a value into a tree JSON.stringify reproduces exactly, tagging what JSON cannot hold.
 * Throws PayloadEncodingError, naming the path below `what`, for anything that is not data.
 */
export function toJsonTree(value: unknown, what: string): unknown {
  try {
    return encodeNode(value, []);
  } catch (error) {
    if (error instanceof Fault) {
      throw new PayloadEncodingError(what, error.segments.reverse().join(''), error.fault);
    }
    throw error;
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
  if (ancestors.includes(value)) throw new Fault({ kind: 'circular' });
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

function encodePlain(obj: Record<string, unknown>, ancestors: object[]): unknown {
  ancestors.push(obj);
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
    throw withSegment(error, IDENTIFIER.test(keys[i]) ? `.${keys[i]}` : `[${JSON.stringify(keys[i])}]`);
  }
  ancestors.pop();
  return escaped ? { [TAG]: 'Object', v: out } : out;
}

/** Holes become undefined; non-index properties are not data and are dropped, as JSON does. */
function encodeArray(arr: unknown[], ancestors: object[]): unknown[] {
  ancestors.push(arr);
  const out: unknown[] = [];
  let i = 0;
  try {
    for (; i < arr.length; i++) out.push(encodeNode(arr[i], ancestors));
  } catch (error) {
    throw withSegment(error, `[${i}]`);
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
  ancestors.push(map);
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
    throw withSegment(error, inKey ? `.keys()[${i}]` : mapValueSegment(key, i));
  }
  ancestors.pop();
  return { [TAG]: 'Map', v: flat };
}

function encodeSet(set: Set<unknown>, ancestors: object[]): TaggedNode {
  ancestors.push(set);
  const items: unknown[] = [];
  try {
    for (const item of set) items.push(encodeNode(item, ancestors));
  } catch (error) {
    throw withSegment(error, `.values()[${items.length}]`);
  }
  ancestors.pop();
  return { [TAG]: 'Set', v: items };
}

function withSegment(error: unknown, segment: string): unknown {
  if (error instanceof Fault) error.segments.push(segment);
  return error;
}

/** `.get("id")` reads best for the usual primitive keys; object keys are located by position. */
function mapValueSegment(key: unknown, index: number): string {
  switch (typeof key) {
    case 'string':
      return `.get(${JSON.stringify(key)})`;
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
