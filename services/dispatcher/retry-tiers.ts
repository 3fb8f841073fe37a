import type { TopicName, Topics } from '../common/topics';

/**
 * The delayed retry topics, shortest first; config's DISPATCHER_RETRY_TIER_DELAYS gives one delay
 * each (default 0, 5 s, 1 min, 10 min, 1 h, 6 h, as the names say).
 *
 * A delivery waiting `remaining` ms goes to the tier with the longest delay not above it. A tier
 * holds each record until it has sat there for the tier's delay; as records enter a tier in
 * time order they ripen in offset order, so the consumer only ever waits on the head of a
 * partition. A ripe record whose due time is still ahead moves to the tier that fits what is
 * left (a hop); tier 0 waits for the due time itself, which is under the next tier's delay.
 */
export const RETRY_TIER_TOPICS = [
  'deliveries.retry.v1',
  'deliveries.retry.5s.v1',
  'deliveries.retry.1m.v1',
  'deliveries.retry.10m.v1',
  'deliveries.retry.1h.v1',
  'deliveries.retry.6h.v1',
] as const satisfies readonly TopicName[];

export interface RetryTier {
  index: number;
  topic: string;
  delayMs: number;
}

export function resolveRetryTiers(topics: Topics, delaysMs: readonly number[]): RetryTier[] {
  return RETRY_TIER_TOPICS.map((name, index) => ({
    index,
    topic: topics[name],
    delayMs: delaysMs[index] ?? 0,
  }));
}

/** The tier for a wait of `remainingMs`. */
export function tierFor(tiers: readonly RetryTier[], remainingMs: number): RetryTier {
  let chosen = tiers[0]!;
  for (const tier of tiers) if (tier.delayMs <= remainingMs) chosen = tier;
  return chosen;
}

/** When the head record of `tier` may be looked at again. */
export function ripeAt(tier: RetryTier, record: { dueAt: number; enqueuedAt: number }): number {
  if (tier.index === 0) return record.dueAt;
  return Math.min(record.dueAt, record.enqueuedAt + tier.delayMs);
}
