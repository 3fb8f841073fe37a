/**
 * Spaces calls evenly at `perSecond` (a leaky bucket without burst): the OEMs count requests
 * per minute or per second, and an even spread never trips either window.
 */
export interface RateLimiter {
  /** Resolves when the caller may send; the number is how long it waited, ms. */
  acquire(): Promise<number>;
}

export function createRateLimiter(perSecond: number, now: () => number = Date.now): RateLimiter {
  const spacingMs = 1000 / perSecond;
  let nextFreeAt = 0;

  return {
    async acquire() {
      const current = now();
      const slot = Math.max(current, nextFreeAt);
      nextFreeAt = slot + spacingMs;
      const waitMs = slot - current;
      if (waitMs > 0) await sleep(waitMs);
      return waitMs;
    },
  };
}

/** At most `limit` holders at a time; the others queue in arrival order. */
export interface Semaphore {
  run<T>(task: () => Promise<T>): Promise<T>;
}

export function createSemaphore(limit: number): Semaphore {
  let active = 0;
  const waiting: Array<() => void> = [];

  return {
    async run(task) {
      if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
      active += 1;
      try {
        return await task();
      } finally {
        active -= 1;
        waiting.shift()?.();
      }
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
