import { LOG_LEVELS, type LogLevel } from '@nestjs/common';
import { OmniQError } from '../errors/omniq.errors.js';
import { formatValue } from '../utils/format-value.js';
import { BACKEND_SCHEMES, BackendUrlError, backendScheme } from '../backends/backend.registry.js';
import type { Setting, SettingType } from './config.schema.js';
import { parseDuration } from './duration.js';
import { MAX_TIMER_MS } from '../utils/timer-delay.js';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PoolModuleRef } from './omniq-config.js';

/** Where a value came from. */
export type ConfigSource = { kind: 'yaml'; file: string } | { kind: 'options' } | { kind: 'env'; name: string };

/** One bad value: `where` names the key and its source. */
export interface ConfigIssue {
  where: string;
  value: unknown;
  problem: string;
}

/** Thrown at bootstrap when any configuration value is wrong; lists every problem found. */
export class OmniQConfigError extends OmniQError {
  override name = 'OmniQConfigError';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(
      `Invalid OmniQ configuration:\n${issues.map((i) => `  - ${i.where} = ${formatValue(i.value)}: ${i.problem}`).join('\n')}`,
    );
  }
}

/** `worker.concurrency in /app/omniq.yaml`, `OmniQModule option worker.concurrency`, `environment variable OMNIQ_MAX_WORKERS (worker.concurrency)`. */
export function describeSource(key: string | undefined, source: ConfigSource): string {
  switch (source.kind) {
    case 'yaml':
      return `${key} in ${source.file}`;
    case 'options':
      return `OmniQModule option ${key}`;
    case 'env':
      return `environment variable ${source.name}${key ? ` (${key})` : ''}`;
  }
}

/** Collects issues so that one failed bootstrap reports all of them. */
export class ConfigIssues {
  private readonly list: ConfigIssue[] = [];

  add(where: string, value: unknown, problem: string): void {
    this.list.push({ where, value, problem });
  }

  throwIfAny(): void {
    if (this.list.length) throw new OmniQConfigError(this.list);
  }
}

/** A rejected value; the loader records `problem` with the key and source. */
export class InvalidValue extends Error {
  constructor(readonly problem: string) {
    super(problem);
  }
}

/** A store setting once read: a URL, a backend type still to turn into its default URL, or a store instance. */
export type StoreSpec = { url: string } | { type: string } | { instance: object };

const LEVEL_ALIASES: ReadonlyMap<string, LogLevel> = new Map([
  ['info', 'log'],
  ['warning', 'warn'],
  ['critical', 'fatal'],
]);
const LEVELS_TEXT = `one of ${LOG_LEVELS.join(', ')} (or info, warning, critical)`;
const BOOLEAN_WORDS: ReadonlyMap<string, boolean> = new Map([
  ...['true', '1', 'yes', 'on'].map((word) => [word, true] as const),
  ...['false', '0', 'no', 'off'].map((word) => [word, false] as const),
]);
const PROJECT_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * The typed value of `raw` for `setting`, or InvalidValue. Environment variables are text: numbers,
 * booleans and JSON are parsed from them, and a bare number of a duration counts seconds.
 */
export function convertValue(setting: Setting, raw: unknown, source: ConfigSource): unknown {
  const fromEnv = source.kind === 'env';
  const type = setting.type;
  switch (type.kind) {
    case 'string':
      return nonEmptyString(raw);
    case 'projectName': {
      const name = nonEmptyString(raw);
      if (!PROJECT_NAME.test(name)) throw new InvalidValue('expected a letter followed by letters, digits, "_" or "-"');
      return name;
    }
    case 'boolean':
      return toBoolean(raw, fromEnv);
    case 'integer':
      return toInteger(raw, fromEnv, type.min);
    case 'duration':
      return toDuration(raw, fromEnv, type);
    case 'logLevel':
      return toLogLevel(raw);
    case 'componentLevels':
      return toComponentLevels(fromEnv ? parseJson(raw) : raw);
    case 'queues':
      return toQueues(fromEnv ? parseJson(raw) : raw);
    case 'object':
      return toPlainObject(fromEnv ? parseJson(raw) : raw, 'expected an object of backend options');
    case 'store':
      return toStoreSpec(setting, type, raw, source);
    case 'enum':
      return toEnum(type, raw);
    case 'moduleFile':
      return toModuleFile(raw, source);
  }
}

/**
 * `path[#export]` or a file URL: the module file must exist now, so that a typo fails the
 * bootstrap rather than every pool member later.
 */
function toModuleFile(raw: unknown, source: ConfigSource): PoolModuleRef {
  let text: string;
  if (raw instanceof URL && source.kind === 'options') text = raw.href;
  else if (typeof raw === 'string' && raw.trim().length > 0) text = raw.trim();
  else throw new InvalidValue(`expected a module file path or file: URL${source.kind === 'options' ? ' (a string or URL)' : ''}, with #ExportName to pick one export`);
  const hash = text.lastIndexOf('#');
  const exportName = hash >= 0 ? text.slice(hash + 1) : undefined;
  const location = hash >= 0 ? text.slice(0, hash) : text;
  if (exportName !== undefined && !/^[A-Za-z_$][\w$]*$/.test(exportName)) throw new InvalidValue(`"#${exportName}" is not an export name`);
  if (URL_SCHEME.test(location) && !location.startsWith('file:')) throw new InvalidValue('only file: URLs name a module file');
  let file: string;
  try {
    file = location.startsWith('file:') ? fileURLToPath(location) : resolvePath(location);
  } catch (error) {
    throw new InvalidValue(`not a file URL: ${(error as Error).message}`);
  }
  if (!existsSync(file)) throw new InvalidValue(`no such file: ${file}`);
  return exportName === undefined ? { file } : { file, exportName };
}

function nonEmptyString(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) throw new InvalidValue('expected a non-empty string');
  return raw;
}

function toBoolean(raw: unknown, fromEnv: boolean): boolean {
  if (typeof raw === 'boolean') return raw;
  const word = fromEnv && typeof raw === 'string' ? BOOLEAN_WORDS.get(raw.trim().toLowerCase()) : undefined;
  if (word === undefined) throw new InvalidValue(fromEnv ? 'expected true/false, 1/0, yes/no or on/off' : 'expected true or false');
  return word;
}

function toInteger(raw: unknown, fromEnv: boolean, min: number | undefined): number {
  const value = fromEnv && typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : raw;
  const expected = min === undefined ? 'an integer' : `an integer >= ${min}`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new InvalidValue(`expected ${expected}`);
  if (min !== undefined && value < min) throw new InvalidValue(`expected ${expected}`);
  return value;
}

function toDuration(raw: unknown, fromEnv: boolean, { min, max }: Extract<SettingType, { kind: 'duration' }>): number {
  const format = fromEnv
    ? 'expected a duration: seconds, or a number with a unit (500ms, 30s, 5m, 1h)'
    : 'expected a duration: milliseconds, or a string with a unit (500ms, 30s, 5m, 1h)';
  const ms = typeof raw === 'number' ? raw : typeof raw === 'string' ? parseDuration(raw, fromEnv ? 's' : undefined) : Number.NaN;
  if (Number.isNaN(ms)) throw new InvalidValue(format);
  if (ms < 0) throw new InvalidValue('a duration cannot be negative');
  if (ms > max) throw new InvalidValue(`expected at most ${describeMax(max)}`);
  if (!Number.isSafeInteger(ms)) throw new InvalidValue('expected a whole number of milliseconds');
  if (ms < min) throw new InvalidValue(`expected at least ${min} ms`);
  return ms;
}

function describeMax(max: number): string {
  return max === MAX_TIMER_MS
    ? `${MAX_TIMER_MS} ms (about 24.8 days), the longest delay a Node timer waits`
    : `${max} ms (${Math.round(max / 31_557_600_000)} years)`;
}

function toLogLevel(raw: unknown): LogLevel {
  const name = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
  const level = name === undefined ? undefined : (LEVEL_ALIASES.get(name) ?? LOG_LEVELS.find((l) => l === name));
  if (!level) throw new InvalidValue(`expected ${LEVELS_TEXT}`);
  return level;
}

function toComponentLevels(raw: unknown): Record<string, LogLevel> {
  const levels = toPlainObject(raw, 'expected an object of logger context or task name → level');
  return Object.fromEntries(
    Object.entries(levels).map(([component, level]) => {
      try {
        return [component, toLogLevel(level)];
      } catch {
        throw new InvalidValue(`level of "${component}" is ${formatValue(level)}; expected ${LEVELS_TEXT}`);
      }
    }),
  );
}

function toQueues(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.length === 0 || !raw.every((q) => typeof q === 'string' && q.length > 0)) {
    throw new InvalidValue('expected a non-empty list of queue names');
  }
  const duplicate = raw.find((q, i) => raw.indexOf(q) !== i);
  if (duplicate !== undefined) throw new InvalidValue(`queue "${duplicate}" is listed twice`);
  return [...(raw as string[])];
}

function toPlainObject(raw: unknown, expected: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidValue(expected);
  return { ...(raw as Record<string, unknown>) };
}

function toEnum(type: Extract<SettingType, { kind: 'enum' }>, raw: unknown): string {
  const value = typeof raw === 'string' ? type.values.find((v) => v === raw.trim().toLowerCase()) : undefined;
  if (value === undefined) {
    throw new InvalidValue(`expected ${type.values.map((v) => `"${v}"`).join(' or ')}`);
  }
  return value;
}

function parseJson(raw: unknown): unknown {
  try {
    return JSON.parse(String(raw));
  } catch (error) {
    throw new InvalidValue(`malformed JSON (${(error as Error).message})`);
  }
}

function toStoreSpec(setting: Setting, type: Extract<SettingType, { kind: 'store' }>, raw: unknown, source: ConfigSource): StoreSpec {
  const types = BACKEND_SCHEMES.join(', ');
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && type.instances && source.kind === 'options') {
    return { instance: raw };
  }
  if (typeof raw !== 'string' || raw.length === 0) {
    throw new InvalidValue(type.instances && source.kind === 'options' ? `expected a backend URL or type, or a store instance` : 'expected a backend URL or type');
  }
  if (URL_SCHEME.test(raw)) {
    if (source.kind === 'env' && source.name === setting.typeEnv) {
      throw new InvalidValue(`expected a backend type (${types}); a URL belongs in ${setting.env}`);
    }
    return { url: raw };
  }
  if (source.kind === 'env' && source.name === setting.env) {
    throw new InvalidValue(`expected a backend URL such as sqlite://path or file://path; a bare type belongs in ${setting.typeEnv}`);
  }
  if (raw.includes(':') || raw.includes('/')) throw new InvalidValue('expected a backend URL <backend>://… or a backend type');
  const name = raw.trim().toLowerCase();
  if (!BACKEND_SCHEMES.includes(name)) throw new InvalidValue(`unknown backend type; known types: ${types}`);
  return { type: name };
}

/** The scheme of a backend URL (`sqlite` of `sqlite://…`). */
export function urlScheme(url: string): string | undefined {
  return URL_SCHEME.exec(url)?.[1]?.toLowerCase();
}

/** The registry's verdict on a store URL: its error message, or undefined when a backend serves the URL. */
export function backendProblem(storeKey: string, url: string): string | undefined {
  try {
    backendScheme(storeKey, url);
    return undefined;
  } catch (error) {
    if (error instanceof BackendUrlError) return error.message;
    throw error;
  }
}
