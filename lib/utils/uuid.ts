import { randomFillSync } from 'node:crypto';

const PER_REFILL = 256;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const random = Buffer.allocUnsafe(16 * PER_REFILL);
const text = Buffer.allocUnsafe(36 * PER_REFILL);
let next = PER_REFILL;

/** Writes PER_REFILL version-4 UUIDs as ASCII text from fresh cryptographic randomness. */
function refill(): void {
  randomFillSync(random);
  for (let u = 0; u < PER_REFILL; u++) {
    random[u * 16 + 6] = (random[u * 16 + 6]! & 0x0f) | 0x40;
    random[u * 16 + 8] = (random[u * 16 + 8]! & 0x3f) | 0x80;
    let out = u * 36;
    for (let b = 0; b < 16; b++) {
      if (b === 4 || b === 6 || b === 8 || b === 10) text[out++] = 0x2d;
      const byte = random[u * 16 + b]!;
      text[out++] = HEX[byte >> 4]!;
      text[out++] = HEX[byte & 0x0f]!;
    }
  }
  next = 0;
}

/**
 * A random (version 4) UUID, like `crypto.randomUUID()`, but as one flat string. Node builds
 * randomUUID's text by concatenation, so each id it returns is a tree of about twenty string
 * pieces (some 600 bytes); ids the stores keep for every task and event made that a third of the
 * heap a busy worker retains.
 */
export function newUuid(): string {
  if (next === PER_REFILL) refill();
  const start = 36 * next++;
  return text.toString('latin1', start, start + 36);
}
