import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import type { Logger } from '../common/logger';
import { fetchTopicOffsets } from '../common/topic-offsets';
import { toDeviceSnapshot, type DeviceSnapshot } from './device-state';
import { DifferErrorCode, createDifferError } from './errors';

export type PartitionStore = Map<string, DeviceSnapshot>;

/**
 * Reads partitions of the compacted changelog from the start to their end offset, read
 * committed, and returns one store per partition (a tombstone removes a device).
 *
 * kafkajs has no manual partition assignment, so this joins a throw-away consumer group of its
 * own (no offsets are ever committed for it) and pauses every partition it was not asked for.
 * Call it only after the partitions' transactional producers were initialised: that fences any
 * zombie and completes its open transaction, so the end offset read here is stable and nothing
 * lands after it but this replica's own writes.
 */
export async function restoreSnapshots(options: {
  kafka: Kafka;
  admin: Admin;
  serde: AvroSerde;
  topic: string;
  partitions: number[];
  groupId: string;
  timeoutMs: number;
  logger: Logger;
}): Promise<Map<number, PartitionStore>> {
  const { kafka, admin, serde, topic, partitions, logger } = options;
  const stores = new Map<number, PartitionStore>(partitions.map((p) => [p, new Map()]));

  const offsets = await fetchTopicOffsets(admin, topic);
  const targets = new Map<number, bigint>();
  for (const { partition, high, low } of offsets) {
    if (stores.has(partition) && BigInt(high) > BigInt(low)) targets.set(partition, BigInt(high));
  }
  if (targets.size === 0) return stores;

  const consumer = kafka.consumer({
    groupId: `${options.groupId}.restore.${randomUUID()}`,
    readUncommitted: false,
    maxWaitTimeInMs: 250,
    maxBytesPerPartition: 4 * 1024 * 1024,
  });
  const remaining = new Set(targets.keys());
  let timer: NodeJS.Timeout | undefined;

  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });

    const done = new Promise<void>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(
          createDifferError(DifferErrorCode.restoreTimeout, 'changelog restore timed out', {
            retriable: true,
            context: { topic, partitions: [...remaining], timeoutMs: options.timeoutMs },
          }),
        );
      }, options.timeoutMs);

      // END_BATCH_PROCESS also fires for batches holding only a transaction marker (which
      // eachBatch never sees), so progress is measured here, not in eachBatch.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const target = targets.get(payload.partition);
        if (target === undefined || !remaining.has(payload.partition)) return;
        if (BigInt(payload.lastOffset) + 1n >= target) {
          remaining.delete(payload.partition);
          consumer.pause([{ topic, partitions: [payload.partition] }]);
          if (remaining.size === 0) resolve();
        }
      });
      consumer.on(consumer.events.CRASH, ({ payload }) => reject(payload.error));
    });

    await consumer.run({
      eachBatch: async ({ batch, pause }) => {
        const store = stores.get(batch.partition);
        if (!store || !targets.has(batch.partition)) {
          pause();
          return;
        }
        for (const message of batch.messages) {
          const deviceId = message.key?.toString('utf8');
          if (!deviceId) continue;
          if (message.value === null) {
            store.delete(deviceId);
            continue;
          }
          store.set(deviceId, toDeviceSnapshot(await serde.decode(message.value)));
        }
      },
    });

    await done;
    return stores;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch((err: unknown) => {
      logger.debug({ err, topic }, 'restore consumer disconnect failed');
    });
  }
}
