import { randomUUID } from 'node:crypto';
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { fetchTopicOffsets } from '../common/topic-offsets';

/**
 * Reads `topic` from the given start offsets (earliest by default) up to the high watermarks
 * as they were when called, then stops. Uses a throwaway consumer group that never commits:
 * kafkajs has no assign() without a group.
 */
export async function readTopicRange(
  kafka: Kafka,
  options: {
    topic: string;
    groupPrefix: string;
    startOffsets?: Map<number, string>;
    onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void;
    timeoutMs?: number;
  },
): Promise<{ messages: number }> {
  const { topic, onMessage } = options;
  const admin = kafka.admin();
  await admin.connect();
  let ranges: Map<number, { start: bigint; end: bigint }>;
  try {
    const offsets = await fetchTopicOffsets(admin, topic);
    ranges = new Map(
      offsets.map((entry) => {
        const start = options.startOffsets?.get(entry.partition) ?? entry.low;
        return [entry.partition, { start: BigInt(start), end: BigInt(entry.high) }];
      }),
    );
  } finally {
    await admin.disconnect();
  }

  const pending = new Set(
    [...ranges].filter(([, range]) => range.start < range.end).map(([partition]) => partition),
  );
  if (pending.size === 0) return { messages: 0 };

  const consumer = kafka.consumer({
    groupId: `${options.groupPrefix}.reader.${randomUUID()}`,
    allowAutoTopicCreation: false,
  });
  let messages = 0;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const timeoutMs = options.timeoutMs ?? 60_000;
    const finished = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
      consumer
        .run({
          autoCommit: false,
          eachBatchAutoResolve: true,
          eachBatch: async ({ batch }) => {
            const range = ranges.get(batch.partition);
            if (!range || !pending.has(batch.partition)) return;
            for (const message of batch.messages) {
              const offset = BigInt(message.offset);
              if (offset < range.start || offset >= range.end) continue;
              messages += 1;
              try {
                await onMessage(message, batch.partition);
              } catch (err) {
                // The caller's error (an undecodable record, say), at once: thrown from here,
                // kafkajs would crash the consumer quietly and leave us waiting for the timeout.
                clearTimeout(timer);
                reject(err);
                return;
              }
            }
            // Compaction and transaction markers leave gaps: the batch's last offset counts.
            if (BigInt(batch.lastOffset()) + 1n >= range.end) pending.delete(batch.partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
      for (const [partition, range] of ranges) {
        consumer.seek({ topic, partition, offset: range.start.toString() });
      }
    });
    await finished;
  } finally {
    await consumer.disconnect();
  }
  return { messages };
}
