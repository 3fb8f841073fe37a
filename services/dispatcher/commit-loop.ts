import type { Consumer } from 'kafkajs';
import type { Logger } from '../common/logger';
import type { OffsetTracker } from './offset-tracker';

/**
 * Commits what `tracker` says is finished, every `intervalMs` and on demand. A failed commit
 * (rebalance under way, coordinator moving) is only logged: the next one covers it, and at
 * worst the partition's next owner repeats some deliveries, which receivers dedupe.
 */
export function startCommitLoop(
  consumer: Consumer,
  tracker: OffsetTracker,
  options: { intervalMs: number; logger: Logger },
): { commitNow(): Promise<void>; stop(): void } {
  let committing: Promise<void> | undefined;

  async function commit(): Promise<void> {
    const offsets = tracker.committable();
    if (offsets.length === 0) return;
    try {
      await consumer.commitOffsets(offsets);
      tracker.markCommitted(offsets);
    } catch (err) {
      options.logger.warn({ err }, 'offset commit failed');
    }
  }

  function commitNow(): Promise<void> {
    committing ??= commit().finally(() => {
      committing = undefined;
    });
    return committing;
  }

  const timer = setInterval(() => void commitNow(), options.intervalMs);
  timer.unref();
  return {
    commitNow: async () => {
      await committing;
      await commitNow();
    },
    stop: () => clearInterval(timer),
  };
}
