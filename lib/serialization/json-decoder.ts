import { PayloadDecodingError } from '../errors/codec.errors.js';
import { PARENT_RESULT } from './parent-result.js';
import { TAG, type TaggedNode } from './json-tags.js';
import { MAX_NESTING_DEPTH } from './nesting-limit.js';

const INTEGER = /^-?\d+$/;

/**
 * Rebuilds a value from a tree fresh out of JSON.parse. The tree is ours alone, so arrays and
 * objects are reused in place rather than copied. Nothing stored is ever evaluated: tags only
 * select one of a fixed set of constructors fed with checked strings and arrays. A tree nesting
 * containers deeper than MAX_NESTING_DEPTH (which the encoder never writes) is rejected before the
 * walk can exhaust the stack.
 */
export function fromJsonTree(node: unknown, what: string): unknown {
  return decodeNode(node, what, 0);
}

/** `depth`: how many containers (objects, arrays, Maps, Sets) of the value hold the node. */
function decodeNode(node: unknown, what: string, depth: number): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) {
    if (depth >= MAX_NESTING_DEPTH) throw tooDeep(what);
    for (let i = 0; i < node.length; i++) node[i] = decodeNode(node[i], what, depth + 1);
    return node;
  }
  if (Object.hasOwn(node, TAG)) return decodeTagged(node as TaggedNode, what, depth);
  return decodeProperties(node as Record<string, unknown>, what, depth);
}

function decodeProperties(obj: Record<string, unknown>, what: string, depth: number): Record<string, unknown> {
  if (depth >= MAX_NESTING_DEPTH) throw tooDeep(what);
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    // JSON.parse made every key an own data property (`__proto__` included), so assignment
    // replaces the value and never reaches a setter.
    if (typeof value === 'object' && value !== null) obj[key] = decodeNode(value, what, depth + 1);
  }
  return obj;
}

function decodeTagged(node: TaggedNode, what: string, depth: number): unknown {
  const { v } = node;
  switch (node[TAG]) {
    case 'undefined':
      return undefined;
    case 'ParentResult':
      return PARENT_RESULT;
    case 'Number':
      return decodeNumber(v, what);
    case 'BigInt':
      if (typeof v !== 'string' || !INTEGER.test(v)) throw malformed('BigInt', what);
      return BigInt(v);
    case 'Date': {
      const date = typeof v === 'string' ? new Date(v) : undefined;
      if (date === undefined || Number.isNaN(date.getTime())) throw malformed('Date', what);
      return date;
    }
    case 'Map': {
      if (!Array.isArray(v) || v.length % 2 !== 0) throw malformed('Map', what);
      if (depth >= MAX_NESTING_DEPTH) throw tooDeep(what);
      const map = new Map<unknown, unknown>();
      for (let i = 0; i < v.length; i += 2) map.set(decodeNode(v[i], what, depth + 1), decodeNode(v[i + 1], what, depth + 1));
      return map;
    }
    case 'Set': {
      if (!Array.isArray(v)) throw malformed('Set', what);
      if (depth >= MAX_NESTING_DEPTH) throw tooDeep(what);
      const set = new Set<unknown>();
      for (const item of v) set.add(decodeNode(item, what, depth + 1));
      return set;
    }
    case 'Buffer':
      if (typeof v !== 'string') throw malformed('Buffer', what);
      return Buffer.from(v, 'base64');
    case 'Uint8Array':
      if (typeof v !== 'string') throw malformed('Uint8Array', what);
      // Copied out of the Buffer: small Buffers are views into a shared pool, and the caller's
      // Uint8Array must not expose that pool through its `.buffer`.
      return new Uint8Array(Buffer.from(v, 'base64'));
    case 'Object':
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed('Object', what);
      return decodeProperties(v as Record<string, unknown>, what, depth);
    default:
      throw new PayloadDecodingError(
        what,
        `unknown type tag ${JSON.stringify(node[TAG])}; it was written by another or newer codec`,
      );
  }
}

function decodeNumber(v: unknown, what: string): number {
  switch (v) {
    case 'NaN':
      return NaN;
    case 'Infinity':
      return Infinity;
    case '-Infinity':
      return -Infinity;
    case '-0':
      return -0;
    default:
      throw malformed('Number', what);
  }
}

function tooDeep(what: string): PayloadDecodingError {
  return new PayloadDecodingError(
    what,
    `nested more than ${MAX_NESTING_DEPTH} levels deep (objects, arrays, Maps and Sets inside one another), which this codec never writes: the data was written by something else`,
  );
}

function malformed(type: string, what: string): PayloadDecodingError {
  return new PayloadDecodingError(what, `malformed ${type} value`);
}
