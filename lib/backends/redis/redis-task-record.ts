import { InvalidTaskOptionError } from '../../errors/omniq.errors.js';
import { TASK_STATUSES, type NewTask, type TaskCallback, type TaskError, type TaskRecord, type TaskStatus } from '../../models/task.model.js';
import type { DamageField } from '../../testing/harness.js';
import { quoteDamaged } from '../shared/row-damage.js';

/*
 * A task is one HASH, P..'task:'..id. Its fields, all strings:
 *   id name queue priority createdAt runAt storeResult onParentFailure status attempts lapses
 *   updatedAt                                                                    (always there)
 *   ttlMs expiresAt resultTtlMs scheduleId key dedupeWindowMs startedAt completedAt cancelledBy
 *   cancelRequestedAt workerId leaseToken leaseExpiresAt                         (when set; the
 *                                                 last three hold '' once a lease is cleared)
 *   spec      a JSON object of the fields no script reads, each as the text described here:
 *             payloadFormat payload maxRetries retryDelayMs retryBackoff retryMaxDelayMs tags,
 *             and timeoutMs onSuccess onFailure description when set. One field instead of up to
 *             eleven: every field costs the enqueue's HSET and the reserve's read of the hash.
 *   payload description             a JSON string literal of the text (see below)
 *   tags dependsOn                  JSON lists of strings
 *   lastError onSuccess onFailure progress   JSON (absent when unset)
 *   seq       the enqueue order (P..'seq'), the score in P..'all' and in its status index
 *   unmet     how many parents the task still waits for (0 when it waits for none)
 *   rk        its member in its ready ZSET while it is filed there, else '' (see redis-task.lua.ts)
 *   kids      '1' once a dependent waited for it (its end then looks at P..'deps:'..id)
 * Times are epoch milliseconds, booleans '1' / '0'. No value but rk holds a NUL: the reserve hands
 * a leased task's hash (rk cleared) over as one string of its fields and values joined by NUL.
 *
 * Free text that Lua never reads (payload data, description) is kept as JSON string literals:
 * ioredis sends strings as UTF-8, which has no form for a lone surrogate, and JSON.stringify
 * escapes them (`\ud800`), so every JavaScript string comes back as it went in. Errors, tags and
 * progress are JSON for the same reason. Lua splices a stored `lastError` into the events and
 * results it builds without decoding it.
 */

const STATUSES = new Set<string>(TASK_STATUSES);

const str = (value: number | undefined): string | undefined => (value === undefined ? undefined : String(value));
const ms = (date: Date | undefined): string | undefined => (date === undefined ? undefined : String(date.getTime()));

/**
 * The hash fields of a new task as a flat `[field, value, …]` list: what `omniq_enqueue` (see
 * TASK_LUA) takes, and what a script's ARGV carries for a task (the schedule fire script passes
 * them as they are; the enqueue script passes `JSON.stringify(taskFields(task))` per task).
 * The ten pairs that are always there come first and in this order: Lua reads them by position
 * (omniq_task_of in TASK_LUA).
 */
export function taskFields(task: NewTask): string[] {
  assertNoNul(task);
  const spec: Record<string, string | undefined> = {
    payloadFormat: task.payload.format,
    payload: JSON.stringify(task.payload.data),
    maxRetries: String(task.maxRetries),
    retryDelayMs: String(task.retryDelayMs),
    retryBackoff: task.retryBackoff,
    retryMaxDelayMs: String(task.retryMaxDelayMs),
    tags: JSON.stringify(task.tags),
    timeoutMs: str(task.timeoutMs),
    onSuccess: task.onSuccess && JSON.stringify(callbackJson(task.onSuccess)),
    onFailure: task.onFailure && JSON.stringify(callbackJson(task.onFailure)),
    description: task.description === undefined ? undefined : JSON.stringify(task.description),
  };
  const fields: string[] = [
    'id', task.id,
    'name', task.name,
    'queue', task.queue,
    'priority', String(task.priority),
    'createdAt', String(task.createdAt.getTime()),
    'runAt', String(task.runAt.getTime()),
    'storeResult', task.storeResult ? '1' : '0',
    'dependsOn', JSON.stringify(task.dependsOn),
    'onParentFailure', task.onParentFailure,
    // (JSON.stringify leaves the unset ones out.)
    'spec', JSON.stringify(spec),
  ];
  const optional: Array<[string, string | undefined]> = [
    ['ttlMs', str(task.ttlMs)],
    ['expiresAt', ms(task.expiresAt)],
    ['resultTtlMs', str(task.resultTtlMs)],
    ['scheduleId', task.scheduleId],
    ['key', task.key],
    ['dedupeWindowMs', str(task.dedupeWindowMs)],
  ];
  for (const [field, value] of optional) if (value !== undefined) fields.push(field, value);
  return fields;
}

/** The text options stored as they are (the JSON ones escape a NUL): none may hold one (see the reserve's packing above). */
function assertNoNul(task: NewTask): void {
  const texts: Array<[option: string, value: string | undefined]> = [
    ['id', task.id],
    ['name', task.name],
    ['queue', task.queue],
    ['payload.format', task.payload.format],
    ['key', task.key],
    ['scheduleId', task.scheduleId],
  ];
  for (const [option, value] of texts) {
    if (value?.includes('\u0000')) throw new InvalidTaskOptionError(task.name, option, value, 'text without NUL characters (Redis keeps a task hash NUL-separated)');
  }
}

const callbackJson = (callback: TaskCallback): TaskCallback =>
  callback.args === undefined ? { task: callback.task } : { task: callback.task, args: { format: callback.args.format, data: callback.args.data } };

/** The JSON a task's `lastError` field holds. */
export const errorJson = (error: TaskError): string =>
  JSON.stringify(error.stack === undefined ? { name: error.name, message: error.message } : { name: error.name, message: error.message, stack: error.stack });

/** A task's spec field with `overrides` on a plain one (for TASK_DAMAGE). */
const damagedSpec = (overrides: Record<string, string>): string =>
  JSON.stringify({ payloadFormat: 'omniq-json/1', payload: '"null"', maxRetries: '0', retryDelayMs: '0', retryBackoff: 'fixed', retryMaxDelayMs: '0', tags: '[]', ...overrides });

/**
 * What the conformance target's damage hook writes into a task hash to break one field (HSET
 * field value): a status that is no status, an encoding no codec reads, unreadable values.
 */
export const TASK_DAMAGE: Readonly<Record<DamageField, { field: string; value: string }>> = {
  status: { field: 'status', value: 'exploded' },
  runAt: { field: 'runAt', value: 'not a time' },
  tags: { field: 'spec', value: damagedSpec({ tags: '["unterminated' }) },
  dependsOn: { field: 'dependsOn', value: '{not json' },
  lastError: { field: 'lastError', value: '{"name":' },
  payload: { field: 'spec', value: damagedSpec({ payloadFormat: 'no-such-codec/0' }) },
};

/** Notes what a hash holds that cannot be read, field by field (see TaskRecord.damaged). */
class HashDamage {
  notes: string[] | undefined;

  note(field: string, what: string): void {
    (this.notes ??= []).push(`field ${field} ${what}`);
  }
}

type Fields = Record<string, string | undefined>;

/** A flat HGETALL reply as an object. */
function fieldsOf(flat: readonly string[]): Fields {
  const fields: Fields = {};
  for (let i = 0; i < flat.length; i += 2) fields[flat[i]!] = flat[i + 1];
  return fields;
}

const INTEGER = /^-?\d{1,16}$/;

/** A cleared lease field holds '' (the scripts overwrite it rather than delete it: one command less). */
const present = (text: string | undefined): string | undefined => (text === '' ? undefined : text);

function integer(fields: Fields, name: string, damage: HashDamage, fallback = 0): number {
  const text = fields[name];
  if (text !== undefined && INTEGER.test(text)) return Number(text);
  damage.note(name, text === undefined ? 'is missing' : `holds no integer (${quoteDamaged(text)})`);
  return fallback;
}

function optionalInteger(fields: Fields, name: string, damage: HashDamage): number | undefined {
  const text = fields[name];
  if (text === undefined || text === '') return undefined;
  if (INTEGER.test(text)) return Number(text);
  damage.note(name, `holds no integer (${quoteDamaged(text)})`);
  return undefined;
}

function time(fields: Fields, name: string, damage: HashDamage): Date {
  return new Date(integer(fields, name, damage));
}

function optionalTime(fields: Fields, name: string, damage: HashDamage): Date | undefined {
  const value = optionalInteger(fields, name, damage);
  return value === undefined ? undefined : new Date(value);
}

function json(fields: Fields, name: string, damage: HashDamage): unknown {
  const text = fields[name];
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    damage.note(name, `holds invalid JSON (${quoteDamaged(text)})`);
    return undefined;
  }
}

function text(fields: Fields, name: string, damage: HashDamage): string | undefined {
  const value = json(fields, name, damage);
  if (value === undefined || typeof value === 'string') return value;
  damage.note(name, 'holds no JSON string');
  return undefined;
}

function stringList(fields: Fields, name: string, damage: HashDamage): string[] {
  const text = fields[name];
  if (text === '[]') return [];
  const value = json(fields, name, damage);
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  if (value !== undefined || text === undefined) damage.note(name, text === undefined ? 'is missing' : 'holds no list of strings');
  return [];
}

function taskError(fields: Fields, name: string, damage: HashDamage): TaskError | undefined {
  const value = json(fields, name, damage) as Partial<TaskError> | undefined;
  if (value === undefined) return undefined;
  if (typeof value === 'object' && value !== null && typeof value.name === 'string' && typeof value.message === 'string') {
    return value.stack === undefined ? { name: value.name, message: value.message } : { name: value.name, message: value.message, stack: String(value.stack) };
  }
  damage.note(name, 'holds no error');
  return undefined;
}

function callback(fields: Fields, name: string, damage: HashDamage): TaskCallback | undefined {
  const value = json(fields, name, damage) as Partial<TaskCallback> | undefined;
  if (value === undefined) return undefined;
  if (typeof value === 'object' && value !== null && typeof value.task === 'string') {
    const args = value.args;
    return args === undefined ? { task: value.task } : { task: value.task, args: { format: String(args.format), data: String(args.data) } };
  }
  damage.note(name, 'holds no callback');
  return undefined;
}

function status(fields: Fields, damage: HashDamage): TaskStatus {
  const value = fields['status'] ?? '';
  if (!STATUSES.has(value)) damage.note('status', `holds no task status (${quoteDamaged(value)})`);
  return value as TaskStatus;
}

function choice<T extends string>(fields: Fields, name: string, allowed: readonly T[], damage: HashDamage): T {
  const value = fields[name];
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  damage.note(name, `holds none of ${allowed.join(', ')} (${quoteDamaged(value)})`);
  return allowed[0]!;
}

/**
 * The record of a hash the reserve packed into one string of its `parts` fields and values joined
 * by NUL; undefined when it splits into more (a value another program gave a NUL).
 */
export function taskFromPackedHash(packed: string, parts: number): TaskRecord | undefined {
  const flat = packed.split('\u0000');
  return flat.length === parts ? taskFromHash(flat) : undefined;
}

/** The fields of a task hash's spec (see the layout above) beside the others. */
function withSpec(f: Fields, damage: HashDamage): Fields {
  const text = f['spec'];
  if (text === undefined) return f;
  let spec: unknown;
  try {
    spec = JSON.parse(text);
  } catch {
    damage.note('spec', `holds invalid JSON (${quoteDamaged(text)})`);
    return f;
  }
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    damage.note('spec', 'holds no JSON object');
    return f;
  }
  for (const [name, value] of Object.entries(spec)) if (typeof value === 'string' && f[name] === undefined) f[name] = value;
  return f;
}

/** The record a task hash holds (a flat HGETALL reply); what cannot be read is noted in `damaged`. */
export function taskFromHash(flat: readonly string[]): TaskRecord {
  const damage = new HashDamage();
  const f = withSpec(fieldsOf(flat), damage);
  const payload = text(f, 'payload', damage);
  if (payload === undefined && f['payload'] === undefined) damage.note('payload', 'is missing');
  const record: TaskRecord = {
    id: f['id'] ?? '',
    name: f['name'] ?? '',
    queue: f['queue'] ?? '',
    priority: integer(f, 'priority', damage),
    payload: { format: f['payloadFormat'] ?? '', data: payload ?? '' },
    createdAt: time(f, 'createdAt', damage),
    runAt: time(f, 'runAt', damage),
    maxRetries: integer(f, 'maxRetries', damage),
    retryDelayMs: integer(f, 'retryDelayMs', damage),
    retryBackoff: choice(f, 'retryBackoff', ['exponential', 'fixed'] as const, damage),
    retryMaxDelayMs: integer(f, 'retryMaxDelayMs', damage),
    timeoutMs: optionalInteger(f, 'timeoutMs', damage),
    ttlMs: optionalInteger(f, 'ttlMs', damage),
    expiresAt: optionalTime(f, 'expiresAt', damage),
    resultTtlMs: optionalInteger(f, 'resultTtlMs', damage),
    storeResult: f['storeResult'] !== '0',
    dependsOn: stringList(f, 'dependsOn', damage),
    onParentFailure: choice(f, 'onParentFailure', ['cancel', 'run'] as const, damage),
    onSuccess: callback(f, 'onSuccess', damage),
    onFailure: callback(f, 'onFailure', damage),
    tags: stringList(f, 'tags', damage),
    description: text(f, 'description', damage),
    scheduleId: f['scheduleId'],
    key: f['key'],
    dedupeWindowMs: optionalInteger(f, 'dedupeWindowMs', damage),
    status: status(f, damage),
    attempts: integer(f, 'attempts', damage),
    lapses: integer(f, 'lapses', damage),
    startedAt: optionalTime(f, 'startedAt', damage),
    completedAt: optionalTime(f, 'completedAt', damage),
    updatedAt: time(f, 'updatedAt', damage),
    lastError: taskError(f, 'lastError', damage),
    cancelledBy: f['cancelledBy'],
    cancelRequestedAt: optionalTime(f, 'cancelRequestedAt', damage),
    progress: json(f, 'progress', damage),
    workerId: present(f['workerId']),
    leaseToken: present(f['leaseToken']),
    leaseExpiresAt: optionalTime(f, 'leaseExpiresAt', damage),
    damaged: undefined,
  };
  if (damage.notes !== undefined) record.damaged = damage.notes.join('; ');
  return record;
}

/** Records from a script's list of flat HGETALL replies (an empty reply: no such task). */
export function tasksFromHashes(hashes: readonly (readonly string[])[]): TaskRecord[] {
  const records: TaskRecord[] = [];
  for (const flat of hashes) if (flat.length > 0) records.push(taskFromHash(flat));
  return records;
}
