import { JsonCodec, MAX_NESTING_DEPTH, PARENT_RESULT, type Codec } from '../../lib/serialization/index.js';
import { PayloadDecodingError, PayloadEncodingError } from '../../lib/errors/codec.errors.js';

const codec: Codec = new JsonCodec();
const roundTrip = (value: unknown): unknown => codec.decode(codec.encode(value));

function encodingError(value: unknown, what?: string): PayloadEncodingError {
  try {
    codec.encode(value, what);
  } catch (error) {
    expect(error).toBeInstanceOf(PayloadEncodingError);
    return error as PayloadEncodingError;
  }
  throw new Error('expected encode to throw');
}

function decodingError(format: string, data: string, what?: string): PayloadDecodingError {
  try {
    codec.decode({ format, data }, what);
  } catch (error) {
    expect(error).toBeInstanceOf(PayloadDecodingError);
    return error as PayloadDecodingError;
  }
  throw new Error('expected decode to throw');
}

const tagged = (type: string, v?: unknown): string => JSON.stringify({ $omniq: type, v });

class Foo {
  x = 1;
}

describe('JsonCodec format', () => {
  it('tags stored values with omniq-json/1', () => {
    expect(codec.format).toBe('omniq-json/1');
    expect(codec.encode({ a: 1 }).format).toBe('omniq-json/1');
  });

  it('stores valid JSON text, plain data unchanged and special values as tagged objects', () => {
    const value = {
      s: 'x',
      n: 1.5,
      list: [true, null],
      at: new Date('2024-05-06T07:08:09.010Z'),
      big: 12n,
      missing: undefined,
      nan: NaN,
    };
    const { data } = codec.encode(value);
    expect(typeof data).toBe('string');
    expect(JSON.parse(data)).toEqual({
      s: 'x',
      n: 1.5,
      list: [true, null],
      at: { $omniq: 'Date', v: '2024-05-06T07:08:09.010Z' },
      big: { $omniq: 'BigInt', v: '12' },
      missing: { $omniq: 'undefined' },
      nan: { $omniq: 'Number', v: 'NaN' },
    });
  });

  it('stores valid JSON text for every supported type', () => {
    const values: unknown[] = [
      undefined,
      'a "quoted" \u2028 string',
      -0,
      new Map([[{ k: 1 }, new Set([1n])]]),
      Buffer.from('hi'),
      new Uint8Array([1, 2]),
    ];
    for (const value of values) expect(() => JSON.parse(codec.encode(value).data) as unknown).not.toThrow();
  });
});

describe('JsonCodec round trip: JSON data', () => {
  it.each([
    ['a string', 'hello'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a float', -3.25],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an empty object', {}],
    ['an empty array', []],
    ['a nested structure', { user: { id: 'u1', roles: ['a', 'b'], profile: { age: 30, tags: [[1], [2, { x: null }]] } } }],
  ])('%s', (_label, value) => {
    expect(roundTrip(value)).toEqual(value);
  });

  it('keeps key order', () => {
    expect(Object.keys(roundTrip({ b: 1, a: 2, c: 3 }) as object)).toEqual(['b', 'a', 'c']);
  });

  it('keeps an own __proto__ key as data without touching the prototype', () => {
    const value = JSON.parse('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    const decoded = roundTrip(value) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(decoded)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes a null-prototype object to an ordinary object with the same properties', () => {
    const value = Object.assign(Object.create(null) as object, { a: 1 });
    const decoded = roundTrip(value);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded).toEqual({ a: 1 });
  });

  it('stores a shared reference once per place and decodes separate copies', () => {
    const shared = { n: 1 };
    const decoded = roundTrip({ a: shared, b: shared }) as { a: object; b: object };
    expect(decoded).toEqual({ a: { n: 1 }, b: { n: 1 } });
    expect(decoded.a).not.toBe(decoded.b);
  });
});

describe('JsonCodec round trip: undefined', () => {
  it('round-trips a top-level undefined', () => {
    expect(roundTrip(undefined)).toBeUndefined();
  });

  it('keeps an object property set to undefined as an own property', () => {
    const decoded = roundTrip({ a: undefined, b: 1 }) as Record<string, unknown>;
    expect(Object.keys(decoded)).toEqual(['a', 'b']);
    expect(decoded.a).toBeUndefined();
  });

  it('keeps undefined array elements and turns holes into undefined', () => {
    const decoded = roundTrip([undefined, , 1]) as unknown[];
    expect(decoded).toHaveLength(3);
    expect(0 in decoded && 1 in decoded).toBe(true);
    expect(decoded).toEqual([undefined, undefined, 1]);
  });
});

describe('JsonCodec round trip: numbers JSON would lose', () => {
  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['-0', -0],
    ['0', 0],
    ['MAX_VALUE', Number.MAX_VALUE],
    ['MIN_VALUE', Number.MIN_VALUE],
  ])('%s', (_label, value) => {
    expect(Object.is(roundTrip(value), value)).toBe(true);
    expect(Object.is((roundTrip({ nested: [value] }) as { nested: number[] }).nested[0], value)).toBe(true);
  });

  it('round-trips BigInt of any size and sign', () => {
    for (const value of [0n, -1n, 2n ** 100n, -(3n ** 80n)]) expect(roundTrip(value)).toBe(value);
  });
});

describe('JsonCodec round trip: Date', () => {
  it('round-trips a Date to an equal Date', () => {
    const date = new Date('2024-02-29T23:59:59.999Z');
    const decoded = roundTrip({ at: date }) as { at: Date };
    expect(decoded.at).toBeInstanceOf(Date);
    expect(decoded.at.getTime()).toBe(date.getTime());
  });

  it('round-trips dates outside four-digit years', () => {
    for (const time of [8.64e15, -8.64e15, -1]) expect((roundTrip(new Date(time)) as Date).getTime()).toBe(time);
  });
});

describe('JsonCodec round trip: Map and Set', () => {
  it('round-trips a Map with keys of any type, keeping order', () => {
    const objectKey = { id: 1 };
    const map = new Map<unknown, unknown>([
      ['s', 1],
      [2, 'two'],
      [objectKey, [1]],
      [null, undefined],
      [undefined, null],
      [NaN, 'nan'],
      [5n, new Date(0)],
      [true, false],
    ]);
    const decoded = roundTrip(map) as Map<unknown, unknown>;
    expect(decoded).toBeInstanceOf(Map);
    expect([...decoded.entries()]).toEqual([...map.entries()]);
    expect(decoded.get(NaN)).toBe('nan');
    expect(decoded.get(5n)).toEqual(new Date(0));
  });

  it('round-trips a Set, keeping order', () => {
    const decoded = roundTrip(new Set(['b', 1, { a: 1 }, null, undefined])) as Set<unknown>;
    expect(decoded).toBeInstanceOf(Set);
    expect([...decoded]).toEqual(['b', 1, { a: 1 }, null, undefined]);
  });

  it('round-trips a Map nested in a Set nested in an array', () => {
    const value = [new Set([new Map<unknown, unknown>([[new Set([1]), new Map([['k', Buffer.from('v')]])]])])];
    const decoded = roundTrip(value) as [Set<Map<Set<number>, Map<string, Buffer>>>];
    expect(decoded).toEqual(value);
    const [inner] = [...decoded[0]];
    expect(inner).toBeInstanceOf(Map);
    const [[key, nested]] = [...inner];
    expect(key).toBeInstanceOf(Set);
    expect(Buffer.isBuffer(nested.get('k'))).toBe(true);
  });
});

describe('JsonCodec round trip: binary', () => {
  it('decodes a Buffer to a Buffer with the same bytes', () => {
    const buffer = Buffer.from([0, 1, 254, 255]);
    const decoded = roundTrip({ b: buffer }) as { b: Buffer };
    expect(Buffer.isBuffer(decoded.b)).toBe(true);
    expect([...decoded.b]).toEqual([0, 1, 254, 255]);
  });

  it('decodes a Uint8Array to a Uint8Array, not a Buffer', () => {
    const decoded = roundTrip(new Uint8Array([7, 8, 9])) as Uint8Array;
    expect(decoded).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(decoded)).toBe(false);
    expect([...decoded]).toEqual([7, 8, 9]);
  });

  it('stores only the bytes a view covers', () => {
    const view = new Uint8Array(new Uint8Array([1, 2, 3, 4, 5]).buffer, 1, 3);
    expect([...(roundTrip(view) as Uint8Array)]).toEqual([2, 3, 4]);
    expect([...(roundTrip(Buffer.from([9, 8, 7]).subarray(1)) as Buffer)]).toEqual([8, 7]);
  });

  it('round-trips empty binaries', () => {
    expect((roundTrip(Buffer.alloc(0)) as Buffer).length).toBe(0);
    expect((roundTrip(new Uint8Array(0)) as Uint8Array).length).toBe(0);
  });
});

describe('JsonCodec escaping of $omniq keys', () => {
  it.each([
    ['a tag lookalike', { $omniq: 'Date', v: 'not a date' }],
    ['an unknown tag lookalike', { $omniq: 'Evil', v: 1 }],
    ['an escape lookalike', { $omniq: 'Object', v: { $omniq: 'undefined' } }],
    ['a non-string tag', { $omniq: 42, other: [1] }],
    ['a lone key', { $omniq: undefined }],
  ])('round-trips %s unchanged', (_label, value) => {
    const decoded = roundTrip({ inner: value, list: [value] });
    expect(decoded).toEqual({ inner: value, list: [value] });
    expect(Object.keys((decoded as { inner: object }).inner)).toEqual(Object.keys(value));
  });

  it('stores a user object owning $omniq inside an Object tag', () => {
    expect(JSON.parse(codec.encode({ $omniq: 'Date', v: 'x' }).data)).toEqual({
      $omniq: 'Object',
      v: { $omniq: 'Date', v: 'x' },
    });
  });

  it('leaves objects with other $-keys alone', () => {
    expect(JSON.parse(codec.encode({ $type: 'x' }).data)).toEqual({ $type: 'x' });
  });
});

describe('JsonCodec encode rejections', () => {
  it('rejects a function, naming its path', () => {
    const error = encodingError({ user: { callback: () => 1 } });
    expect(error.message).toBe('payload.user.callback is a function; only data can be stored');
    expect(error.path).toBe('payload.user.callback');
    expect(error.fault).toEqual({ kind: 'function' });
    expect(error.name).toBe('PayloadEncodingError');
  });

  it('rejects a symbol, naming its path', () => {
    expect(encodingError({ list: [1, Symbol('s')] }).message).toBe(
      'payload.list[1] is a symbol; only data can be stored',
    );
  });

  it('roots the path at the given label', () => {
    expect(encodingError({ f() {} }, 'result').message).toBe('result.f is a function; only data can be stored');
    expect(encodingError(() => 1).path).toBe('payload');
  });

  it('quotes keys that are not identifiers', () => {
    expect(encodingError({ 'a-b': { 'my key': () => 1 } }).path).toBe('payload["a-b"]["my key"]');
  });

  it('rejects a circular reference, naming where it closes', () => {
    const a: Record<string, unknown> = {};
    a.b = { c: a };
    const error = encodingError({ a });
    expect(error.message).toMatch(/^circular reference at payload\.a\.b\.c\b/);
    expect(error.fault).toEqual({ kind: 'circular' });
  });

  it('rejects cycles through arrays, Maps and Sets', () => {
    const list: unknown[] = [];
    list.push(list);
    expect(encodingError(list).path).toBe('payload[0]');
    const map = new Map<string, unknown>();
    map.set('self', map);
    expect(encodingError(map).path).toBe('payload.get("self")');
    const set = new Set<unknown>();
    set.add(1).add(set);
    expect(encodingError({ set }).path).toBe('payload.set.values()[1]');
  });

  it('rejects a class instance, naming the class', () => {
    const error = encodingError({ x: new Foo() });
    expect(error.message).toBe(
      'payload.x is an instance of Foo; only plain objects, arrays, primitives, Date, Map, Set, Buffer and Uint8Array can be stored',
    );
    expect(error.fault).toEqual({ kind: 'instance', className: 'Foo' });
  });

  it.each([
    ['WeakMap', new WeakMap()],
    ['WeakSet', new WeakSet()],
    ['RegExp', /x/],
    ['Int32Array', new Int32Array(1)],
    ['Map subclass', new (class Registry extends Map {})()],
  ])('rejects %s', (_label, value) => {
    const error = encodingError({ v: value });
    expect(error.path).toBe('payload.v');
    expect(error.message).toMatch(/^payload\.v is an instance of \w+; only plain objects/);
  });

  it('names an anonymous class as such', () => {
    const instance = new (class {})();
    expect(encodingError([instance]).message).toMatch(/^payload\[0\] is an instance of an anonymous class;/);
  });

  it('rejects a Promise, suggesting to await it', () => {
    expect(encodingError({ p: Promise.resolve(1) }).message).toBe(
      'payload.p is a Promise; await it before storing the value it resolves to',
    );
  });

  it('rejects an invalid Date', () => {
    const error = encodingError({ when: new Date('nope') });
    expect(error.message).toBe('payload.when is an invalid Date; it has no time to store');
    expect(error.fault).toEqual({ kind: 'invalid-date' });
  });

  it('names paths through Map keys, Map values and Set items', () => {
    expect(encodingError(new Map([['k', () => 1]])).path).toBe('payload.get("k")');
    expect(encodingError(new Map([[7, () => 1]])).path).toBe('payload.get(7)');
    expect(encodingError(new Map<unknown, unknown>([[{ id: 1 }, 1], [{ id: 2 }, () => 1]])).path).toBe('payload.values()[1]');
    expect(encodingError(new Map<unknown, unknown>([['ok', 1], [() => 1, 2]])).path).toBe('payload.keys()[1]');
    expect(encodingError({ s: new Set([1, 2, Symbol()]) }).path).toBe('payload.s.values()[2]');
  });

  it('lets an error thrown by a getter through unchanged', () => {
    const boom = new Error('boom');
    const value = {
      get x(): never {
        throw boom;
      },
    };
    expect(() => codec.encode(value)).toThrow(boom);
  });
});

describe('JsonCodec decode errors', () => {
  it('rejects an unknown format', () => {
    const error = decodingError('msgpack/1', '{}');
    expect(error.message).toBe("cannot decode stored payload: unknown format 'msgpack/1'; this codec reads 'omniq-json/1'");
    expect(error.name).toBe('PayloadDecodingError');
  });

  it('rejects malformed JSON, naming the value', () => {
    const error = decodingError('omniq-json/1', '{"a":', 'result');
    expect(error.message).toMatch(/^cannot decode stored result: malformed JSON \(/);
    expect(error.what).toBe('result');
  });

  it('rejects an unknown type tag', () => {
    expect(decodingError('omniq-json/1', JSON.stringify({ a: [{ $omniq: 'Function', v: 'return 1' }] })).message).toBe(
      'cannot decode stored payload: unknown type tag "Function"; it was written by another or newer codec',
    );
  });

  it.each([
    ['Number', tagged('Number', '1')],
    ['BigInt', tagged('BigInt', '0x10')],
    ['BigInt', tagged('BigInt', 5)],
    ['Date', tagged('Date', 'garbage')],
    ['Map', tagged('Map', [1])],
    ['Set', tagged('Set', {})],
    ['Buffer', tagged('Buffer', [1])],
    ['Uint8Array', tagged('Uint8Array')],
    ['Object', tagged('Object', [1])],
  ])('rejects a malformed %s tag', (type, data) => {
    expect(decodingError('omniq-json/1', data).message).toBe(`cannot decode stored payload: malformed ${type} value`);
  });

  it('never evaluates stored data', () => {
    const g = globalThis as { hacked?: boolean };
    const data = JSON.stringify({ $omniq: 'Object', v: { code: 'globalThis.hacked = true', $omniq: 'eval' } });
    expect(roundTrip({ $omniq: 'eval', code: 'globalThis.hacked = true' })).toEqual({
      $omniq: 'eval',
      code: 'globalThis.hacked = true',
    });
    expect(codec.decode({ format: 'omniq-json/1', data })).toEqual({ code: 'globalThis.hacked = true', $omniq: 'eval' });
    expect(g.hacked).toBeUndefined();
  });
});

/** `levels` containers nested in one another: objects under `a`, or arrays, Maps and Sets in turn. */
function nested(levels: number, kind: 'objects' | 'mixed' = 'objects'): unknown {
  let value: unknown = 'leaf';
  for (let level = levels; level >= 1; level--) {
    if (kind === 'objects') value = { a: value };
    else value = level % 3 === 0 ? [value] : level % 3 === 1 ? new Map([['k', value]]) : new Set([value]);
  }
  return value;
}

describe('JsonCodec nesting limit', () => {
  it(`round-trips values nested ${MAX_NESTING_DEPTH} levels deep, tagged leaves included`, () => {
    expect(roundTrip(nested(MAX_NESTING_DEPTH))).toEqual(nested(MAX_NESTING_DEPTH));
    expect(roundTrip(nested(MAX_NESTING_DEPTH, 'mixed'))).toEqual(nested(MAX_NESTING_DEPTH, 'mixed'));
    let innermost: unknown = [undefined, NaN, 1n, new Date(0)];
    for (let level = 1; level < MAX_NESTING_DEPTH; level++) innermost = [innermost];
    expect(roundTrip(innermost)).toEqual(innermost);
  });

  it.each([MAX_NESTING_DEPTH + 1, 2_500, 100_000])('rejects %i levels with the depth in the message and a short path', (levels) => {
    const error = encodingError(nested(levels), 'result');
    expect(error.fault).toEqual({ kind: 'too-deep', limit: MAX_NESTING_DEPTH });
    expect(error.message).toContain(`nested more than ${MAX_NESTING_DEPTH} levels deep`);
    expect(error.path).toBe(`result${'.a'.repeat(8)}…(${MAX_NESTING_DEPTH - 16} levels)…${'.a'.repeat(8)}`);
  });

  it('counts arrays, Maps and Sets as levels', () => {
    expect(encodingError(nested(MAX_NESTING_DEPTH + 1, 'mixed')).fault.kind).toBe('too-deep');
  });

  it('reports a cycle as circular, not as too deep', () => {
    const ring: Record<string, unknown> = {};
    let node = ring;
    for (let i = 1; i < 10; i++) node = (node.next = {}) as Record<string, unknown>;
    node.next = ring;
    expect(encodingError(ring).fault.kind).toBe('circular');
  });

  it('cuts long keys in a path', () => {
    const key = 'k'.repeat(10_000);
    expect(encodingError({ [key]: () => 1 }).path).toBe(`payload["${'k'.repeat(40)}"…]`);
    expect(encodingError(new Map([[key, Symbol()]])).path).toBe(`payload.get("${'k'.repeat(40)}"…)`);
  });

  it.each([
    ['arrays', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['objects', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)],
    ['Sets', (n: number) => '{"$omniq":"Set","v":['.repeat(n) + ']}'.repeat(n)],
    ['escaped objects', (n: number) => '{"$omniq":"Object","v":{"a":'.repeat(n) + '1' + '}}'.repeat(n)],
  ])('decodes stored %s up to the limit and rejects deeper ones, however deep', (_kind, text) => {
    expect(() => codec.decode({ format: 'omniq-json/1', data: text(MAX_NESTING_DEPTH) })).not.toThrow();
    for (const levels of [MAX_NESTING_DEPTH + 1, 100_000]) {
      expect(decodingError('omniq-json/1', text(levels), 'result').message).toMatch(
        new RegExp(`^cannot decode stored result: nested more than ${MAX_NESTING_DEPTH} levels deep`),
      );
    }
  });
});

describe('PARENT_RESULT placeholder', () => {
  it('round-trips to the very same placeholder, and a look-alike object stays plain data', () => {
    expect(codec.decode(codec.encode(PARENT_RESULT))).toBe(PARENT_RESULT);
    const lookAlike = { omniqParentResult: true };
    const decoded = codec.decode(codec.encode(lookAlike));
    expect(decoded).toEqual(lookAlike);
    expect(decoded).not.toBe(PARENT_RESULT);
  });
});
