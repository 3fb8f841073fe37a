import type { Kafka, KafkaMessage } from 'kafkajs';
import { decodeWaitingForRegistry, isRetriableError, type AvroSerde } from '../common/avro';
import { toWebhookBody } from '../common/events';
import type { Logger } from '../common/logger';
import type { BatchingProducer } from './batching-producer';
import { startCommitLoop } from './commit-loop';
import type { DispatcherConfig } from './config';
import { deliveryKey, type DeliveryRecord } from './delivery-record';
import type { DeliveryScheduler } from './delivery-scheduler';
import { OffsetTracker, waitForPending } from './offset-tracker';

const STOP_WAIT_MS = 15_000;
import { ripeAt, tierFor, type RetryTier } from './retry-tiers';

export interface RetryConsumer {
  stop(drain: () => Promise<void>): Promise<void>;
}

/**
 * Reads the retry tiers (one consumer group over all of them). A partition's head record that
 * is not ripe pauses that partition until it is, so nothing is attempted before its due time
 * and the record stays in Kafka (uncommitted) meanwhile. A ripe record is attempted if due, or
 * moved to the tier that fits its remaining wait.
 */
export async function startRetryConsumer(deps: {
  kafka: Kafka;
  serde: AvroSerde;
  tiers: readonly RetryTier[];
  groupId: string;
  config: DispatcherConfig;
  scheduler: DeliveryScheduler;
  producer: BatchingProducer;
  logger: Logger;
  onFatal: (err: unknown) => void;
  now?: () => number;
}): Promise<RetryConsumer> {
  const { kafka, serde, tiers, config, scheduler, producer, onFatal } = deps;
  const logger = deps.logger.child({ component: 'retry-consumer' });
  const now = deps.now ?? Date.now;
  const tierByTopic = new Map(tiers.map((tier) => [tier.topic, tier]));
  const tracker = new OffsetTracker();
  const waits = new Map<string, { offset: string; timer: NodeJS.Timeout }>();
  let stopping = false;

  const consumer = kafka.consumer({
    groupId: deps.groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
  });
  consumer.on(consumer.events.GROUP_JOIN, () => tracker.reset());

  async function handle(record: DeliveryRecord, tier: RetryTier): Promise<void> {
    const remainingMs = record.dueAt - now();
    if (remainingMs > 0) {
      // Ripe for this tier but not due: wait out the rest in the tier that fits it.
      const next = tierFor(tiers, remainingMs);
      const moved: DeliveryRecord = { ...record, enqueuedAt: now() };
      const value = await serde.encode(next.topic, 'delivery', moved);
      await producer.send(next.topic, {
        key: deliveryKey(record.destinationId, record.event.key),
        value,
      });
      logger.debug({ from: tier.topic, to: next.topic, remainingMs }, 'delivery moved tier');
      return;
    }
    await scheduler.submit({
      destinationId: record.destinationId,
      event: record.event,
      body: toWebhookBody(record.event),
      attempts: record.attempts,
      deferrals: record.deferrals,
      history: record.history,
    });
  }

  function waitUntilRipe(topic: string, partition: number, offset: string, delayMs: number) {
    const key = `${topic}:${partition}`;
    consumer.pause([{ topic, partitions: [partition] }]);
    const timer = setTimeout(() => {
      waits.delete(key);
      if (stopping) return;
      // Fetch again from the record we stopped at, whatever kafkajs fetched meanwhile.
      consumer.seek({ topic, partition, offset });
      consumer.resume([{ topic, partitions: [partition] }]);
    }, delayMs);
    waits.set(key, { offset, timer });
  }

  await consumer.connect();
  for (const tier of tiers) await consumer.subscribe({ topic: tier.topic, fromBeginning: true });
  const commits = startCommitLoop(consumer, tracker, {
    intervalMs: config.commitIntervalMs,
    logger,
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      const tier = tierByTopic.get(batch.topic);
      if (!tier || waits.has(`${batch.topic}:${batch.partition}`)) return;

      for (const message of batch.messages) {
        if (stopping || !isRunning() || isStale()) break;
        while (tracker.pending() >= config.maxPendingEvents && !stopping) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          await heartbeat();
        }
        if (stopping) break;

        let record: DeliveryRecord | undefined;
        try {
          record = await decode(message, heartbeat);
        } catch {
          break; // stopping while the registry is unreachable: the record is read next time
        }
        if (record) {
          const waitMs = ripeAt(tier, record) - now();
          if (waitMs > 0) {
            waitUntilRipe(batch.topic, batch.partition, message.offset, waitMs);
            break;
          }
        }

        const taken = tracker.take(batch.topic, batch.partition, message.offset);
        resolveOffset(message.offset);
        if (!record) {
          taken.done();
          continue;
        }
        handle(record, tier).then(
          () => taken.done(),
          (err: unknown) => {
            logger.error(
              { err, topic: batch.topic, partition: batch.partition, offset: message.offset },
              'retry not handed off',
            );
            onFatal(err);
          },
        );
      }
      await heartbeat();
    },
  });

  /** undefined: a record that can never be read (skipped); throws when stopped first. */
  async function decode(
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
  ): Promise<DeliveryRecord | undefined> {
    try {
      return await decodeWaitingForRegistry<DeliveryRecord>(
        serde,
        message.value ?? Buffer.alloc(0),
        {
          shouldStop: () => stopping,
          onWait: async (err, delayMs) => {
            logger.warn(
              { err, offset: message.offset, delayMs },
              'retry record not readable yet: schema registry unreachable, trying again',
            );
            await heartbeat(); // this partition's loop waits here; the group must not drop it
          },
        },
      );
    } catch (err) {
      if (isRetriableError(err)) throw err;
      logger.warn({ err, offset: message.offset }, 'retry record skipped');
      return undefined;
    }
  }

  return {
    async stop(drain) {
      stopping = true;
      for (const { timer } of waits.values()) clearTimeout(timer);
      // Pausing (not stopping) keeps the group membership the final commit needs.
      consumer.pause(tiers.map((tier) => ({ topic: tier.topic })));
      await drain();
      await waitForPending(tracker, STOP_WAIT_MS);
      commits.stop();
      await commits.commitNow();
      await consumer.disconnect();
    },
  };
}
