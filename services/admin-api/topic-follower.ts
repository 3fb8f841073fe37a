import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { isRetriableError } from '../common/avro';
import type { Logger } from '../common/logger';

export interface TopicFollower {
  /** True once every partition was read up to its high watermark as it was at start. */
  isCaughtUp(): boolean;
  /** Resolves when caught up (at once if the topics were empty). */
  caughtUp(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reads `topics` from the start (or from `sinceMs`) and keeps following them, in a consumer
 * group of its own that never commits: every API replica needs every record, and a restart
 * rebuilds from the topics. kafkajs has no assign() without a group.
 *
 * Catching up is tracked with END_BATCH_PROCESS, which kafkajs also emits for batches holding
 * only transaction markers (eachBatch is not called for those); the batch's lastOffset counts
 * the markers, so the high watermark is reached even when a transaction ends a partition.
 */
export async function startTopicFollower(options: {
  kafka: Kafka;
  topics: string[];
  groupPrefix: string;
  logger: Logger;
  /** Start at the first record at or after this time instead of the beginning. */
  sinceMs?: number;
  onMessage: (topic: string, message: KafkaMessage) => Promise<void> | void;
}): Promise<TopicFollower> {
  const { kafka, topics, onMessage } = options;
  const logger = options.logger.child({ component: 'topic-follower' });
  const groupId = `${options.groupPrefix}.${randomUUID()}`;

  const admin = kafka.admin();
  await admin.connect();
  const waiting = new Map<string, bigint>();
  try {
    for (const topic of topics) {
      const offsets = await retrying(() => admin.fetchTopicOffsets(topic));
      const starts =
        options.sinceMs === undefined
          ? new Map(offsets.map((entry) => [entry.partition, BigInt(entry.low)]))
          : await startOffsetsAt(admin, topic, options.sinceMs);
      for (const entry of offsets) {
        const start = starts.get(entry.partition) ?? BigInt(entry.low);
        if (start < BigInt(entry.high))
          waiting.set(`${topic}:${entry.partition}`, BigInt(entry.high));
      }
      if (options.sinceMs !== undefined) {
        // The group is new and has no members yet, so its offsets can be set before it joins.
        await admin.setOffsets({
          groupId,
          topic,
          partitions: [...starts].map(([partition, offset]) => ({
            partition,
            offset: String(offset),
          })),
        });
      }
    }
  } finally {
    await admin.disconnect();
  }

  let markCaughtUp: () => void = () => undefined;
  const caughtUp = new Promise<void>((resolve) => {
    markCaughtUp = resolve;
  });
  if (waiting.size === 0) markCaughtUp();

  const consumer: Consumer = kafka.consumer({
    groupId,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 250,
  });
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    const key = `${payload.topic}:${payload.partition}`;
    const high = waiting.get(key);
    if (high === undefined || BigInt(payload.lastOffset) + 1n < high) return;
    waiting.delete(key);
    if (waiting.size === 0) markCaughtUp();
  });

  await consumer.connect();
  for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, heartbeat }) => {
      for (const message of batch.messages) {
        try {
          await onMessage(batch.topic, message);
        } catch (err) {
          // Registry unreachable: fail the batch, which kafkajs fetches again (applying a
          // record twice is harmless to a view); skipping it would leave the view without it.
          if (isRetriableError(err)) throw err;
          // One bad record must not stop the view; the record stays unapplied.
          logger.warn(
            { err, topic: batch.topic, partition: batch.partition, offset: message.offset },
            'record skipped',
          );
        }
      }
      await heartbeat();
    },
  });

  return {
    isCaughtUp: () => waiting.size === 0,
    caughtUp: () => caughtUp,
    async stop() {
      await consumer.disconnect();
      const cleanup = kafka.admin();
      await cleanup.connect();
      // The group only lived for this process; leaving it would clutter the broker's list.
      await cleanup.deleteGroups([groupId]).catch(() => undefined);
      await cleanup.disconnect();
    },
  };
}

async function startOffsetsAt(
  admin: ReturnType<Kafka['admin']>,
  topic: string,
  sinceMs: number,
): Promise<Map<number, bigint>> {
  const offsets = await retrying(() => admin.fetchTopicOffsetsByTimestamp(topic, sinceMs));
  const highs = await retrying(() => admin.fetchTopicOffsets(topic));
  // -1 means no record at or after the time: start at the end.
  return new Map(
    offsets.map((entry) => {
      const high = highs.find((h) => h.partition === entry.partition)?.high ?? '0';
      return [entry.partition, BigInt(entry.offset === '-1' ? high : entry.offset)];
    }),
  );
}

/**
 * Right after a topic is created the broker may answer "not the leader" for a moment; kafkajs'
 * admin offset calls hand that retriable error straight back instead of refreshing metadata.
 */
async function retrying<T>(call: () => Promise<T>, attempts = 10): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await call();
    } catch (err) {
      if ((err as { retriable?: unknown }).retriable !== true || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
    }
  }
}
