/** The messages of one flush of an engine's notifier, as the other engines on the schema hear them. */
export interface NotifyBatch {
  readonly wake: readonly string[];
  readonly result: readonly string[];
  readonly control: readonly string[];
  /** Events were appended (a hint for event streams). */
  readonly events: boolean;
  /**
   * Set when a message was too long for any NOTIFY payload and left out: the epoch ms it was
   * sent at, from which receivers re-read what changed, as after an outage of their LISTEN session.
   */
  readonly lostAt?: number;
}

/** What is on the wire: `{"o":origin,"w":[queues],"r":[task ids],"c":[controls],"e":1,"l":ms}`, empty parts left out. */
interface Payload {
  o: string;
  w?: string[];
  r?: string[];
  c?: string[];
  e?: 1;
  l?: number;
}

/** PostgreSQL refuses NOTIFY payloads of 8000 bytes or more. */
const MAX_PAYLOAD_BYTES = 7999;
/** The packing's budget: room is left for the `e` and `l` parts, which it does not count. */
const LIMIT = MAX_PAYLOAD_BYTES - 32;

const PARTS = [
  ['w', 'wake'],
  ['r', 'result'],
  ['c', 'control'],
] as const;

const bytes = (text: string): number => Buffer.byteLength(text);

/**
 * Packs a batch into as few payloads as fit PostgreSQL's limit, each naming the origin engine so
 * that it skips its own. A single message that cannot fit even alone is left out, and the payload
 * says so (`l`), so that receivers re-read instead of missing it.
 */
export function encodeNotifyBatch(origin: string, batch: NotifyBatch, now: number): string[] {
  const base = bytes(JSON.stringify({ o: origin }));
  const payloads: Payload[] = [];
  let current: Payload = { o: origin };
  let size = base;
  let lostAt = batch.lostAt;
  for (const [key, part] of PARTS) {
    const opening = bytes(`,"${key}":[]`);
    for (const message of batch[part]) {
      const cost = bytes(JSON.stringify(message)) + 1;
      if (base + opening + cost > LIMIT) {
        lostAt = now;
        continue;
      }
      if (size + (current[key] === undefined ? opening : 0) + cost > LIMIT) {
        payloads.push(current);
        current = { o: origin };
        size = base;
      }
      size += (current[key] === undefined ? opening : 0) + cost;
      (current[key] ??= []).push(message);
    }
  }
  if (batch.events) current.e = 1;
  if (lostAt !== undefined) current.l = lostAt;
  if (size > base || current.e !== undefined || current.l !== undefined) payloads.push(current);
  return payloads.map((payload) => JSON.stringify(payload));
}

const strings = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string');

/** Reads a payload of another engine; undefined when it is not one of OmniQ's (someone else NOTIFYing on the channel). */
export function decodeNotifyPayload(text: string): { origin: string; batch: NotifyBatch } | undefined {
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const { o, w = [], r = [], c = [], e, l } = payload as Record<string, unknown>;
  if (typeof o !== 'string' || !strings(w) || !strings(r) || !strings(c)) return undefined;
  if (l !== undefined && typeof l !== 'number') return undefined;
  return { origin: o, batch: { wake: w, result: r, control: c, events: e === 1, lostAt: l } };
}
