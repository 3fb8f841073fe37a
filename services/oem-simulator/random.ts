/**
 * Stateless deterministic randomness: every draw is a hash of the seed and the draw's
 * coordinates (account, generation, tick, ...), so any value can be computed lazily, in any
 * order, without storing a generator per device. That is what lets a 100k-site fleet start in
 * milliseconds.
 */

/** A uniform float in [0, 1) determined by the integers given. */
export function uniform(...parts: number[]): number {
  return hashInts(parts) / 4294967296;
}

/** A uniform integer in [min, max] determined by the integers given. */
export function uniformInt(min: number, max: number, ...parts: number[]): number {
  return min + Math.floor(uniform(...parts) * (max - min + 1));
}

/** Picks one element of a non-empty list. */
export function pick<T>(items: readonly T[], ...parts: number[]): T {
  return items[Math.floor(uniform(...parts) * items.length)] as T;
}

/** A stable 32-bit hash of a string, for mixing string keys into draws. */
export function hashString(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i += 1) {
    hash = Math.imul(hash ^ value.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0;
}

/** A cuid-looking id (`c` + 24 base-36 chars) determined by the integers given. */
export function fakeCuid(...parts: number[]): string {
  let id = 'c';
  for (let round = 0; id.length < 25; round += 1) {
    id += hashInts([...parts, round])
      .toString(36)
      .padStart(7, '0')
      .slice(0, 7);
  }
  return id.slice(0, 25);
}

/** A hex string of `length` chars determined by the integers given. */
export function fakeHex(length: number, ...parts: number[]): string {
  let hex = '';
  for (let round = 0; hex.length < length; round += 1) {
    hex += hashInts([...parts, round])
      .toString(16)
      .padStart(8, '0');
  }
  return hex.slice(0, length);
}

function hashInts(parts: number[]): number {
  // murmur3-style mixing of each 32-bit half; the high half keeps ids above 2^32 distinct.
  let hash = 0x9e3779b9;
  for (const part of parts) {
    const low = part >>> 0;
    const high = Math.floor(part / 4294967296) >>> 0;
    hash = mix(hash, low);
    hash = mix(hash, high);
  }
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}

function mix(hash: number, value: number): number {
  let k = Math.imul(value, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  let h = hash ^ k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) >>> 0;
}
