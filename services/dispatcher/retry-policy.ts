/** How long to wait before the next attempt, and when to give up. */
export interface RetryPolicy {
  /** Delay before retry n (index n - 1); its length is the number of retries. */
  scheduleMs: readonly number[];
  /** ±ratio applied uniformly to each scheduled delay. */
  jitterRatio: number;
  /** Floor after a timeout or a 429: hammering an overloaded receiver makes it worse. */
  throttleMinDelayMs: number;
  /** Cap on what a Retry-After header can ask for. */
  retryAfterMaxMs: number;
}

export type FailureKind = 'timeout' | 'throttled' | 'other';

/**
 * The delay before the next attempt after `attemptsMade` failed attempts, or null when the
 * schedule is exhausted. A Retry-After only ever lengthens the wait, within its cap.
 */
export function nextRetryDelayMs(
  policy: RetryPolicy,
  attemptsMade: number,
  failure: { kind: FailureKind; retryAfterMs?: number | null },
  random: () => number = Math.random,
): number | null {
  const base = policy.scheduleMs[attemptsMade - 1];
  if (base === undefined) return null;

  let delayMs = base * (1 + policy.jitterRatio * (2 * random() - 1));
  if (failure.kind !== 'other') delayMs = Math.max(delayMs, policy.throttleMinDelayMs);
  if (failure.retryAfterMs != null && failure.retryAfterMs > 0) {
    delayMs = Math.max(delayMs, Math.min(failure.retryAfterMs, policy.retryAfterMaxMs));
  }
  return Math.round(delayMs);
}

/** Retry-After as delta-seconds or an HTTP date, in ms from `nowMs`; null when absent/bad. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;

  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}
