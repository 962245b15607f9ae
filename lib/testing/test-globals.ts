/**
 * The test framework's globals (jest, or vitest with `globals: true`), reached through
 * globalThis: lib/ compiles with the Node types only, and importing a framework here would tie
 * the suite to it. Each is looked up when called, so importing `@omniq/nestjs/testing` for its
 * fixtures outside a test run does not throw.
 */

export type TestBody = () => void | Promise<void>;

/** The matchers the suite uses; jest and vitest both have them with these meanings. */
export interface Matchers<R> {
  readonly not: Matchers<R>;
  toBe(expected: unknown): R;
  toEqual(expected: unknown): R;
  toMatchObject(expected: object): R;
  toHaveLength(length: number): R;
  toBeUndefined(): R;
  toBeDefined(): R;
  toBeInstanceOf(type: abstract new (...args: never[]) => unknown): R;
  toBeGreaterThan(value: number): R;
  toBeGreaterThanOrEqual(value: number): R;
  toBeLessThanOrEqual(value: number): R;
  toContain(item: unknown): R;
  toContainEqual(item: unknown): R;
  toMatch(expected: RegExp | string): R;
}

export interface Assertion extends Matchers<void> {
  readonly resolves: Matchers<Promise<void>>;
  readonly rejects: Matchers<Promise<void>>;
}

export interface Expect {
  (actual: unknown): Assertion;
  /** Asymmetric matchers, for use inside the expected value of toEqual / toMatchObject. */
  any(type: unknown): unknown;
  arrayContaining(items: readonly unknown[]): unknown;
  objectContaining(properties: object): unknown;
}

interface FrameworkGlobals {
  describe(name: string, body: () => void): void;
  it(name: string, body: TestBody, timeoutMs?: number): void;
  beforeEach(body: TestBody, timeoutMs?: number): void;
  afterEach(body: TestBody, timeoutMs?: number): void;
  expect: Expect;
}

export class TestFrameworkMissingError extends Error {
  override name = 'TestFrameworkMissingError';
  constructor(global: string) {
    super(
      `@omniq/nestjs/testing needs the test framework's global "${global}", which is not defined: ` +
        'run the suite under jest, or under vitest with `test: { globals: true }`',
    );
  }
}

function framework<K extends keyof FrameworkGlobals>(name: K): FrameworkGlobals[K] {
  const value = (globalThis as Record<string, unknown>)[name];
  if (typeof value !== 'function') throw new TestFrameworkMissingError(name);
  return value as FrameworkGlobals[K];
}

/** Every case gets this long unless it says otherwise (vitest's default of 5 s is short for file storage). */
export const CASE_TIMEOUT_MS = 20_000;

export function describe(name: string, body: () => void): void {
  framework('describe')(name, body);
}

export function it(name: string, body: TestBody, timeoutMs: number = CASE_TIMEOUT_MS): void {
  framework('it')(name, body, timeoutMs);
}

export function beforeEach(body: TestBody, timeoutMs: number = CASE_TIMEOUT_MS): void {
  framework('beforeEach')(body, timeoutMs);
}

export function afterEach(body: TestBody, timeoutMs: number = CASE_TIMEOUT_MS): void {
  framework('afterEach')(body, timeoutMs);
}

export const expect: Expect = Object.assign((actual: unknown) => framework('expect')(actual), {
  any: (type: unknown) => framework('expect').any(type),
  arrayContaining: (items: readonly unknown[]) => framework('expect').arrayContaining(items),
  objectContaining: (properties: object) => framework('expect').objectContaining(properties),
});
