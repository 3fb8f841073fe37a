import type { Kafka, KafkaMessage } from 'kafkajs';
import { decodeWaitingForRegistry, isRetriableError, type AvroSerde } from '../common/avro';
import { toWebhookBody, type EventRecord } from '../common/events';
import type { Logger } from '../common/logger';
import { startCommitLoop } from './commit-loop';
import type { DispatcherConfig } from './config';
import { matchesDestination } from './destination';
import type { DestinationStore } from './destination-store';
import type { DeliveryScheduler } from './delivery-scheduler';
import type { DispatcherMetrics } from './metrics';
import { OffsetTracker, waitForPending } from './offset-tracker';

const STOP_WAIT_MS = 15_000;

export interface EventConsumer {
  /** Stops fetching, lets submitted deliveries finish or hand off, commits, disconnects. */
  stop(drain: () => Promise<void>): Promise<void>;
  isRunning(): boolean;
}

/**
 * Reads events.v1 as the dispatcher's consumer group and submits one delivery per matching
 * enabled destination. It never waits on an endpoint (the scheduler hands busy destinations
 * to the retry path), only on `maxPendingEvents` as a memory bound. An event's offset is
 * committed once all its deliveries are finished or durably handed off.
 */
export async function startEventConsumer(deps: {
  kafka: Kafka;
  serde: AvroSerde;
  topic: string;
  groupId: string;
  config: DispatcherConfig;
  store: DestinationStore;
  scheduler: DeliveryScheduler;
  metrics: DispatcherMetrics;
  logger: Logger;
  onFatal: (err: unknown) => void;
}): Promise<EventConsumer> {
  const { kafka, serde, topic, config, store, scheduler, metrics, onFatal } = deps;
  const logger = deps.logger.child({ component: 'event-consumer' });
  const tracker = new OffsetTracker();
  let stopping = false;
  let running = false;

  const consumer = kafka.consumer({
    groupId: deps.groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 100,
    sessionTimeout: config.sessionTimeoutMs,
    heartbeatInterval: Math.max(500, Math.floor(config.sessionTimeoutMs / 10)),
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    tracker.reset();
    running = true;
    logger.info({ topic, memberId: payload.memberId }, 'partitions assigned');
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    running = false;
    logger.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
  });

  /** Resolves false when stopped before the event could be read: its offset stays pending. */
  async function process(message: KafkaMessage): Promise<boolean> {
    let event: EventRecord;
    try {
      event = await decodeWaitingForRegistry<EventRecord>(serde, message.value ?? Buffer.alloc(0), {
        shouldStop: () => stopping,
        onWait: (err, delayMs) =>
          logger.warn(
            { err, topic, offset: message.offset, delayMs },
            'event not readable yet: schema registry unreachable, trying again',
          ),
      });
    } catch (err) {
      if (isRetriableError(err)) return false;
      metrics.events.inc({ outcome: 'undecodable' });
      logger.warn({ err, topic, offset: message.offset }, 'event skipped');
      return true;
    }
    const destinations = store
      .all()
      .filter((destination) => destination.enabled && matchesDestination(destination, event));
    metrics.events.inc({ outcome: destinations.length > 0 ? 'matched' : 'unmatched' });
    if (destinations.length === 0) return true;

    const body = toWebhookBody(event);
    await Promise.all(
      destinations.map((destination) =>
        scheduler.submit({
          destinationId: destination.id,
          event,
          body,
          attempts: 0,
          deferrals: 0,
          history: [],
        }),
      ),
    );
    return true;
  }

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: config.startFrom === 'earliest' });
  const commits = startCommitLoop(consumer, tracker, {
    intervalMs: config.commitIntervalMs,
    logger,
  });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
      for (const message of batch.messages) {
        if (stopping || !isRunning() || isStale()) break;
        while (tracker.pending() >= config.maxPendingEvents && !stopping) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          await heartbeat();
        }
        if (stopping) break;

        const taken = tracker.take(batch.topic, batch.partition, message.offset);
        resolveOffset(message.offset);
        process(message).then(
          (isHandedOff) => {
            if (isHandedOff) taken.done();
          },
          (err: unknown) => {
            // The offset stays uncommitted; the process must restart to retry it.
            logger.error(
              { err, topic, partition: batch.partition, offset: message.offset },
              'event not handed off',
            );
            onFatal(err);
          },
        );
      }
      await heartbeat();
    },
  });

  return {
    isRunning: () => running,
    async stop(drain) {
      stopping = true;
      // Pausing (not stopping) keeps the group membership the final commit needs.
      consumer.pause([{ topic }]);
      await drain();
      await waitForPending(tracker, STOP_WAIT_MS);
      commits.stop();
      await commits.commitNow();
      await consumer.disconnect();
    },
  };
}
