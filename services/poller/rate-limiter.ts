import { abandonedError } from './errors';

/**
 * Spaces calls evenly at `perSecond` (a leaky bucket without burst): the OEMs count requests
 * per minute or per second, and an even spread never trips either window. Callers wait in
 * arrival order; one whose `signal` aborts leaves the line and the next one moves up.
 */
export interface RateLimiter {
  /**
   * Resolves when the caller may send; the number is how long it waited, ms. Rejects with
   * GP_POLLER_STOPPING once `signal` has aborted.
   */
  acquire(signal?: AbortSignal): Promise<number>;
}

export function createRateLimiter(perSecond: number, now: () => number = Date.now): RateLimiter {
  const spacingMs = 1000 / perSecond;
  let nextFreeAt = 0;
  const line: Array<() => void> = [];
  let timer: NodeJS.Timeout | undefined;

  function scheduleNext(): void {
    if (timer || line.length === 0) return;
    timer = setTimeout(grantNext, Math.max(0, nextFreeAt - now()));
  }

  function grantNext(): void {
    timer = undefined;
    const next = line.shift();
    if (next) {
      nextFreeAt = Math.max(now(), nextFreeAt) + spacingMs;
      next();
    }
    scheduleNext();
  }

  return {
    async acquire(signal) {
      if (signal?.aborted) throw abandonedError();
      const current = now();
      if (line.length === 0 && current >= nextFreeAt) {
        nextFreeAt = current + spacingMs;
        return 0;
      }
      const turn = waitTurn(line, signal);
      scheduleNext();
      await turn;
      return now() - current;
    },
  };
}

/** At most `limit` holders at a time; the others queue in arrival order. */
export interface Semaphore {
  /** Rejects with GP_POLLER_STOPPING, without running `task`, if `signal` aborts first. */
  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
}

export function createSemaphore(limit: number): Semaphore {
  let active = 0;
  const waiting: Array<() => void> = [];

  return {
    async run(task, signal) {
      if (signal?.aborted) throw abandonedError();
      if (active >= limit) await waitTurn(waiting, signal);
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

/** Resolves after `ms`; rejects with GP_POLLER_STOPPING as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abandonedError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abandonedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Joins `line` until its owner calls the turn; leaves it, rejecting, when `signal` aborts. */
function waitTurn(line: Array<() => void>, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      line.splice(line.indexOf(turn), 1);
      reject(abandonedError());
    };
    const turn = () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    line.push(turn);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
