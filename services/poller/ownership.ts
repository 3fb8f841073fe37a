import type { Consumer, Kafka } from 'kafkajs';
import type { AvroSerde } from '../common/avro';
import { isGridpulseError } from '../common/errors';
import type { Logger } from '../common/logger';
import type { Connection } from './connection';
import { decodeConnectionMessage, type ConnectionChange } from './connection-store';

export interface OwnershipHandlers {
  /** A partition is ours and fully read: these are its connections (tombstones applied). */
  adoptPartition(partition: number, connections: Connection[]): void;
  /** A revision arriving on a partition we own, after it was adopted. */
  applyChange(partition: number, change: ConnectionChange): void;
  /** The partition went to another replica: stop polling its connections. */
  releasePartition(partition: number): void;
}

export interface ConnectionOwnership {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once the consumer joined the group at least once. */
  hasJoined(): boolean;
  ownedPartitions(): number[];
}

/**
 * Which connections this replica polls, decided by a Kafka consumer group on connections.v1.
 *
 * How: the group never commits offsets. kafkajs builds a fresh offset manager on every
 * (re)join and, with no committed offset and fromBeginning, starts each assigned partition at
 * its earliest offset, so every assignment replays the compacted partition from the start and
 * rebuilds exactly that partition's connections. GROUP_JOIN (emitted after SyncGroup, before
 * the first fetch) carries the new assignment: partitions that are no longer in it are
 * released at once; the others are re-read into a staging map and adopted in one swap when
 * the replay reaches the high watermark (an empty partition is adopted at once). Until then
 * the partition's previous connections (if it stayed with us) keep polling, and a
 * half-replayed partition never polls with an old revision of a rotated refresh token.
 *
 * Limitation: kafkajs uses the eager rebalance protocol and has no revoke callback, so between
 * the broker starting a rebalance and GROUP_JOIN the old owner may still start a cycle while
 * the new owner is replaying; the window is one SyncGroup round trip plus the replay, and a
 * cycle started in it can at worst poll a connection twice in one interval.
 */
export function createConnectionOwnership(options: {
  kafka: Kafka;
  serde: AvroSerde;
  topic: string;
  groupId: string;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  handlers: OwnershipHandlers;
  logger: Logger;
}): ConnectionOwnership {
  const { kafka, serde, topic, handlers } = options;
  const logger = options.logger.child({ component: 'ownership', topic });
  const partitions = new Map<number, PartitionState>();
  let consumer: Consumer | undefined;
  let joined = false;

  function adopt(partition: number, state: PartitionState): void {
    if (partitions.get(partition) !== state || state.adopted) return;
    state.adopted = true;
    const connections = [...state.staging.values()].filter((c): c is Connection => c !== null);
    state.staging.clear();
    handlers.adoptPartition(partition, connections);
    logger.info({ partition, connections: connections.length }, 'partition adopted');
  }

  async function adoptEmptyPartitions(assigned: number[]): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      for (const { partition, high, low } of offsets) {
        const state = partitions.get(partition);
        if (state && assigned.includes(partition) && Number(high) <= Number(low)) {
          adopt(partition, state);
        }
      }
    } finally {
      await admin.disconnect();
    }
  }

  return {
    async start() {
      consumer = kafka.consumer({
        groupId: options.groupId,
        sessionTimeout: options.sessionTimeoutMs,
        heartbeatInterval: options.heartbeatIntervalMs,
        rebalanceTimeout: Math.max(options.sessionTimeoutMs, 10_000),
      });
      consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
        joined = true;
        const assigned = payload.memberAssignment[topic] ?? [];
        for (const partition of [...partitions.keys()]) {
          if (assigned.includes(partition)) continue;
          partitions.delete(partition);
          handlers.releasePartition(partition);
          logger.info({ partition }, 'partition released');
        }
        for (const partition of assigned) {
          partitions.set(partition, { adopted: false, staging: new Map() });
        }
        logger.info({ partitions: assigned }, 'partitions assigned');
        adoptEmptyPartitions(assigned).catch((err: unknown) => {
          logger.warn({ err }, 'could not read partition offsets');
        });
      });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch, heartbeat }) => {
          const state = partitions.get(batch.partition);
          if (!state) return;
          for (const message of batch.messages) {
            const change = await decodeOrSkip(message, batch.partition);
            if (!change) continue;
            if (state.adopted) handlers.applyChange(batch.partition, change);
            else state.staging.set(change.connectionId, change.connection);
          }
          if (Number(batch.lastOffset()) + 1 >= Number(batch.highWatermark)) {
            adopt(batch.partition, state);
          }
          await heartbeat();
        },
      });
    },
    async stop() {
      await consumer?.disconnect();
      consumer = undefined;
    },
    hasJoined: () => joined,
    ownedPartitions: () => [...partitions.keys()].sort((a, b) => a - b),
  };

  async function decodeOrSkip(
    message: Parameters<typeof decodeConnectionMessage>[1] & { offset: string },
    partition: number,
  ): Promise<ConnectionChange | null> {
    try {
      return await decodeConnectionMessage(serde, message);
    } catch (err) {
      // An unreachable registry is retried (kafkajs re-fetches the batch); a bad record must
      // not stop the partition: the connection stays as it was.
      if (isGridpulseError(err) && err.retriable) throw err;
      logger.warn({ err, partition, offset: message.offset }, 'connection record skipped');
      return null;
    }
  }
}

interface PartitionState {
  adopted: boolean;
  /** Latest revision per connection id during the replay; null = tombstone. */
  staging: Map<string, Connection | null>;
}
